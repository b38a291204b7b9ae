"""Demo data for trying the app (``flask --app library_app seed-demo``).

Four reading points in Zhuhai, about 300 children's titles (well-known picture books and
series volumes), about 900 copies, about 250 children with cards, four story mothers and a
librarian, and the current year's loans up to now: story sessions on each point's own
weekdays, children returning at a later session (some late, some not yet), a few renewals and
undone mis-scans, more in the summer holiday and fewer at Spring Festival; and last year's
monthly paper tallies, so the year page has a "same date last year" to compare with.

Rows are written with the models directly (this does not go through the catalog, borrower or
circulation services) and is deterministic for a given ``seed`` and ``now``: the builders below
draw from one random generator in a fixed order, so keep that order when changing them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from library_app.domain.codes import make_code, sequence_number
from library_app.domain.reports import local_day
from library_app.domain.settings import LibrarySettings
from library_app.domain.text import pinyin_keys
from library_app.models import (
    Borrower,
    Card,
    Copy,
    Loan,
    LoanRenewal,
    MonthlyTally,
    Point,
    Title,
    User,
)
from library_app.services.errors import Conflict

from .data import (
    CN_NUMBERS,
    DEMO_PASSWORD,
    GIVEN_ADULT,
    GIVEN_CHILD,
    KNOWN_TITLES,
    LIBRARIAN,
    POINTS,
    SCHOOLS,
    SERIES,
    SURNAMES,
)

PUBLISHERS = ["接力出版社", "明天出版社", "南海出版公司", "少年儿童出版社", "二十一世纪出版社",
              "人民文学出版社", "新星出版社"]
CHILDREN = 250


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


class RealDataPresent(Conflict):
    code = "real_data_present"


@dataclass
class _Demo:
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
        return _local(self.first_day - timedelta(days=10), 10 * 60, self.tz)


def existing_data(session: Session) -> dict[str, int]:
    """Counts of the things that make a database 'real' (users and points alone do not)."""
    return {
        "书目": session.scalar(select(func.count(Title.id))) or 0,
        "图书": session.scalar(select(func.count(Copy.id))) or 0,
        "小读者": session.scalar(select(func.count(Borrower.id))) or 0,
        "借阅记录": session.scalar(select(func.count(Loan.id))) or 0,
    }


def _next_number(session: Session, column: Any) -> int:
    codes = session.scalars(select(column).order_by(func.length(column).desc(), column.desc()).limit(1)).all()
    if not codes:
        return 1
    try:
        return sequence_number(codes[0]) + 1
    except ValueError:  # pragma: no cover - foreign code shapes
        return (session.scalar(select(func.count()).select_from(column.table)) or 0) + 1


def _title_list() -> list[tuple[str, str, str, str, int]]:
    titles = list(KNOWN_TITLES)
    for series, author, category, band, volumes, subtitles in SERIES:
        for i in range(volumes):
            if subtitles:
                name = f"{series}：{subtitles[i]}"
            elif series == "米小圈上学记":
                name = f"{series}·{CN_NUMBERS[i // 4]}年级：第{i % 4 + 1}册"
            else:
                name = f"{series}（第{i + 1}册）"
            weight = 2 if i < 3 else 1
            titles.append((name, author, category, band, weight))
    return titles


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC) + timedelta(minutes=minutes)


def _season(day: date) -> float:
    """Attendance by month: Spring Festival (Feb) low, summer holiday (Jul-Aug) high."""
    return {1: 0.85, 2: 0.45, 3: 0.95, 4: 1.0, 5: 1.0, 6: 0.9, 7: 1.3, 8: 1.25, 9: 0.95,
            10: 0.8, 11: 1.0, 12: 0.9}[day.month]


def _first_day(today: date) -> date:
    """The demo's loans start on 1 January; early in a year, eleven months back instead."""
    first_day = date(today.year, 1, 1)
    if (today - first_day).days < 60:
        first_day = date(today.year - 1 if today.month <= 11 else today.year, (today.month % 12) + 1, 1)
    return first_day


def seed_demo(
    session: Session, now: datetime, settings: LibrarySettings, *, force: bool = False,
    seed: int = 2019, password_hash: str | None = None,
) -> DemoSummary:
    """Fill the database with demo data. Refuses (RealDataPresent) when titles, copies,
    borrowers or loans exist, unless ``force``; then the demo data is added alongside."""
    found = existing_data(session)
    if any(found.values()) and not force:
        listed = "、".join(f"{k} {v}" for k, v in found.items() if v)
        raise RealDataPresent(
            f"数据库里已经有数据（{listed}），为免混入演示数据，没有写入任何内容。"
            "如确实要在现有数据旁加入演示数据，请加 --force。")
    tz = ZoneInfo(settings.timezone)
    demo = _Demo(session, random.Random(seed), tz, settings, now, _first_day(now.astimezone(tz).date()),
                 DemoSummary())
    demo.summary.first_day = demo.first_day
    points = _add_points(demo)
    if password_hash is None:
        from library_app.services.users import hash_password

        password_hash = hash_password(DEMO_PASSWORD)
    mothers, librarian = _add_staff(demo, points, password_hash)
    shelf, title_of = _add_catalogue(demo, points)
    children = _add_children(demo, points, mothers)
    _Circulation(demo, shelf, title_of, children).run(points, mothers, librarian)
    _add_last_years_tallies(demo, points, librarian)
    session.flush()
    return demo.summary


def _add_points(demo: _Demo) -> list[Point]:
    """The demo's reading points (an existing point with the same code is used as it is)."""
    points: list[Point] = []
    for code, name, address, _days, _size, _mother in POINTS:
        point = demo.session.scalar(select(Point).where(Point.code == code))
        if point is None:
            point = Point(code=code, name=name, address=address, active=True)
            demo.session.add(point)
            demo.summary.points += 1
        points.append(point)
    demo.session.flush()
    return points


def _add_staff(demo: _Demo, points: list[Point], password_hash: str) -> tuple[list[User | None], User]:
    """A story mother per point and a librarian; existing accounts are left as they are (a
    mother's name taken by another role leaves her point's loans to the librarian)."""
    session, summary, setup_at = demo.session, demo.summary, demo.setup_at
    mothers: list[User | None] = []
    for (code, *_rest, (username, display)), point in zip(POINTS, points, strict=True):
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=display, password_hash=password_hash,
                        role="story_mother", active=True, created_at=setup_at)
            user.points = [point]
            session.add(user)
            summary.users_created.append(f"{username}（故事妈妈 {display}，{code}）")
            mothers.append(user)
        else:
            summary.users_skipped.append(username)
            mothers.append(user if user.role == "story_mother" else None)
    librarian = session.scalar(select(User).where(User.username == LIBRARIAN[0]))
    if librarian is None:
        librarian = User(username=LIBRARIAN[0], display_name=LIBRARIAN[1], password_hash=password_hash,
                         role="librarian", active=True, created_at=setup_at)
        session.add(librarian)
        summary.users_created.append(f"{LIBRARIAN[0]}（图书管理员 {LIBRARIAN[1]}）")
    else:
        summary.users_skipped.append(LIBRARIAN[0])
    session.flush()
    return mothers, librarian


def _add_catalogue(demo: _Demo, points: list[Point]) -> tuple[dict[int, list[int]], dict[int, int]]:
    """Titles, then copies spread over the points (popular titles get more). → (available copy
    ids per point, title id of each copy)."""
    session, rng, setup_at = demo.session, demo.rng, demo.setup_at
    titles: list[Title] = []
    weights: list[int] = []
    for name, author, category, band, weight in _title_list():
        full, initials = pinyin_keys(name)
        titles.append(Title(title=name, author=author, category=category, age_band=band,
                            search_pinyin=full, search_initials=initials, publisher=rng.choice(PUBLISHERS),
                            notes="演示数据", created_at=setup_at, updated_at=setup_at))
        weights.append(weight)
    session.add_all(titles)
    session.flush()
    demo.summary.titles = len(titles)

    copy_no = _next_number(session, Copy.code)
    copy_rows: list[dict[str, Any]] = []
    for title, weight in zip(titles, weights, strict=True):
        count = weight + 1 + (1 if rng.random() < 0.6 else 0)
        for _ in range(count):
            home = points[len(copy_rows) % len(points)] if weight > 1 else rng.choice(points)
            copy_rows.append({"code": make_code("copy", copy_no), "title_id": title.id,
                              "home_point_id": home.id, "current_point_id": home.id,
                              "status": "available",
                              "source": "donation" if rng.random() < 0.6 else "purchase",
                              "notes": "", "created_at": setup_at})
            copy_no += 1
    session.execute(insert(Copy), copy_rows)
    copies = session.execute(select(Copy.id, Copy.title_id, Copy.home_point_id).where(
        Copy.code.in_([r["code"] for r in copy_rows]))).all()
    demo.summary.copies = len(copies)
    shelf: dict[int, list[int]] = {p.id: [] for p in points}
    title_of: dict[int, int] = {}
    for copy in copies:
        shelf[copy.home_point_id].append(copy.id)
        title_of[copy.id] = copy.title_id
    return shelf, title_of


def _plan_children(demo: _Demo, points: list[Point], mothers: list[User | None]) -> list[dict[str, Any]]:
    """Each child's home point, join date, how often they come, whether they stop coming."""
    rng, first_day, today = demo.rng, demo.first_day, demo.today
    children: list[dict[str, Any]] = []
    total_size = sum(p[4] for p in POINTS)
    for i, (point_spec, point) in enumerate(zip(POINTS, points, strict=True)):
        n = round(CHILDREN * point_spec[4] / total_size) if i < len(points) - 1 else CHILDREN - len(children)
        for _ in range(n):
            surname = rng.choice(SURNAMES)
            name = surname + rng.choice(GIVEN_CHILD)
            early = rng.random() < 0.55
            span = max((today - first_day).days - 7, 1)
            joined = first_day + timedelta(days=rng.randrange(0, 21) if early else rng.randrange(0, span))
            children.append({
                "point": point, "mother": mothers[i], "joined": joined, "name": name,
                "surname": surname, "activity": rng.uniform(0.35, 0.95),
                "stops": (first_day + timedelta(days=rng.randrange(60, span + 60)))
                if rng.random() < 0.12 else None,
                "adult": rng.random() < 0.03,
            })
    return children


def _add_children(demo: _Demo, points: list[Point], mothers: list[User | None]) -> list[dict[str, Any]]:
    """The children (a few adults) registered by their point's story mother, each with a card.
    → the children's plans, each with its borrower ``id`` and ``card_id``."""
    session, rng, today = demo.session, demo.rng, demo.today
    children = _plan_children(demo, points, mothers)
    borrowers: list[Borrower] = []
    for child in children:
        full, initials = pinyin_keys(child["name"])
        joined_at = _local(child["joined"], 15 * 60 + rng.randrange(0, 120), demo.tz)
        by = child["mother"].id if child["mother"] is not None else None
        borrowers.append(Borrower(
            type="adult" if child["adult"] else "child", name=child["name"], search_pinyin=full,
            search_initials=initials,
            birth_year=None if child["adult"] else rng.randint(today.year - 12, today.year - 4),
            school=rng.choice(SCHOOLS) if demo.settings.show_school_fields else "",
            guardian_name=child["surname"] + rng.choice(GIVEN_ADULT),
            guardian_phone="1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
            home_point_id=child["point"].id, consent_at=joined_at, consent_by_id=by,
            status="active", created_at=joined_at, created_by_id=by,
        ))
    session.add_all(borrowers)
    session.flush()
    card_no = _next_number(session, Card.code)
    card_rows = []
    for child, b in zip(children, borrowers, strict=True):
        child["id"] = b.id
        child["card_code"] = make_code("card", card_no)
        card_rows.append({"code": child["card_code"], "borrower_id": b.id, "status": "active",
                          "batch": "demo", "created_at": b.created_at, "bound_at": b.created_at})
        card_no += 1
    session.execute(insert(Card), card_rows)
    card_ids = dict(session.execute(select(Card.code, Card.id).where(
        Card.code.in_([r["code"] for r in card_rows]))).all())
    for child in children:
        child["card_id"] = card_ids[child["card_code"]]
    demo.summary.borrowers = len(borrowers)
    return children


class _Circulation:
    """Each point's story sessions from the first day up to now: children bring back what they
    borrowed (now and then a book is forgotten, and sometimes renewed), then borrow one to three."""

    def __init__(self, demo: _Demo, shelf: dict[int, list[int]], title_of: dict[int, int],
                 children: list[dict[str, Any]]) -> None:
        self.demo, self.rng = demo, demo.rng
        self.shelf, self.title_of, self.children = shelf, title_of, children
        self.loans: list[dict[str, Any]] = []
        self.renewed: list[tuple[dict[str, Any], datetime, datetime, int | None]] = []  # loan, when, due before, by
        self.open_by_child: dict[int, list[dict[str, Any]]] = {c["id"]: [] for c in children}

    def run(self, points: list[Point], mothers: list[User | None], librarian: User) -> None:
        by_point: dict[int, list[dict[str, Any]]] = {p.id: [] for p in points}
        for child in self.children:
            by_point[child["point"].id].append(child)
        day = self.demo.first_day
        while day <= self.demo.today:
            for spec, point, mother in zip(POINTS, points, mothers, strict=True):
                self._story_session(day, spec, point, mother, librarian, by_point[point.id])
            day += timedelta(days=1)
        self._write()

    def _story_session(self, day: date, spec: tuple[Any, ...], point: Point, mother: User | None,
                       librarian: User, children: list[dict[str, Any]]) -> None:
        rng, tz, now = self.rng, self.demo.tz, self.demo.now
        weekdays, size = spec[3], spec[4]
        if day.weekday() not in weekdays:
            return
        begin = (14 * 60 + 30) if day.weekday() >= 5 else (16 * 60 + 30)
        if _local(day, begin, tz) > now:
            return
        if rng.random() < 0.04:  # a session cancelled (rain, holiday)
            return
        attendance = _season(day) * (0.55 + 0.25 * size) / (1.35 if len(weekdays) > 1 else 1.0)
        for child in children:
            if child["joined"] > day or (child["stops"] is not None and day >= child["stops"]):
                continue
            if rng.random() > child["activity"] * attendance:
                continue
            at = _local(day, begin + rng.randrange(0, 150), tz)
            if at > now:
                continue
            handler = mother if (mother is not None and rng.random() < 0.9) else librarian
            keep = self._bring_back(child, at, point, handler)
            self._borrow(child, at, point, handler, wanted=min(rng.choice((1, 1, 2, 2, 2, 3)), 3 - len(keep)))

    def _bring_back(self, child: dict[str, Any], at: datetime, point: Point, handler: User | None,
                    ) -> list[dict[str, Any]]:
        """Return what the child brings back; → the loans still kept (some renewed)."""
        keep = []
        for loan in self.open_by_child[child["id"]]:
            if self.rng.random() < 0.88:
                loan["returned_at"] = at
                loan["return_point_id"] = point.id
                loan["returned_by_id"] = handler.id if handler is not None else None
                loan["return_kind"] = "normal"
                self.shelf[point.id].append(loan["copy_id"])
            else:
                keep.append(loan)
                if loan["renewals"] == 0 and self.rng.random() < 0.3 and loan["due_at"] > at:
                    self.renewed.append((loan, at, loan["due_at"], handler.id if handler else None))
                    loan["renewals"] = 1
                    loan["due_at"] = loan["due_at"] + timedelta(days=14)
        self.open_by_child[child["id"]] = keep
        return keep

    def _borrow(self, child: dict[str, Any], at: datetime, point: Point, handler: User | None,
                wanted: int) -> None:
        """Borrow up to ``wanted`` books from the point's shelf (now and then a mis-scan, undone)."""
        rng, shelf = self.rng, self.shelf[point.id]
        for k in range(max(wanted, 0)):
            if not shelf:
                break
            copy_id = shelf.pop(rng.randrange(len(shelf)))
            lent_at = at + timedelta(seconds=20 * k + rng.randrange(0, 15))
            loan = {
                "copy_id": copy_id, "title_id": self.title_of[copy_id], "borrower_id": child["id"],
                "card_id": child["card_id"], "point_id": point.id,
                "lent_by_id": handler.id if handler is not None else None,
                "lent_at": lent_at, "lent_day": local_day(lent_at, self.demo.tz),
                "due_at": lent_at + timedelta(days=self.demo.settings.loan_days),
                "renewals": 0, "returned_at": None, "return_point_id": None,
                "returned_by_id": None, "return_kind": "", "undone_at": None,
                "source": "scan", "outcome": "",
            }
            if rng.random() < 0.006:  # a mis-scan, undone on the spot
                undo_at = lent_at + timedelta(minutes=1)
                loan.update(undone_at=undo_at, returned_at=undo_at, return_kind="undo",
                            return_point_id=point.id, returned_by_id=loan["lent_by_id"])
                shelf.append(copy_id)
            else:
                self.open_by_child[child["id"]].append(loan)
            self.loans.append(loan)

    def _write(self) -> None:
        """The loans, their renewals (with the due date each replaced: the reports' "overdue at
        the end") and the copies still out."""
        session, summary, now = self.demo.session, self.demo.summary, self.demo.now
        if self.loans:
            session.execute(insert(Loan), self.loans)
        if self.renewed:
            ids = {(r.copy_id, r.lent_at): r.id for r in session.execute(
                select(Loan.id, Loan.copy_id, Loan.lent_at).where(Loan.renewals > 0))}
            session.execute(insert(LoanRenewal), [
                {"loan_id": ids[(loan["copy_id"], loan["lent_at"])], "renewed_at": when,
                 "due_before": before, "due_after": loan["due_at"], "renewed_by_id": by}
                for loan, when, before, by in self.renewed])
        open_copy_ids = [loan["copy_id"] for loan in self.loans if loan["returned_at"] is None]
        for chunk in range(0, len(open_copy_ids), 500):
            session.execute(update(Copy).where(Copy.id.in_(open_copy_ids[chunk:chunk + 500]))
                            .values(status="on_loan"))
        summary.loans = sum(1 for loan in self.loans if loan["undone_at"] is None)
        summary.open_loans = len(open_copy_ids)
        summary.overdue = sum(1 for loan in self.loans if loan["returned_at"] is None and loan["due_at"] < now)


def _add_last_years_tallies(demo: _Demo, points: list[Point], librarian: User) -> None:
    """Last year's monthly paper tallies (the organisation counted on paper before), for the
    year page's "same date last year"; months already entered are left alone."""
    last_year = demo.first_day.year - 1
    existing = set(demo.session.execute(select(MonthlyTally.point_id, MonthlyTally.month)).all())
    tally_rows = []
    for spec, point in zip(POINTS, points, strict=True):
        for month in range(1, 13):
            key = f"{last_year:04d}-{month:02d}"
            if (point.id, key) in existing:
                continue
            base = 268 * spec[4] * _season(date(last_year, month, 1))
            tally_rows.append({"point_id": point.id, "month": key,
                               "loans": int(base * demo.rng.uniform(0.9, 1.1)),
                               "entered_by_id": librarian.id, "entered_at": demo.setup_at})
    if tally_rows:
        demo.session.execute(insert(MonthlyTally), tally_rows)
    demo.summary.tallies = len(tally_rows)
