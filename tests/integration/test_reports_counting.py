"""The counting rules, proved with hand-made loans at the edges, on SQLite and PostgreSQL:
time zone boundaries, undo, renewals, implicit returns, visits, tallies and imported loans."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from library_app.db import session_factory
from library_app.domain import reports as rules
from library_app.models import Borrower, Loan, Point, Setting
from library_app.services import reports as service
from library_app.services.settings import get_settings
from tests.builders import lent_day

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)  # 12:00 on 15 November, Beijing time


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def add_loans(app: Any, *specs: dict[str, Any]) -> list[int]:
    """Insert loans straight into the database: {'point': 'P01', 'lent_at': ..., ...}."""
    with app.app_context(), session_factory()() as db:
        points = {p.code: p.id for p in db.scalars(select(Point))}
        loans = []
        for spec in specs:
            spec = dict(spec)
            code = spec.pop("point", "P01")
            if code not in points:
                point = Point(code=code, name=f"测试点{code}")
                db.add(point)
                db.flush()
                points[code] = point.id
            spec.setdefault("lent_day", lent_day(db, app.config, spec["lent_at"]))
            loans.append(Loan(point_id=points[code], **spec))
        db.add_all(loans)
        db.commit()
        return [loan.id for loan in loans]


def set_setting(app: Any, key: str, value: Any) -> None:
    with app.app_context(), session_factory()() as db:
        db.merge(Setting(key=key, value={"v": value}, updated_at=NOW))
        db.commit()


@pytest.fixture
def staff(make, app):
    make.point("P01")
    make.point("P02")
    return make.token(make.user("lib", "librarian"))


def year(client, headers, y=2026):
    r = client.get(f"/api/v1/reports/year/{y}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def month(client, headers, m, **query):
    r = client.get(f"/api/v1/reports/month/{m}", headers=headers, query_string=query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_a_loan_at_0030_on_new_years_day_in_beijing_is_in_the_new_year(app, client, staff):
    add_loans(
        app,
        {"lent_at": utc(2025, 12, 31, 16, 30)},                   # 2026-01-01 00:30 Beijing
        {"lent_at": utc(2025, 12, 31, 15, 59, 59, 999999)},       # 2025-12-31 23:59:59.999999
        {"lent_at": utc(2026, 1, 31, 16, 0)},                     # 2026-02-01 00:00:00 exactly
        {"lent_at": utc(2026, 12, 31, 15, 59)},                   # still 2026 (23:59 on 31 Dec)
    )
    y2026 = year(client, staff)
    assert y2026["count"] == 3
    assert [m["count"] for m in y2026["months"]][:2] == [1, 1]
    assert y2026["months"][11] == {"month": "2026-12", "count": 1, "tally": 0, "target": 1019}
    y2025 = year(client, staff, 2025)
    assert y2025["count"] == 1 and y2025["months"][11]["count"] == 1
    assert month(client, staff, "2026-01")["loans"] == 1
    assert month(client, staff, "2025-12")["loans"] == 1
    assert month(client, staff, "2026-02")["loans"] == 1


def test_undone_loans_never_count(app, client, staff, make):
    child = make.borrower()
    undone_at = utc(2026, 3, 2, 3, 5)
    add_loans(
        app,
        {"lent_at": utc(2026, 3, 2, 3), "borrower_id": child.id, "undone_at": undone_at,
         "returned_at": undone_at, "return_kind": "undo", "due_at": utc(2026, 3, 16, 3)},
        {"lent_at": utc(2026, 3, 2, 3, 1), "borrower_id": child.id, "due_at": utc(2026, 3, 16, 3),
         "returned_at": utc(2026, 3, 9, 3), "return_kind": "normal"},
    )
    m = month(client, staff, "2026-03")
    assert (m["loans"], m["visits"], m["returns"], m["distinct_borrowers"]) == (1, None, 1, 1)
    assert year(client, staff)["count"] == 1


def test_renewals_and_implicit_returns_do_not_add_loans(app, client, staff, make):
    a, b = make.borrower("张小红"), make.borrower("李小刚")
    copy = make.copy()
    add_loans(
        app,
        # renewed twice, one row, one loan
        {"lent_at": utc(2026, 4, 1, 8), "borrower_id": a.id, "copy_id": copy.id, "renewals": 2,
         "due_at": utc(2026, 5, 13, 8), "returned_at": utc(2026, 4, 20, 8), "return_kind": "normal"},
        # lent to A, then scanned to B while still out: implicit return and a new loan
        {"lent_at": utc(2026, 4, 21, 8), "borrower_id": a.id, "copy_id": copy.id,
         "due_at": utc(2026, 5, 5, 8), "returned_at": utc(2026, 4, 25, 8), "return_kind": "implicit"},
        {"lent_at": utc(2026, 4, 25, 8), "borrower_id": b.id, "copy_id": copy.id,
         "due_at": utc(2026, 5, 9, 8), "returned_at": utc(2026, 4, 28, 8), "return_kind": "normal"},
    )
    m = month(client, staff, "2026-04")
    assert m["loans"] == 3 and m["returns"] == 3 and m["distinct_borrowers"] == 2
    assert year(client, staff)["count"] == 3


def test_visits_one_child_one_point_one_local_day(app, client, staff, make):
    set_setting(app, "count_metric", "visits")
    kid, other = make.borrower("王小明"), make.borrower("赵小雨")
    add_loans(
        app,
        {"lent_at": utc(2026, 3, 2, 1), "borrower_id": kid.id},               # 09:00 on 2 March
        {"lent_at": utc(2026, 3, 2, 14), "borrower_id": kid.id},              # 22:00, same day
        {"lent_at": utc(2026, 3, 2, 16, 30), "borrower_id": kid.id},          # 00:30 on 3 March
        {"lent_at": utc(2026, 3, 2, 2), "borrower_id": kid.id, "point": "P02"},  # other point
        {"lent_at": utc(2026, 3, 2, 2), "borrower_id": other.id},
        {"lent_at": utc(2026, 3, 5, 2), "source": "import"},                  # unknown child
        {"lent_at": utc(2026, 3, 5, 2), "source": "import"},                  # another one
        {"lent_at": utc(2026, 3, 6, 2), "borrower_id": other.id, "undone_at": utc(2026, 3, 6, 2, 1)},
    )
    y = year(client, staff)
    assert y["metric"] == "visits" and y["count"] == 6
    assert {p["code"]: p["count"] for p in y["points"]} == {"P01": 5, "P02": 1}
    m = month(client, staff, "2026-03")
    assert (m["count"], m["visits"], m["loans"]) == (6, 6, 7)
    assert {p["code"]: (p["loans"], p["visits"]) for p in m["points"]} == {"P01": (6, 5), "P02": (1, 1)}


def test_tallies_count_toward_the_year_and_show_as_such(app, client, staff, make):
    add_loans(app, {"lent_at": utc(2026, 2, 10, 3)}, {"lent_at": utc(2026, 2, 11, 3), "point": "P02"})
    r = client.post("/api/v1/tallies", json={"point": "P01", "month": "2026-01", "loans": 300}, headers=staff)
    assert r.status_code == 201 and r.get_json() == {"point": "P01", "month": "2026-01", "loans": 300}
    r = client.post("/api/v1/tallies", json={"point": "p01", "month": "2026-01", "loans": 320}, headers=staff)
    assert r.status_code == 200 and r.get_json()["loans"] == 320  # corrected, not added
    client.post("/api/v1/tallies", json={"point": "P02", "month": "2026-01", "loans": 80}, headers=staff)
    y = year(client, staff)
    assert y["count"] == 402 and y["tallies"] == 400
    assert y["months"][0] == {"month": "2026-01", "count": 400, "tally": 400, "target": 1019}
    assert {p["code"]: (p["count"], p["tally"]) for p in y["points"]} == {"P01": (321, 320), "P02": (81, 80)}
    m = month(client, staff, "2026-01")
    assert (m["count"], m["loans"], m["tally"]) == (400, 0, 400)
    assert month(client, staff, "2026-01", point="P02")["count"] == 80
    # the page says which part came from paper
    page_user = make.user("lib2", "librarian")
    make.login(client, page_user)
    html = client.get("/reports/year/2026").get_data(as_text=True)
    assert "其中纸质记录" in html and "400" in html


@pytest.mark.parametrize("body,status,code", [
    ({"point": "P01", "month": "2026-12", "loans": 5}, 422, "invalid"),      # not yet come
    ({"point": "P01", "month": "2026-13", "loans": 5}, 400, "invalid_month"),
    ({"point": "P01", "month": "2026-01", "loans": -1}, 422, "invalid"),
    ({"point": "P01", "month": "2026-01", "loans": "many"}, 422, "invalid"),
    ({"point": "P01", "month": "2026-01", "loans": True}, 422, "invalid"),
    ({"point": "P01", "month": "2026-01", "loans": 2.5}, 422, "invalid"),
    ({"point": "P99", "month": "2026-01", "loans": 5}, 404, "not_found"),
    ({"month": "2026-01", "loans": 5}, 422, "invalid"),
])
def test_bad_tallies_are_refused_in_chinese(client, staff, body, status, code):
    r = client.post("/api/v1/tallies", json=body, headers=staff)
    assert r.status_code == status, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == code and any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])


def test_overdue_at_month_end_new_and_distinct_borrowers(app, client, staff, make):
    a = make.borrower("甲", created_at=utc(2026, 9, 30, 15, 59))   # 23:59 on 30 September: September
    b = make.borrower("乙", created_at=utc(2026, 9, 30, 16, 0))    # 00:00 on 1 October: October
    oct_end = utc(2026, 10, 31, 16)
    add_loans(
        app,
        {"lent_at": utc(2026, 10, 1, 3), "due_at": utc(2026, 10, 15, 3), "borrower_id": a.id,
         "returned_at": utc(2026, 11, 3, 3), "return_kind": "normal"},     # late: overdue at end
        {"lent_at": utc(2026, 10, 1, 3), "due_at": utc(2026, 10, 15, 3), "borrower_id": a.id,
         "returned_at": utc(2026, 10, 14, 3), "return_kind": "normal"},    # back in time
        {"lent_at": utc(2026, 10, 6, 3), "due_at": utc(2026, 10, 20, 3), "borrower_id": b.id},  # still out
        {"lent_at": utc(2026, 10, 19, 3), "due_at": utc(2026, 11, 2, 3), "borrower_id": b.id},  # not due yet
        {"lent_at": utc(2026, 10, 1, 3), "due_at": oct_end - timedelta(seconds=1), "borrower_id": b.id,
         "returned_at": oct_end, "return_kind": "normal"},                 # back at 00:00, still late
        {"lent_at": utc(2026, 10, 2, 3), "due_at": utc(2026, 10, 9, 3), "borrower_id": b.id,
         "undone_at": utc(2026, 10, 2, 3, 1), "returned_at": utc(2026, 10, 2, 3, 1), "return_kind": "undo"},
    )
    m = month(client, staff, "2026-10")
    assert m["overdue_at_end"] == 3
    assert m["new_borrowers"] == 1 and month(client, staff, "2026-09")["new_borrowers"] == 1
    assert m["distinct_borrowers"] == 2 and m["loans"] == 5
    assert m["returns"] == 1  # only the one back on 14 October; the others came back in November
    assert month(client, staff, "2026-11")["returns"] == 2
    # the current month counts overdue up to now, not up to its end
    assert month(client, staff, "2026-11")["overdue_at_end"] == 2
    assert month(client, staff, "2026-11")["as_of"] == NOW.isoformat()


def test_imported_loans_count_in_the_month_of_their_local_time(app, client, staff, make):
    child = make.borrower()
    card = make.card_code(child)
    copy = make.copy(make.title("好饿的毛毛虫"), code=None)
    make.title("逃家小兔")
    body = (
        "time,point,card,copy,title\n"
        f"2026-01-01 00:30,P01,{card},,\n"        # 16:30 UTC on 31 December: January, Beijing time
        f"2025-12-31 23:59,P02,,{copy.code.lower()},\n"
        "2026-03-08 15:30,P01,,,逃家小兔\n"
        "2026-03-08 15:30,p01,,,\n"
    )
    r = client.post("/api/v1/import/loans", headers=staff,
                    data={"file": (__import__("io").BytesIO(body.encode("gbk")), "log.csv")})
    assert r.status_code == 201, r.get_json()
    assert r.get_json() == {"created": 4, "unmatched": 0, "errors": []}
    assert month(client, staff, "2026-01")["loans"] == 1
    assert month(client, staff, "2025-12", point="P02")["loans"] == 1
    march = month(client, staff, "2026-03")
    assert march["loans"] == 2 and march["returns"] == 0  # imported loans are not this month's returns
    assert march["top_titles"] == [{"title": "逃家小兔", "loans": 1}]
    assert year(client, staff)["count"] == 3
    with app.app_context(), session_factory()() as db:
        jan = db.scalar(select(Loan).where(Loan.card_id.is_not(None)))
        assert jan.lent_at == utc(2025, 12, 31, 16, 30) and jan.source == "import"
        assert jan.borrower_id == child.id and jan.returned_at == jan.lent_at


def test_a_bad_import_changes_nothing_unless_partial(app, client, staff, make):
    import io

    body = (
        "\ufeff时间,阅读点,借阅证,书名\n"          # UTF-8 with BOM and Chinese headers
        "2026-02-01 10:00,P01,,\n"
        "2026/02/01 25:00,P01,,\n"
        "2026-02-01 10:00,P09,,\n"
        "2026-02-01 10:00,P01,C0000010,\n"     # bad check digit
        "2026-12-01 10:00,P01,,\n"             # in the future
        "2026-02-01 10:00,P01,,没有这本书\n"
    ).encode("utf-8")
    r = client.post("/api/v1/import/loans", headers=staff, data={"file": (io.BytesIO(body), "x.csv")})
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert [e["row"] for e in errors] == [3, 4, 5, 6]  # a title not in the catalog is no error
    assert "格式不对" in errors[0]["message"] and "P09" in errors[1]["message"]
    assert "校验位" in errors[2]["message"] and "将来" in errors[3]["message"]
    assert r.get_json()["created"] == 0 and month(client, staff, "2026-02")["loans"] == 0
    r = client.post("/api/v1/import/loans?partial=1", headers=staff, data={"file": (io.BytesIO(body), "x.csv")})
    assert r.status_code == 201 and r.get_json()["created"] == 2 and len(r.get_json()["errors"]) == 4
    assert r.get_json()["unmatched"] == 1
    assert month(client, staff, "2026-02")["loans"] == 2


def test_a_loan_log_with_titles_not_in_the_catalog_is_imported_as_written(app, client, staff, make):
    """A spreadsheet kept before the system names books the catalog has never heard of: each row
    is still one past loan, counted in its month, its title kept as written (api.md)."""
    import io

    make.title("逃家小兔")
    body = (
        "时间,阅读点,书名\n"
        "2026-04-02 10:00,P01,逃家小兔\n"
        "2026-04-02 10:05,P01,《小熊很忙》第二册\n"
        "2026-04-03 16:00,P02,没有这本书\n"
    ).encode("gbk")
    r = client.post("/api/v1/import/loans", headers=staff, data={"file": (io.BytesIO(body), "log.csv")})
    assert r.status_code == 201, r.get_json()
    assert r.get_json() == {"created": 3, "unmatched": 2, "errors": []}
    assert month(client, staff, "2026-04")["loans"] == 3
    assert month(client, staff, "2026-04", point="P02")["loans"] == 1
    with app.app_context(), session_factory()() as db:
        kept = db.scalars(select(Loan.title_text).where(Loan.title_id.is_(None))
                          .order_by(Loan.lent_at)).all()
    assert kept == ["《小熊很忙》第二册", "没有这本书"]


@pytest.mark.parametrize("payload,message", [
    (b"", "空"), (b"name,author\nx,y\n", "time"), (b"\x00\x01\x02binary", "CSV"),
    (b"time,point\n", "没有数据"),
])
def test_import_refuses_files_it_cannot_read(client, staff, payload, message):
    import io

    r = client.post("/api/v1/import/loans", headers=staff, data={"file": (io.BytesIO(payload), "x.csv")})
    assert r.status_code == 422 and message in r.get_json()["error"]["message"]
    r = client.post("/api/v1/import/loans", headers=staff, data={})
    assert r.status_code == 422 and "CSV" in r.get_json()["error"]["message"]


def test_month_boundaries_follow_daylight_saving_in_another_zone(app, client, staff):
    set_setting(app, "timezone", "Europe/Berlin")
    add_loans(
        app,
        {"lent_at": utc(2026, 3, 31, 22, 30)},   # 00:30 on 1 April in Berlin (CEST, +02:00)
        {"lent_at": utc(2026, 3, 31, 21, 59)},   # 23:59 on 31 March
        {"lent_at": utc(2026, 10, 31, 22, 30)},  # 23:30 on 31 October (CET again, +01:00)
    )
    months = {m["month"]: m["count"] for m in year(client, staff)["months"]}
    assert (months["2026-03"], months["2026-04"], months["2026-10"], months["2026-11"]) == (1, 1, 1, 0)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
@pytest.mark.parametrize("metric", ["loans", "visits"])
def test_sql_counts_agree_with_the_rules_on_random_loans(app, make, zone, metric):
    """Random loans crowded around local midnights and month ends: the SQL used by the reports
    gives exactly what the plain-Python rules in domain/reports.py give."""
    set_setting(app, "timezone", zone)
    set_setting(app, "count_metric", metric)
    tz = ZoneInfo(zone)
    rng = random.Random(7)
    for code in ("P01", "P02", "P03"):
        make.point(code)
    with app.app_context(), session_factory()() as db:
        db.add_all(Borrower(name=f"孩子{i}", home_point_id=1) for i in range(6))
        db.commit()
        kids = list(db.scalars(select(Borrower.id)))
    edges = rules.year_month_edges(2026, tz)
    specs, facts = [], []
    for _ in range(300):
        edge = rng.choice(edges[:-1] + [rules.local_midnight(datetime(2026, 3, 29).date(), tz)])
        at = edge + timedelta(minutes=rng.choice([-61, -1, 0, 1, 59, 61, 600, 1439, 1441]),
                              microseconds=rng.choice([0, 999999]))
        point = rng.choice(["P01", "P02", "P03"])
        who = rng.choice(kids + [None])
        undone = rng.random() < 0.1
        specs.append({"lent_at": at, "point": point, "borrower_id": who,
                      "undone_at": at + timedelta(minutes=1) if undone else None})
    ids = add_loans(app, *specs)
    for loan_id, spec in zip(ids, specs, strict=True):
        facts.append(rules.LoanFact(spec["lent_at"], spec["point"], spec["borrower_id"],
                                    spec["undone_at"] is not None, loan_id))
    expected = rules.count_by_month(facts, tz, metric)
    with app.app_context(), session_factory()() as db:
        settings = get_settings(db, app.config)
        report = service.year_report(db, NOW, 2026, settings)
        codes = {p.id: p.code for p in db.scalars(select(Point))}
        by_bucket = service.counts_by_bucket(db, edges, metric, tz)
    got = {(f"2026-{b + 1:02d}", codes[p]): n for (b, p), n in by_bucket.items()}
    assert got == {k: v for k, v in expected.items() if k[0].startswith("2026-")}
    assert report.progress.count == sum(v for k, v in expected.items() if k[0].startswith("2026-"))
    assert {str(m.month): m.count for m in report.months if m.count} == {
        m: sum(v for (mm, _p), v in expected.items() if mm == m)
        for m in {k[0] for k in expected if k[0].startswith("2026-")}}


def test_visits_follow_a_change_of_the_organisations_time_zone(app, client, staff, make):
    """Each loan's local day is stored with it; changing the zone on the settings service
    rewrites those days, so visits are counted by the new zone's days at once."""
    from library_app.services.settings import update_settings

    set_setting(app, "count_metric", "visits")
    kid = make.borrower("王小明")
    add_loans(
        app,
        {"lent_at": utc(2026, 3, 2, 10), "borrower_id": kid.id},      # 18:00 on 2 March in Beijing
        {"lent_at": utc(2026, 3, 2, 16, 30), "borrower_id": kid.id},  # 00:30 on 3 March in Beijing
    )
    assert month(client, staff, "2026-03")["visits"] == 2  # two Beijing days
    admin = make.user("boss", "admin")
    with app.app_context(), session_factory()() as db:
        update_settings(db, db.get(type(admin), admin.id), NOW, {"timezone": "UTC"}, app.config)
        db.commit()
        days = sorted(str(d) for d in db.scalars(select(Loan.lent_day)))
    assert days == ["2026-03-02", "2026-03-02"]
    assert month(client, staff, "2026-03")["visits"] == 1  # the same UTC day


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_visits_up_to_any_moment_agree_with_the_rules(app, make, zone):
    """"The same date last year" counts the visits begun before a moment that is not a local
    midnight: the day it cuts is counted by each visit's first loan, the other days from the
    index. Random loans crowded around that day; random windows; plain Python decides."""
    set_setting(app, "timezone", zone)
    tz = ZoneInfo(zone)
    rng = random.Random(11)
    for code in ("P01", "P02"):
        make.point(code)
    with app.app_context(), session_factory()() as db:
        db.add_all(Borrower(name=f"孩子{i}", home_point_id=1) for i in range(4))
        db.commit()
        kids = list(db.scalars(select(Borrower.id)))
    day = rules.local_midnight(datetime(2026, 3, 29).date(), tz)  # Berlin changes its clocks
    specs = [{"lent_at": day + timedelta(minutes=rng.randrange(-2 * 1440, 3 * 1440)),
              "point": rng.choice(["P01", "P02"]), "borrower_id": rng.choice(kids + [None]),
              "undone_at": None} for _ in range(200)]
    for spec in specs[::9]:
        spec["undone_at"] = spec["lent_at"] + timedelta(minutes=1)
    ids = add_loans(app, *specs)
    first: dict[tuple[Any, ...], datetime] = {}
    for loan_id, spec in zip(ids, specs, strict=True):
        if spec["undone_at"] is None:
            key = (spec["point"], spec["borrower_id"] or -loan_id, spec["lent_at"].astimezone(tz).date())
            first[key] = min(first.get(key, spec["lent_at"]), spec["lent_at"])
    with app.app_context(), session_factory()() as db:
        codes = {p.id: p.code for p in db.scalars(select(Point))}
        for _ in range(25):
            start = day + timedelta(minutes=rng.randrange(-3 * 1440, 0))
            end = start + timedelta(minutes=rng.randrange(1, 4 * 1440))
            expected: dict[str, int] = {}
            for (point, _who, _day), at in first.items():
                if start <= at < end:
                    expected[point] = expected.get(point, 0) + 1
            got: dict[str, int] = {}
            for (_day, p), n in service.visit_counts(db, start, end, tz).items():
                got[codes[p]] = got.get(codes[p], 0) + n
            assert got == expected, (start, end)


def test_a_month_without_loans_still_counts_what_is_overdue(app, client, staff, make):
    """No loans in the month, the one before or a year before: the month's other figures
    (a July loan still out, long overdue; a child who joined) are counted all the same."""
    kid = make.borrower("王小明")
    add_loans(app, {"lent_at": utc(2026, 7, 1, 3), "due_at": utc(2026, 7, 15, 3), "borrower_id": kid.id})
    m = month(client, staff, "2026-10")
    assert (m["loans"], m["distinct_borrowers"], m["overdue_at_end"]) == (0, 0, 1)
    assert m["previous"]["overdue_at_end"] == 1 and m["last_year"]["overdue_at_end"] == 0


def test_more_overdue_books_show_as_a_change_for_the_worse(app, client, make):
    """On the month page a rise is green for loans and red for books overdue at the month end."""
    import re

    kid = make.borrower("王小明")
    add_loans(
        app,
        {"lent_at": utc(2026, 9, 20, 3), "due_at": utc(2026, 10, 4, 3), "borrower_id": kid.id},
        {"lent_at": utc(2026, 10, 2, 3), "due_at": utc(2026, 10, 16, 3), "borrower_id": kid.id},
        {"lent_at": utc(2026, 10, 25, 3), "due_at": utc(2026, 11, 8, 3), "borrower_id": kid.id},
    )
    make.login(client, make.user("lib", "librarian"))
    html = client.get("/reports/month/2026-10").get_data(as_text=True)
    tone = {m.group(1): m.group(2) for m in re.finditer(
        r'data-figure="(\w+)">.*?<span class="chg ([a-z]*)">', html, re.S)}
    assert tone["loans"] == "up"              # 1 in September, 2 in October: green
    assert tone["overdue_at_end"] == "down"   # none overdue at September's end, 2 at October's: red


def test_renewing_an_overdue_book_later_does_not_change_a_past_months_overdue(app, client, staff, make):
    """A book overdue at October's end, renewed in November: October's report still counts it
    (the printed report must say the same in December); now it is not overdue."""
    kid = make.borrower("王小明")
    copy = make.copy()
    make.loan(copy, kid, lent_at=utc(2026, 10, 10, 3), days=14)  # due 24 October
    assert month(client, staff, "2026-10")["overdue_at_end"] == 1
    renewal = {"id": "9b2f1c3e-5d6a-4b7c-8d9e-0f1a2b3c4d5e", "type": "renew", "copy": copy.code,
               "point": "P01", "at": (NOW - timedelta(hours=1)).isoformat()}
    r = client.post("/api/v1/circulation/events", json={"events": [renewal]}, headers=staff)
    assert r.get_json()["results"][0]["code"] == "renewed", r.get_json()
    assert month(client, staff, "2026-10")["overdue_at_end"] == 1
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(Loan.due_at)) > NOW  # the loan's due date moved
        # from the renewal on (made at the server's "now") it is not overdue
        assert service.overdue_at(db, NOW + timedelta(seconds=1)) == 0
        assert service.overdue_at(db, NOW) == 1


def test_overdue_at_any_moment_agrees_with_the_rules_on_random_renewed_loans(app, make):
    """Random loans, renewed up to twice (some while overdue), returned or not: the SQL count of
    loans overdue at a moment equals the plain-Python rule at moments around every event."""
    from library_app.models import LoanRenewal

    rng = random.Random(3)
    make.point("P01")
    start = utc(2026, 9, 1)
    facts, rows = [], []
    for _ in range(120):
        lent = start + timedelta(hours=rng.randrange(0, 24 * 60))
        due = lent + timedelta(days=14)
        renewals = []
        t = lent
        for _ in range(rng.choice([0, 0, 1, 2])):
            t = t + timedelta(hours=rng.randrange(1, 24 * 25))
            new_due = max(t, due) + timedelta(days=14)
            renewals.append((t, due, new_due))
            due = new_due
        back = rng.choice([None, t + timedelta(hours=rng.randrange(1, 24 * 30))])
        undone = rng.random() < 0.05 and not renewals
        if undone:
            back = lent + timedelta(minutes=1)
        facts.append(rules.DueFact(lent, due, back, undone, tuple((w, b) for w, b, _a in renewals)))
        rows.append(({"lent_at": lent, "due_at": due, "returned_at": back, "renewals": len(renewals),
                      "undone_at": back if undone else None,
                      "return_kind": "undo" if undone else ("normal" if back else "")}, renewals))
    ids = add_loans(app, *[spec for spec, _r in rows])
    with app.app_context(), session_factory()() as db:
        db.add_all(LoanRenewal(loan_id=loan_id, renewed_at=w, due_before=b, due_after=a)
                   for loan_id, (_spec, renewals) in zip(ids, rows, strict=True) for w, b, a in renewals)
        db.commit()
        moments = sorted({m for f in facts for m in (f.lent_at, f.due_at, f.returned_at,
                                                      *(w for w, _b in f.renewals)) if m})
        checked = 0
        for m in moments[::3]:
            for probe in (m - timedelta(seconds=1), m, m + timedelta(seconds=1)):
                expected = rules.overdue_at(facts, probe)
                # whichever index SQLite is told to read late returns from, the same count
                for late_by_due in (None, True, False):
                    assert service.overdue_at(db, probe, late_by_due=late_by_due) == expected, probe
                checked += 1
    assert checked > 100 and max(rules.overdue_at(facts, m) for m in moments) > 5
