"""The demo organisation (``flask --app library_app seed-demo``): what it is made of
(``data``), the builders that write it (``seed``; the loans in ``loans``, what they share in
``context``) and its command (``commands``)."""

from __future__ import annotations

from .context import DemoSummary
from .data import DEMO_PASSWORD
from .seed import RealDataPresent, existing_data, seed_demo

__all__ = ["DEMO_PASSWORD", "DemoSummary", "RealDataPresent", "existing_data", "seed_demo"]
