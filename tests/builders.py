"""Small builders for test data, straight into the database (no shared fixture files).

    def test_x(make, client):
        p = make.point("P01")
        mother = make.user("mama", "story_mother", points=["P01"])
        make.login(client, mother)
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.domain.codes import make_code
from library_app.domain.reports import local_day
from library_app.domain.text import pinyin_keys
from library_app.models import Borrower, Card, Copy, Loan, Point, Title, User
from library_app.services.settings import get_settings
from library_app.services.users import hash_password, issue_token

PASSWORD = "correct-horse-9"
# argon2 at its cheapest, for tests that check many passwords (the app's own cost is ~50 ms each)
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_HASH: str | None = None
_seq = itertools.count(1)


def password_hash() -> str:
    global _HASH
    if _HASH is None:
        _HASH = hash_password(PASSWORD)
    return _HASH


def sign_in_client(app: Any, client: Any, user_id: int) -> None:
    """A server-side session for this user (as the login page makes), in the client's cookie."""
    from library_app.auth import session_rule
    from library_app.services import sessions

    with app.app_context(), session_factory()() as db:
        now = app.config.get("FIXED_NOW") or datetime.now(UTC)
        raw = sessions.start(db, user_id, now, session_rule(app.config))
        db.commit()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user_id)
        sess["_fresh"] = True
        sess["_sid"] = raw


class Builders:
    def __init__(self, app: Any) -> None:
        self.app = app

    def _save(self, obj: Any) -> Any:
        with self.app.app_context():
            with session_factory()() as db:
                db.add(obj)
                db.commit()
                db.refresh(obj)
                db.expunge(obj)
        return obj

    def _point_id(self, db: Any, code: str) -> int:
        point_id = db.scalar(select(Point.id).where(Point.code == code))
        if point_id is None:
            db.add(Point(code=code, name=f"测试阅读点{code}", address="", active=True))
            db.flush()
            point_id = db.scalar(select(Point.id).where(Point.code == code))
        return int(point_id)

    def point(self, code: str = "P01", name: str | None = None, active: bool = True) -> Point:
        return self._save(Point(code=code, name=name or f"测试阅读点{code}", address="", active=active))

    def user(self, username: str | None = None, role: str = "librarian",
             points: list[str] | None = None, active: bool = True) -> User:
        username = username or f"{role}{next(_seq)}"
        with self.app.app_context(), session_factory()() as db:
            user = User(username=username, display_name=username, password_hash=password_hash(),
                        role=role, active=active)
            user.points = [db.get(Point, self._point_id(db, c)) for c in (points or [])]
            db.add(user)
            db.commit()
            db.refresh(user)
            _ = user.points
            db.expunge_all()
        return user

    def login(self, client: Any, user: User) -> None:
        """Sign a test client in as ``user`` without the cost of a password check."""
        sign_in_client(self.app, client, user.id)

    def token(self, user: User) -> dict[str, str]:
        """Authorization header with a fresh bearer token for ``user``."""
        with self.app.app_context(), session_factory()() as db:
            raw, _ = issue_token(db, db.get(User, user.id), datetime.now(UTC), 24)
            db.commit()
        return {"Authorization": f"Bearer {raw}"}

    def title(self, title: str = "猜猜我有多爱你", **fields: Any) -> Title:
        full, initials = pinyin_keys(title)
        fields.setdefault("author", "山姆·麦克布雷尼")
        return self._save(Title(title=title, search_pinyin=full, search_initials=initials, **fields))

    def _next_number(self, db: Any, model: Any) -> int:
        count = db.scalar(select(func.count(model.id))) or 0
        return int(count) + 1 + next(_seq) * 1000

    def copy(self, title: Title | None = None, point: str = "P01", status: str = "available",
             code: str | None = None) -> Copy:
        title = title or self.title()
        with self.app.app_context(), session_factory()() as db:
            pid = self._point_id(db, point)
            copy = Copy(code=code or make_code("copy", self._next_number(db, Copy)),
                        title_id=title.id, home_point_id=pid, current_point_id=pid, status=status)
            db.add(copy)
            db.commit()
            db.refresh(copy)
            db.expunge(copy)
        return copy

    def borrower(self, name: str = "王小明", point: str = "P01", card: bool = True,
                 status: str = "active", **fields: Any) -> Borrower:
        full, initials = pinyin_keys(name)
        fields.setdefault("guardian_name", "王大明")
        fields.setdefault("guardian_phone", "13812345678")
        fields.setdefault("birth_year", 2018)
        with self.app.app_context(), session_factory()() as db:
            pid = self._point_id(db, point)
            b = Borrower(name=name, search_pinyin=full, search_initials=initials, home_point_id=pid,
                         status=status, consent_at=datetime.now(UTC), **fields)
            db.add(b)
            db.flush()
            if card:
                db.add(Card(code=make_code("card", self._next_number(db, Card)), borrower_id=b.id,
                            status="active", bound_at=datetime.now(UTC)))
            db.commit()
            db.refresh(b)
            _ = [c.code for c in b.cards]
            db.expunge_all()
        return b

    def card_code(self, borrower: Borrower) -> str:
        card = next(c for c in borrower.cards if c.status == "active")
        return card.code

    def unbound_card(self) -> Card:
        with self.app.app_context(), session_factory()() as db:
            card = Card(code=make_code("card", self._next_number(db, Card)), status="unbound")
            db.add(card)
            db.commit()
            db.refresh(card)
            db.expunge(card)
        return card

    def loan(self, copy: Copy, borrower: Borrower, point: str = "P01",
             lent_at: datetime | None = None, days: int = 14, returned_at: datetime | None = None,
             **fields: Any) -> Loan:
        lent_at = lent_at or datetime.now(UTC)
        with self.app.app_context(), session_factory()() as db:
            pid = self._point_id(db, point)
            loan = Loan(copy_id=copy.id, title_id=copy.title_id, borrower_id=borrower.id,
                        point_id=pid, lent_at=lent_at, lent_day=lent_day(db, self.app.config, lent_at),
                        due_at=lent_at + timedelta(days=days),
                        returned_at=returned_at, **fields)
            db.add(loan)
            c = db.get(Copy, copy.id)
            if returned_at is None:
                c.status = "on_loan"
            db.commit()
            db.refresh(loan)
            db.expunge(loan)
        return loan


def lent_day(db: Any, config: Any, lent_at: datetime) -> Any:
    """A loan's local day, as the app writes it: in the organisation's time zone."""
    return local_day(lent_at, ZoneInfo(get_settings(db, config).timezone))
