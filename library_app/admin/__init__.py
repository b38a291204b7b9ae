"""Administration: user accounts (views.py), settings and logo (settings.py), audit log (audit.py)."""

from . import audit, settings, views  # noqa: F401  - registers their routes on views.bp
