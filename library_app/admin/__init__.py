"""Administration: user accounts (views.py), settings and logo (settings.py), ISBN lookup sources
(lookup_sources.py), audit log (audit.py)."""

from . import audit, lookup_sources, settings, views  # noqa: F401  - registers their routes on views.bp
