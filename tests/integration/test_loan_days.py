"""loan_days, each day's loans and visits per point, kept by triggers on loans: it must say what
counting the loans says after any write, and two phones lending to one child at once make one
visit (the annual report, the year's visits and the month's visits read whole days from it)."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import case, create_engine, delete, distinct, func, insert, select, text, update

from library_app.db import session_factory
from library_app.models import Loan, LoanDay, LoanYearChild

pytestmark = pytest.mark.postgres

DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 4, 30), date(2025, 12, 31)]


def counted_from_loans(db) -> dict:
    rows = db.execute(select(Loan.lent_day, Loan.point_id, func.count(),
                             func.count(distinct(Loan.borrower_id))
                             + func.sum(case((Loan.borrower_id.is_(None), 1), else_=0)))
                      .where(Loan.undone_at.is_(None)).group_by(Loan.lent_day, Loan.point_id))
    return {(d, p): (n, v) for d, p, n, v in rows}


def children_from_loans(db) -> dict:
    rows = db.execute(select(Loan.lent_year, Loan.borrower_id, Loan.point_id, func.count())
                      .where(Loan.undone_at.is_(None), Loan.borrower_id.is_not(None))
                      .group_by(Loan.lent_year, Loan.borrower_id, Loan.point_id))
    return {(y, b, p): n for y, b, p, n in rows}


def kept_children(db) -> dict:
    rows = db.execute(select(LoanYearChild.year, LoanYearChild.borrower_id, LoanYearChild.point_id,
                             LoanYearChild.loans))
    return {(y, b, p): n for y, b, p, n in rows}


def kept(db) -> dict:
    rows = db.execute(select(LoanDay.day, LoanDay.point_id, LoanDay.loans, LoanDay.visits))
    return {(d, p): (n, v) for d, p, n, v in rows}


def loan_row(point_id: int, day: date, borrower_id: int | None, undone: bool = False) -> dict:
    at = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)
    return {"point_id": point_id, "lent_at": at, "lent_day": day, "borrower_id": borrower_id,
            "undone_at": at + timedelta(minutes=1) if undone else None}


def test_loan_days_say_what_the_loans_say_after_every_kind_of_write(app, make):
    points = [make.point(code).id for code in ("P01", "P02")]
    children = [make.borrower(f"小读者{i}").id for i in range(3)] + [None]
    rng = random.Random(7)
    with app.app_context():
        factory = session_factory()
        for step in range(200):
            with factory() as db:
                ids = list(db.scalars(select(Loan.id)))
                counted = list(db.scalars(select(Loan.id).where(Loan.undone_at.is_(None))))
                what = rng.choice(["lend", "lend", "lend", "lend several", "undo", "redo", "move", "child", "day",
                                   "delete", "move a day", "undo a child", "delete a day"])
                if what == "lend" or not ids:
                    db.execute(insert(Loan).values(**loan_row(rng.choice(points), rng.choice(DAYS),
                                                              rng.choice(children), undone=rng.random() < 0.1)))
                elif what == "lend several":  # one statement, rows of one visit among them
                    day, point = rng.choice(DAYS), rng.choice(points)
                    db.execute(insert(Loan), [loan_row(point, day, rng.choice(children)) for _ in range(4)])
                elif what == "move a day":  # as the zone change rewrites lent_day: many rows at once
                    a, b = rng.sample(DAYS, 2)
                    db.execute(update(Loan).where(Loan.lent_day == a).values(lent_day=b, lent_year=b.year))
                elif what == "undo a child":
                    db.execute(update(Loan).where(Loan.borrower_id == rng.choice(children[:-1]))
                               .values(undone_at=datetime(2026, 5, 1, tzinfo=UTC)))
                elif what == "delete a day":
                    db.execute(delete(Loan).where(Loan.lent_day == rng.choice(DAYS), Loan.point_id == points[0]))
                elif what == "undo" and counted:
                    db.execute(update(Loan).where(Loan.id == rng.choice(counted))
                               .values(undone_at=datetime(2026, 5, 1, tzinfo=UTC)))
                elif what == "redo":
                    db.execute(update(Loan).where(Loan.id == rng.choice(ids)).values(undone_at=None))
                elif what == "move":
                    db.execute(update(Loan).where(Loan.id == rng.choice(ids)).values(point_id=rng.choice(points)))
                elif what == "child":
                    db.execute(update(Loan).where(Loan.id == rng.choice(ids)).values(borrower_id=rng.choice(children)))
                elif what == "day":
                    day = rng.choice(DAYS)
                    db.execute(update(Loan).where(Loan.id == rng.choice(ids)).values(lent_day=day, lent_year=day.year))
                elif what == "delete":
                    db.execute(delete(Loan).where(Loan.id == rng.choice(ids)))
                db.commit()
                assert kept(db) == counted_from_loans(db), (step, what)
                assert kept_children(db) == children_from_loans(db), (step, what)
        with factory() as db:  # the run did reach days with several loans and shared visits
            assert any(n > v > 0 for n, v in kept(db).values())
            assert any(n > 1 for n in kept_children(db).values()) and {y for y, _b, _p in kept_children(db)} == {
                2025, 2026}


def test_the_migration_sums_the_loans_already_there(app, make, db_url):
    """Upgrading a database with loans fills loan_days from them (the step down and up again)."""
    from library_app.db import upgrade

    p = make.point("P01").id
    a, b = make.borrower("甲").id, make.borrower("乙").id
    with app.app_context(), session_factory()() as db:
        db.execute(insert(Loan), [loan_row(p, DAYS[0], a), loan_row(p, DAYS[0], a), loan_row(p, DAYS[0], b),
                                  loan_row(p, DAYS[1], None), loan_row(p, DAYS[1], b, undone=True)])
        db.commit()
    app.extensions["library_db"].engine.dispose()
    upgrade(db_url, "3f6a9c2e8b71")
    upgrade(db_url)
    with app.app_context(), session_factory()() as db:
        assert kept(db) == {(DAYS[0], p): (3, 2), (DAYS[1], p): (1, 1)}
        assert kept_children(db) == {(2026, a, p): 2, (2026, b, p): 1}
        db.execute(insert(Loan).values(**loan_row(p, DAYS[1], b)))  # the triggers are back too
        db.commit()
        assert kept(db)[(DAYS[1], p)] == (2, 2)


def _waiting_for_a_lock(conn, pid: int) -> bool:
    return bool(conn.execute(text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                             {"p": pid}).scalar())


def test_two_phones_lending_to_one_child_at_once_make_one_visit(app, make, db_url):
    """The second phone's loan waits for the first to commit, then sees it: one visit, two loans.
    On PostgreSQL the test makes sure the second really waited (pg_stat_activity) before the
    first commits; on SQLite the database's one writer serialises them."""
    p = make.point("P01").id
    child, other = make.borrower("小明").id, make.borrower("小红").id
    with app.app_context(), session_factory()() as db:  # the day's row is there already
        db.execute(insert(Loan).values(**loan_row(p, DAYS[0], other)))
        db.commit()
    engine = create_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    first, second = engine.connect(), engine.connect()
    try:
        second_pid = second.exec_driver_sql("SELECT pg_backend_pid()").scalar() if postgres else 0
        second.rollback()
        first.begin()
        first.execute(insert(Loan).values(**loan_row(p, DAYS[0], child)))
        errors: list[BaseException] = []

        def lend_again() -> None:
            try:
                with second.begin():
                    second.execute(insert(Loan).values(**loan_row(p, DAYS[0], child)))
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        t = threading.Thread(target=lend_again)
        t.start()
        if postgres:
            with engine.connect() as watch:
                deadline = time.monotonic() + 20
                while not _waiting_for_a_lock(watch, second_pid):
                    assert not errors and time.monotonic() < deadline, ("the second loan never waited", errors)
                    time.sleep(0.02)
        else:
            time.sleep(0.2)
        first.commit()
        t.join(30)
        assert not errors
    finally:
        first.close()
        second.close()
        engine.dispose()
    with app.app_context(), session_factory()() as db:
        assert kept(db) == {(DAYS[0], p): (3, 2)}


def test_loans_to_an_instant_take_whole_days_from_loan_days_and_the_cut_day_from_its_loans(app, make):
    """What "last year to the same moment" counts: 1 March whole, 2 March up to 12:00 Beijing
    time, at one point or all; an undone loan never."""
    from zoneinfo import ZoneInfo

    from library_app.services.reports.queries import loan_count

    tz = ZoneInfo("Asia/Shanghai")
    p1, p2 = make.point("P01").id, make.point("P02").id
    kid = make.borrower("小明").id

    def local(d: int, h: int) -> datetime:
        return datetime(2026, 3, d, h, tzinfo=tz).astimezone(UTC)

    rows = [(p1, local(1, 9)), (p2, local(1, 23)), (p1, local(2, 9)), (p1, local(2, 15)), (p2, local(3, 9))]
    with app.app_context(), session_factory()() as db:
        db.execute(insert(Loan), [{**loan_row(p, at.astimezone(tz).date(), kid), "lent_at": at} for p, at in rows]
                   + [{**loan_row(p1, date(2026, 3, 2), kid, undone=True), "lent_at": local(2, 10)}])
        db.commit()
        start, noon = local(1, 0), local(2, 12)
        assert loan_count(db, start, noon, tz) == 3
        assert loan_count(db, start, noon, tz, p1) == 2
        assert loan_count(db, noon, local(4, 0), tz) == 2          # cut at the start instead
        assert loan_count(db, local(2, 8), noon, tz) == 1           # one day, cut at both ends
        assert loan_count(db, start, local(4, 0), tz, p2) == 2      # whole days only
        assert loan_count(db, noon, noon, tz) == 0
