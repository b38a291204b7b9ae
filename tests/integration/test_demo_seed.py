"""seed-demo: fills an empty database with realistic data the reports can show, and refuses a
database that already holds real data unless --force."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.domain.codes import parse_code
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
from library_app.services.users import check_password

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


def count(db, model):
    return db.scalar(select(func.count()).select_from(model))


def test_seed_demo_fills_an_empty_database_and_the_reports_show_it(app, runner, make, client):
    r = runner.invoke(args=["seed-demo"])
    assert r.exit_code == 0, r.output
    assert "gushihui-demo" in r.output and "mama1" in r.output and "librarian" in r.output
    with app.app_context(), session_factory()() as db:
        assert [p.code for p in db.scalars(select(Point).order_by(Point.code))] == ["P01", "P02", "P03", "P04"]
        assert "三灶镇" in db.scalar(select(Point.name).where(Point.code == "P01"))
        assert 280 <= count(db, Title) <= 320
        assert 800 <= count(db, Copy) <= 1000
        assert count(db, Borrower) == 250 and count(db, Card) == 250
        titles = set(db.scalars(select(Title.title)))
        assert {"猜猜我有多爱你", "好饿的毛毛虫", "大卫，不可以", "逃家小兔", "小蓝和小黄"} <= titles
        caicai = db.scalar(select(Title).where(Title.title == "猜猜我有多爱你"))
        assert caicai.search_initials == "ccwydan"
        for code in db.scalars(select(Copy.code).limit(20)):
            assert parse_code(code).kind == "copy"
        mothers = db.scalars(select(User).where(User.role == "story_mother").order_by(User.username)).all()
        assert len(mothers) == 4 and all(len(m.points) == 1 for m in mothers)
        assert check_password(mothers[0].password_hash, "gushihui-demo")
        assert db.scalar(select(User.role).where(User.username == "librarian")) == "librarian"
        # loans from January up to now, never in the future, one open loan per copy at most
        first, last = db.execute(select(func.min(Loan.lent_at), func.max(Loan.lent_at))).one()
        assert first.astimezone(UTC) >= datetime(2025, 12, 31, 16, tzinfo=UTC) and last <= NOW
        assert count(db, Loan) > 5000
        open_loans = db.scalar(select(func.count()).select_from(Loan).where(Loan.returned_at.is_(None)))
        on_loan = db.scalar(select(func.count()).select_from(Copy).where(Copy.status == "on_loan"))
        assert open_loans == on_loan > 0
        overdue = db.scalar(select(func.count()).select_from(Loan).where(
            Loan.returned_at.is_(None), Loan.due_at < NOW))
        assert overdue > 0
        # every renewed loan has its renewal, with the due date it replaced
        renewed = db.scalar(select(func.count()).select_from(Loan).where(Loan.renewals > 0))
        assert renewed > 0 and count(db, LoanRenewal) == renewed
        assert db.scalar(select(func.count()).select_from(LoanRenewal).join(Loan).where(
            LoanRenewal.due_after != Loan.due_at)) == 0
        assert count(db, MonthlyTally) == 48  # last year's paper tallies, 4 points × 12 months

    headers = make.token(make.user("boss", "viewer"))
    year = client.get("/api/v1/reports/year/2026", headers=headers).get_json()
    assert year["count"] > 5000 and all(m["count"] > 0 for m in year["months"][:11])
    assert len({p["count"] for p in year["points"]}) == 4  # the points differ
    assert year["same_date_last_year"] > 0
    october = client.get("/api/v1/reports/month/2026-10", headers=headers).get_json()
    assert october["loans"] > 0 and october["returns"] > 0 and october["top_titles"]

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code != 0 and "--force" in again.output
    with app.app_context(), session_factory()() as db:
        assert count(db, Borrower) == 250


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_seed_demo_refuses_real_data_unless_forced(app, runner, make):
    make.point("P01", "我们自己的阅读点")
    real = make.borrower("真实的孩子")
    r = runner.invoke(args=["seed-demo"])
    assert r.exit_code != 0
    assert "已经有数据" in r.output and "小读者 1" in r.output and "--force" in r.output
    with app.app_context(), session_factory()() as db:
        assert count(db, Title) == 0 and count(db, Loan) == 0

    r = runner.invoke(args=["seed-demo", "--force"])
    assert r.exit_code == 0, r.output
    with app.app_context(), session_factory()() as db:
        assert count(db, Borrower) == 251
        assert db.get(Borrower, real.id).name == "真实的孩子"
        assert db.scalar(select(Point.name).where(Point.code == "P01")) == "我们自己的阅读点"
        assert count(db, Card) == 251  # its card and 250 new ones, no code reused
