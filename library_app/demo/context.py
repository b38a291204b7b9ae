"""What the demo's builders share (``Demo``) and the demo organisation's calendar."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from library_app.domain.settings import LibrarySettings

from .data import DEMO_PASSWORD


@dataclass
class DemoSummary:
    points: int = 0
    titles: int = 0
    copies: int = 0
    borrowers: int = 0
    loans: int = 0
    open_loans: int = 0
    overdue: int = 0
    tallies: int = 0
    users_created: list[str] = field(default_factory=list)
    users_skipped: list[str] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    first_day: date | None = None


@dataclass
class Demo:
    """What the builders share: the session, the random generator, the organisation's zone and
    settings, the period shown, and the summary they fill in."""

    session: Session
    rng: random.Random
    tz: ZoneInfo
    settings: LibrarySettings
    now: datetime
    first_day: date
    summary: DemoSummary

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    @property
    def setup_at(self) -> datetime:
        """When the points, accounts and shelves were set up: ten days before the first day."""
        return local(self.first_day - timedelta(days=10), 10 * 60, self.tz)


def local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC) + timedelta(minutes=minutes)


def season(day: date) -> float:
    """Attendance by month: Spring Festival (Feb) low, summer holiday (Jul-Aug) high."""
    return {1: 0.85, 2: 0.45, 3: 0.95, 4: 1.0, 5: 1.0, 6: 0.9, 7: 1.3, 8: 1.25, 9: 0.95,
            10: 0.8, 11: 1.0, 12: 0.9}[day.month]
