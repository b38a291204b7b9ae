"""The demo organisation (``flask --app library_app seed-demo``): what it is made of
(``data``), the builders that write it (``seed``) and its command (``commands``)."""

from __future__ import annotations

from .data import DEMO_PASSWORD
from .seed import DemoSummary, RealDataPresent, existing_data, seed_demo

__all__ = ["DEMO_PASSWORD", "DemoSummary", "RealDataPresent", "existing_data", "seed_demo"]
