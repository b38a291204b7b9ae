"""Demo data for reading activities and volunteers: a year of story sessions at each point,
from the demo loans (one session per point and day with loans), with their volunteers.

Called by ``services.demo.seed_demo`` once the loans exist (one line there)."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from library_app.domain.activities import default_volunteer_minutes, parse_kinds
from library_app.domain.settings import LibrarySettings
from library_app.domain.statuses import CardStatus
from library_app.models import (
    Activity,
    ActivityCard,
    ActivityTitle,
    ActivityVolunteer,
    Card,
    Loan,
    Point,
    Title,
    User,
    Volunteer,
)

NAMES = ["陈", "林", "黄", "张", "李", "王", "吴", "刘", "蔡", "杨", "郑", "谢"]
GIVEN = ["丽华", "秀英", "海燕", "建国", "志强", "晓梅", "嘉欣", "俊杰", "雨桐", "思琪", "伟", "芳"]
KIND_PLAN = [("worker", 2), ("student", 1), ("child", 1), ("other", 1)]


def seed_activities(session: Session, now: datetime, settings: LibrarySettings, *,
                    seed: int = 2019) -> int:
    """Volunteers at each point and one activity per point and day on which children borrowed
    there (attendance a little above the borrowers; some by card), the point's story mother and
    one or two volunteers serving; now and then a 读书会 or 亲子阅读. Returns the activities made."""
    rng = random.Random(seed + 16)
    tz = ZoneInfo(settings.timezone)
    kinds = list(parse_kinds(settings.activity_kinds))
    prep = settings.volunteer_prep_minutes
    points = list(session.scalars(select(Point).order_by(Point.code)))
    if not points or session.scalar(select(Activity.id).limit(1)) is not None:
        return 0
    mother_volunteer = _story_mothers_as_volunteers(session, tz)
    volunteers = _volunteers(session, points, now.astimezone(tz).date() - timedelta(days=400), tz, rng)
    cards = dict(session.execute(select(Card.borrower_id, Card.code).where(Card.status == CardStatus.ACTIVE)).all())
    titles = list(session.scalars(select(Title.title).limit(200)))
    activities, card_rows, title_rows, volunteer_rows = [], [], [], []
    next_id = 1 + (session.scalar(select(Activity.id).order_by(Activity.id.desc()).limit(1)) or 0)
    for point_id, first, kids in _borrowing_sessions(session):
        started = first - timedelta(minutes=rng.choice((5, 10, 15)))
        if started > now:
            continue
        minutes = rng.choice((45, 60, 60, 60, 90))
        kind = kinds[0] if rng.random() < 0.85 or len(kinds) == 1 else rng.choice(kinds[1:])
        scanned = [cards[k] for k in kids if k in cards and rng.random() < 0.5]
        children = len(kids) + rng.randrange(0, 5)
        activities.append({
            "id": next_id, "client_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "content_hash": "demo", "point_id": point_id, "kind": kind, "started_at": started,
            "minutes": minutes, "children": children, "attendance": max(children, len(scanned)),
            "adults": rng.randrange(0, 4), "note": "", "recorded_by_id": None,
            "created_at": started + timedelta(minutes=minutes), "updated_at": started + timedelta(minutes=minutes)})
        card_rows += [{"activity_id": next_id, "card_code": c, "borrower_id": k}
                      for k, c in ((k, cards[k]) for k in kids if k in cards) if c in scanned]
        if titles:
            title_rows += [{"activity_id": next_id, "copy_id": None, "text": t}
                           for t in rng.sample(titles, min(len(titles), rng.randrange(1, 4)))]
        serving = [mother_volunteer[point_id]] if point_id in mother_volunteer else []
        pool = volunteers.get(point_id, [])
        serving += rng.sample(pool, min(len(pool), rng.randrange(1, 3)))
        volunteer_rows += [{"activity_id": next_id, "volunteer_id": v,
                            "minutes": default_volunteer_minutes(minutes, prep)} for v in dict.fromkeys(serving)]
        next_id += 1
    for table, rows in ((Activity, activities), (ActivityCard, card_rows),
                        (ActivityTitle, title_rows), (ActivityVolunteer, volunteer_rows)):
        for chunk in range(0, len(rows), 1000):
            session.execute(insert(table), rows[chunk:chunk + 1000])
    session.flush()
    return len(activities)


def _story_mothers_as_volunteers(session: Session, tz: ZoneInfo) -> dict[int, int]:
    """Each story mother in the register (with her account); point id → her volunteer id."""
    mother_volunteer: dict[int, int] = {}
    for user in session.scalars(select(User).where(User.role == "story_mother")):
        if not user.points:
            continue
        v = Volunteer(name=user.display_name or user.username, kind="story_mother",
                      home_point_id=user.points[0].id, user_id=user.id,
                      joined_on=user.created_at.astimezone(tz).date(), created_at=user.created_at)
        session.add(v)
        session.flush()
        for p in user.points:
            mother_volunteer.setdefault(p.id, v.id)
    return mother_volunteer


def _volunteers(session: Session, points: list[Point], start_day: date, tz: ZoneInfo,
                rng: random.Random) -> dict[int, list[int]]:
    """KIND_PLAN's volunteers at each point, joined in the 90 days after ``start_day``; point id
    → their ids. (Draws from ``rng`` first, before any activity: keep that order.)"""
    volunteers: dict[int, list[int]] = defaultdict(list)
    for point in points:
        for kind, count in KIND_PLAN:
            for _ in range(count):
                joined = start_day + timedelta(days=rng.randrange(0, 90))
                v = Volunteer(
                    name=rng.choice(NAMES) + rng.choice(GIVEN), kind=kind, home_point_id=point.id,
                    phone="1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9)),
                    consent_at=datetime.combine(joined, time(10), tzinfo=tz).astimezone(UTC) if kind == "child" else None,
                    joined_on=joined, created_at=datetime.combine(joined, time(10), tzinfo=tz).astimezone(UTC))
                session.add(v)
                session.flush()
                volunteers[point.id].append(v.id)
    return volunteers


def _borrowing_sessions(session: Session) -> list[tuple[int, datetime, list[int]]]:
    """Each (point, local day) with scanned loans, as (point id, its first loan, the children
    who borrowed), in the order of the first loans."""
    days: dict[tuple[int, date], tuple[datetime, set[int]]] = {}
    for point_id, day, borrower_id, lent_at in session.execute(
            select(Loan.point_id, Loan.lent_day, Loan.borrower_id, Loan.lent_at)
            .where(Loan.undone_at.is_(None), Loan.source == "scan")):
        first, kids = days.get((point_id, day), (lent_at, set()))
        if borrower_id is not None:
            kids.add(borrower_id)
        days[(point_id, day)] = (min(first, lent_at), kids)
    return sorted(((p, first, sorted(kids)) for (p, _day), (first, kids) in days.items()), key=lambda r: r[1])
