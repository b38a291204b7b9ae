"""Self-service corner pages: the child's screen (/kiosk) and the staff pages for kiosks."""
