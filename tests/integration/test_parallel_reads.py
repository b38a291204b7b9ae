"""The month report reads side by side on PostgreSQL (services.parallel_reads): the same
figures as when every statement runs in one session, errors reach the request, no job outlives
its request, and a session that has written never reads beside itself."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from library_app.db import session_factory
from library_app.domain.reports import Month
from library_app.models import Borrower, Loan, Point, Title, User
from library_app.services import reports as service
from library_app.services.parallel_reads import ParallelReads, runs_in_parallel
from library_app.services.settings import get_settings
from tests.builders import lent_day

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


def _backend(app: Any) -> str:
    return app.extensions["library_db"].engine.dialect.name


def _random_library(app: Any) -> None:
    """Three points, children, titles, two story mothers and 400 loans over October, September
    and October last year, some returned (late or not), some undone."""
    rng = random.Random(11)
    with app.app_context(), session_factory()() as db:
        points = [Point(code=f"P0{i}", name=f"点{i}") for i in (1, 2, 3)]
        db.add_all(points)
        db.flush()
        mothers = [User(username=f"mama{i}", display_name=f"妈妈{i}", password_hash="x",
                        role="story_mother") for i in (1, 2)]
        titles = [Title(title=f"书{i}", category=rng.choice(["绘本", "科普", None]),
                        age_band=rng.choice(["3-6", "6-9", None])) for i in range(15)]
        kids = [Borrower(name=f"孩子{i}", home_point_id=points[i % 3].id,
                         created_at=datetime(2026, 10, 1 + i % 28, tzinfo=UTC)) for i in range(12)]
        db.add_all(mothers + titles + kids)
        db.flush()
        for _ in range(400):
            month_start = rng.choice([datetime(2026, 9, 30, 16), datetime(2026, 8, 31, 16),
                                      datetime(2025, 9, 30, 16)]).replace(tzinfo=UTC)
            at = month_start + timedelta(minutes=rng.randrange(0, 31 * 24 * 60))
            due = at + timedelta(days=14)
            back = rng.choice([None, at + timedelta(days=3), due + timedelta(days=5)])
            who = rng.choice(mothers)
            db.add(Loan(point_id=rng.choice(points).id, borrower_id=rng.choice(kids).id,
                        title_id=rng.choice(titles).id, lent_by_id=who.id, lent_at=at,
                        lent_day=lent_day(db, app.config, at), due_at=due, returned_at=back,
                        returned_by_id=who.id if back and rng.random() < 0.8 else None,
                        return_point_id=rng.choice(points).id if back and rng.random() < 0.3 else None,
                        return_kind="normal" if back else "",
                        undone_at=at + timedelta(minutes=1) if rng.random() < 0.05 else None))
        db.commit()


@pytest.mark.parametrize("metric", ["loans", "visits"])
@pytest.mark.parametrize("point", [None, "P02"])
def test_the_month_report_is_the_same_read_beside_or_in_one_session(app, metric, point):
    _random_library(app)
    with app.app_context():
        with session_factory(write=True)() as db:
            settings = get_settings(db, app.config)
            settings = replace(settings, count_metric=metric)
            one_session = service.month_report(db, NOW, Month(2026, 10), settings,
                                               point_code=point, with_people=True).as_json()
            assert not runs_in_parallel(db)
        with session_factory(write=False)() as db:
            assert runs_in_parallel(db) == (_backend(app) == "postgresql")
            beside = service.month_report(db, NOW, Month(2026, 10), settings,
                                          point_code=point, with_people=True).as_json()
            # without the people (a viewer): their returns are counted another way, the same
            viewer = service.month_report(db, NOW, Month(2026, 10), settings,
                                          point_code=point, with_people=False).as_json()
    assert beside == one_session
    assert viewer == {k: v for k, v in one_session.items() if k != "staff"}
    assert one_session["loans"] > 0 and one_session["previous"]["loans"] > 0
    assert one_session["last_year"]["loans"] > 0 and one_session["staff"]


def test_a_report_request_reads_beside_on_postgresql_and_in_its_own_session_on_sqlite(app):
    """What a manager's GET does: on PostgreSQL the other months are read on another backend;
    on SQLite in the request's own session (one snapshot for the whole report)."""
    with app.app_context(), session_factory(write=False)() as db:
        if _backend(app) == "postgresql":
            mine = db.scalar(text("SELECT pg_backend_pid()"))
            with ParallelReads(db) as reads:
                theirs = reads.run(lambda s: s.scalar(text("SELECT pg_backend_pid()")))()
            assert theirs != mine
        else:
            with ParallelReads(db) as reads:
                assert reads.run(lambda s: s)() is db


def test_a_failing_read_reaches_the_caller_and_gives_its_connection_back(app):
    pool = app.extensions["library_db"].engine.pool
    with app.app_context(), session_factory(write=False)() as db:
        db.scalar(text("SELECT 1"))
        before = pool.checkedout()
        with pytest.raises(Exception, match="no_such_table"):
            with ParallelReads(db) as reads:
                reads.run(lambda s: s.scalar(text("SELECT * FROM no_such_table")))()
        # the caller's session still works and holds the only connection it held before
        assert db.scalar(text("SELECT 2")) == 2
        assert pool.checkedout() == before


def test_leaving_the_block_waits_for_every_read(app):
    """A request that fails while a read beside it runs does not leave the read running."""
    done = threading.Event()
    slow = "SELECT pg_sleep(0.3)" if _backend(app) == "postgresql" else "SELECT 1"

    def job(s: Any) -> None:
        s.execute(text(slow))
        done.set()

    with app.app_context(), session_factory(write=False)() as db:
        with pytest.raises(RuntimeError):
            with ParallelReads(db) as reads:
                later = reads.run(job)
                if not reads.parallel:
                    later()  # in one session a read runs when asked for
                raise RuntimeError("the request failed")
        assert done.is_set()


def test_a_session_that_has_written_reads_its_own_writes(app):
    """Reads beside a writing session could not see its uncommitted rows: they run in it."""
    with app.app_context(), session_factory(write=True)() as db:
        db.add(Point(code="P09", name="未提交"))
        db.flush()
        with ParallelReads(db) as reads:
            assert not reads.parallel
            seen = reads.run(lambda s: s.scalar(select(Point.name).where(Point.code == "P09")))()
        db.rollback()
    assert seen == "未提交"
