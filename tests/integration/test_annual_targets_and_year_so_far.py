"""The annual report of a year not yet over, and its targets form, on SQLite and PostgreSQL.

In December the manager must not paste this year's figures as if they were the whole year's,
or compare them with the whole of last year. And she sets each figure's target on the page
itself, not through the API.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import AuditLog, FigureTarget
from tests.integration.test_auth import csrf_from

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 on 2 December in Beijing


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


@pytest.fixture
def world(app, make):
    make.point("P01", "三灶镇故事会点")
    kid = make.borrower("王小明")
    books = [make.copy(make.title(f"绘本{i}")) for i in range(4)]
    # Last year: two loans before 2 December 10:00 (Beijing), one after it.
    make.loan(books[0], kid, lent_at=datetime(2025, 3, 1, 2, 0, tzinfo=UTC), returned_at=datetime(2025, 3, 8, tzinfo=UTC))
    make.loan(books[1], kid, lent_at=datetime(2025, 12, 2, 1, 0, tzinfo=UTC), returned_at=datetime(2025, 12, 9, tzinfo=UTC))
    make.loan(books[2], kid, lent_at=datetime(2025, 12, 2, 3, 0, tzinfo=UTC), returned_at=datetime(2025, 12, 9, tzinfo=UTC))
    # This year so far: three loans.
    for i, day in enumerate((5, 6, 7)):
        make.loan(books[3], kid, lent_at=datetime(2026, 6, day, 2, 0, tzinfo=UTC),
                  returned_at=datetime(2026, 6, day, 5, 0, tzinfo=UTC), event_id=f"e{i}")
    return {"admin": make.user("boss", "admin"), "lib": make.user("lin", "librarian")}


def test_this_years_report_is_told_as_so_far_and_compared_with_the_same_date(app, make, world):
    client = app.test_client()
    h = make.token(world["lib"])
    data = client.get("/api/v1/reports/annual/2026", headers=h).get_json()
    assert data["as_of"] == "2026-12-02"
    assert data["loans"] == 3 and data["last_year"]["loans"] == 3
    assert data["last_year_loans_to_date"] == 2  # not the loan at 11:00 on 2 December 2025
    assert "今年以来共服务儿童 1 人" in data["summary"]
    assert "借阅人次比上年同期增长 50%。" in data["summary"]  # 3 against 2, not "持平" against 3
    assert data["summary"].endswith("（数据截至 2026 年 12 月 2 日）")
    # last year's report is of a whole year
    done = client.get("/api/v1/reports/annual/2025", headers=h).get_json()
    assert done["as_of"] is None and done["last_year_loans_to_date"] is None
    assert "全年共服务儿童 1 人" in done["summary"] and "截至" not in done["summary"]
    text = client.get("/api/v1/reports/annual/2026.csv", headers=h).data.decode("utf-8-sig")
    assert "截至 2026-12-02" in text and "2025 年同期（截至 12 月 2 日）,2" in text
    make.login(client, world["lib"])
    page = client.get("/reports/annual/2026").get_data(as_text=True)
    assert "截至 12 月 2 日（本年尚未结束）" in page and "2025 年（全年）" in page
    assert "2025 年同期（截至 12 月 2 日）借阅人次 2。" in page


@pytest.mark.parametrize("app_config", [{"FIXED_NOW": datetime(2026, 12, 31, 16, 30, tzinfo=UTC)}])
def test_a_year_is_over_at_midnight_in_beijing(app, make, world):
    """16:30 UTC on 31 December is 00:30 on 1 January in Beijing: 2026 is complete."""
    client = app.test_client()
    make.login(client, world["lib"])  # (a bearer token made now would have expired by then)
    assert client.get("/api/v1/reports/annual/2026").get_json()["as_of"] is None
    assert client.get("/api/v1/reports/annual/2027").get_json()["as_of"] == "2027-01-01"


def test_admin_sets_each_figures_target_on_the_page(app, make, world):
    client = app.test_client()
    make.login(client, world["admin"])
    page = client.get("/reports/annual/2026")
    assert "设置 2026 年的目标" in page.get_data(as_text=True)
    token = csrf_from(page.data)
    r = client.post("/reports/annual/2026/targets",
                    data={"csrf_token": token, "loans": "15,000", "activities": "400", "volunteer_minutes": ""})
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已保存 2026 年的目标" in page
    data = client.get("/api/v1/reports/annual/2026", headers=make.token(world["lib"])).get_json()
    assert data["targets"]["loans"] == 15000 and data["targets"]["activities"] == 400
    assert data["targets"]["volunteer_minutes"] is None
    assert 'name="activities" autocomplete="off"\n                 value="400"' in page  # the form shows what is set
    # a blank loans target goes back to the default; a blank one of the others is removed
    r = client.post("/reports/annual/2026/targets", data={"csrf_token": token, "loans": "", "activities": ""})
    assert r.status_code == 302
    data = client.get("/api/v1/reports/annual/2026", headers=make.token(world["lib"])).get_json()
    assert data["targets"]["loans"] == 12000 and data["targets"]["activities"] is None
    with app.app_context(), session_factory()() as db:
        assert db.scalars(select(FigureTarget)).all() == []
        assert len(db.scalars(select(AuditLog).where(AuditLog.action == "targets.annual")).all()) == 2


@pytest.mark.parametrize(("typed", "message"), [
    ({"activities": "四百"}, "“阅读活动（场）”的目标需要是整数。"),
    ({"activities": "12.5"}, "“阅读活动（场）”的目标需要是整数。"),
    ({"activities": "0"}, "目标需要是 1 到 100,000,000 之间的整数。"),
    ({"activities": "²"}, "“阅读活动（场）”的目标需要是整数。"),  # a digit to isdigit(), not to int()
])
def test_a_target_that_is_not_a_whole_number_is_refused_and_nothing_is_saved(app, make, world, typed, message):
    client = app.test_client()
    make.login(client, world["admin"])
    token = csrf_from(client.get("/reports/annual/2026").data)
    r = client.post("/reports/annual/2026/targets", data={"csrf_token": token, "loans": "15000", **typed})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert message in page and 'value="15000"' in page  # what she typed is still there
    data = client.get("/api/v1/reports/annual/2026", headers=make.token(world["lib"])).get_json()
    assert data["targets"]["loans"] == 12000 and data["targets"]["activities"] is None


def test_only_an_admin_sets_targets(app, make, world):
    client = app.test_client()
    make.login(client, world["lib"])
    page = client.get("/reports/annual/2026")
    assert "设置 2026 年的目标" not in page.get_data(as_text=True)
    r = client.post("/reports/annual/2026/targets", data={"csrf_token": csrf_from(page.data), "activities": "400"})
    assert r.status_code == 403
