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
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from library_app.domain.codes import make_code, sequence_number
from library_app.domain.settings import LibrarySettings
from library_app.domain.statuses import BorrowerStatus, CardStatus, CopyStatus
from library_app.domain.text import pinyin_keys
from library_app.models import (
    Borrower,
    Card,
    Copy,
    Loan,
    MonthlyTally,
    Point,
    Title,
    User,
)
from library_app.services.errors import Conflict

from .activities import seed_activities
from .context import Demo, DemoSummary, local, season
from .data import (
    CN_NUMBERS,
    DEMO_PASSWORD,
    GIVEN_ADULT,
    GIVEN_CHILD,
    KNOWN_TITLES,
    LIBRARIAN,
    POINT_LEAD,
    POINTS,
    SCHOOLS,
    SERIES,
    SURNAMES,
)
from .loans import StorySessions

PUBLISHERS = ["接力出版社", "明天出版社", "南海出版公司", "少年儿童出版社", "二十一世纪出版社",
              "人民文学出版社", "新星出版社"]
CHILDREN = 250


class RealDataPresent(Conflict):
    code = "real_data_present"


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
    demo = Demo(session, random.Random(seed), tz, settings, now, _first_day(now.astimezone(tz).date()),
                 DemoSummary())
    demo.summary.first_day = demo.first_day
    points = _add_points(demo)
    if password_hash is None:
        from library_app.services.users import hash_password

        password_hash = hash_password(DEMO_PASSWORD)
    mothers, librarian = _add_staff(demo, points, password_hash)
    shelf, title_of = _add_catalogue(demo, points)
    children = _add_children(demo, points, mothers)
    StorySessions(demo, shelf, title_of, children).run(points, mothers, librarian)
    _add_last_years_tallies(demo, points, librarian)
    session.flush()
    seed_activities(session, now, settings, seed=seed)  # a year of reading activities and volunteers
    return demo.summary


def _add_points(demo: Demo) -> list[Point]:
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


def _add_staff(demo: Demo, points: list[Point], password_hash: str) -> tuple[list[User | None], User]:
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
    username, display, code = POINT_LEAD
    led = next((p for p in points if p.code == code), None)
    if led is not None and session.scalar(select(User.id).where(User.username == username)) is None:
        lead = User(username=username, display_name=display, password_hash=password_hash,
                    role="point_lead", active=True, created_at=setup_at)
        lead.points = [led]
        session.add(lead)
        summary.users_created.append(f"{username}（阅读点负责人 {display}，{code}）")
    session.flush()
    return mothers, librarian


def _add_catalogue(demo: Demo, points: list[Point]) -> tuple[dict[int, list[int]], dict[int, int]]:
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
                              "status": CopyStatus.AVAILABLE,
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


def _plan_children(demo: Demo, points: list[Point], mothers: list[User | None]) -> list[dict[str, Any]]:
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


def _add_children(demo: Demo, points: list[Point], mothers: list[User | None]) -> list[dict[str, Any]]:
    """The children (a few adults) registered by their point's story mother, each with a card.
    → the children's plans, each with its borrower ``id`` and ``card_id``."""
    session, rng, today = demo.session, demo.rng, demo.today
    children = _plan_children(demo, points, mothers)
    borrowers: list[Borrower] = []
    for child in children:
        full, initials = pinyin_keys(child["name"])
        joined_at = local(child["joined"], 15 * 60 + rng.randrange(0, 120), demo.tz)
        by = child["mother"].id if child["mother"] is not None else None
        borrowers.append(Borrower(
            type="adult" if child["adult"] else "child", name=child["name"], search_pinyin=full,
            search_initials=initials,
            birth_year=None if child["adult"] else rng.randint(today.year - 12, today.year - 4),
            school=rng.choice(SCHOOLS) if demo.settings.show_school_fields else "",
            guardian_name=child["surname"] + rng.choice(GIVEN_ADULT),
            guardian_phone="1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
            home_point_id=child["point"].id, consent_at=joined_at, consent_by_id=by,
            status=BorrowerStatus.ACTIVE, created_at=joined_at, created_by_id=by,
        ))
    session.add_all(borrowers)
    session.flush()
    card_no = _next_number(session, Card.code)
    card_rows = []
    for child, b in zip(children, borrowers, strict=True):
        child["id"] = b.id
        child["card_code"] = make_code("card", card_no)
        card_rows.append({"code": child["card_code"], "borrower_id": b.id, "status": CardStatus.ACTIVE,
                          "batch": "demo", "created_at": b.created_at, "bound_at": b.created_at})
        card_no += 1
    session.execute(insert(Card), card_rows)
    card_ids = dict(session.execute(select(Card.code, Card.id).where(
        Card.code.in_([r["code"] for r in card_rows]))).all())
    for child in children:
        child["card_id"] = card_ids[child["card_code"]]
    demo.summary.borrowers = len(borrowers)
    return children


def _add_last_years_tallies(demo: Demo, points: list[Point], librarian: User) -> None:
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
            base = 268 * spec[4] * season(date(last_year, month, 1))
            tally_rows.append({"point_id": point.id, "month": key,
                               "loans": int(base * demo.rng.uniform(0.9, 1.1)),
                               "entered_by_id": librarian.id, "entered_at": demo.setup_at})
    if tally_rows:
        demo.session.execute(insert(MonthlyTally), tally_rows)
    demo.summary.tallies = len(tally_rows)
