"""Stocktake contract (api.md "Stocktake") on SQLite and PostgreSQL, with real concurrent phones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import Copy, StocktakeScan
from tests.threads import at_once, post_json


def scan(code: str, sid: str | None = None) -> dict:
    return {"id": sid or str(uuid.uuid4()), "copy": code, "at": datetime.now(UTC).isoformat()}


def status_of(app, code: str) -> str:
    with app.app_context(), session_factory()() as db:
        return db.scalar(select(Copy.status).where(Copy.code == code))


def open_at(client, headers, point="P01"):
    r = client.post("/api/v1/stocktakes", json={"point": point}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def post_scans(client, headers, sid, scans):
    return client.post(f"/api/v1/stocktakes/{sid}/scans", json={"scans": scans}, headers=headers)


def test_open_scan_close_classifies_each_scan_and_marks_only_unfound_copies_missing(app, client, make):
    librarian = make.user("lib", "librarian")
    h = make.token(librarian)
    title = make.title("小熊很忙")
    here = [make.copy(title, point="P01") for _ in range(4)]
    other = make.copy(title, point="P02")
    lent = make.copy(title, point="P01")
    make.loan(lent, make.borrower("李小红"))
    withdrawn = make.copy(title, point="P01", status="withdrawn")

    st = open_at(client, h)
    assert st["point"] == "P01" and st["status"] == "open"
    # expected: the four on the shelf; not the lent one, not the withdrawn one, not P02's
    assert st["expected"] == 4

    first = scan(here[0].code)
    r = post_scans(client, h, st["id"], [first, scan(other.code), scan(lent.code), scan("B0000018"),
                                         scan(here[0].code), scan(here[1].code)])
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == ["found", "elsewhere", "on_loan", "unknown", "duplicate", "found"]
    assert results[0]["id"] == first["id"]
    assert "P02" in results[1]["where"] and "P02" in results[1]["message"]  # says where it belongs
    # the same scan id again: duplicate, nothing changes
    again = post_scans(client, h, st["id"], [first]).get_json()["results"]
    assert again == [{"id": first["id"], "status": "duplicate", "code": "scan_repeated",
                      "message": "这次扫描已经记录过了。", **{k: v for k, v in again[0].items()
                                                    if k not in ("id", "status", "code", "message")}}]
    body = client.get(f"/api/v1/stocktakes/{st['id']}", headers=h).get_json()
    assert body["found"] == 2 and body["expected"] == 4
    assert sorted(body["missing"]) == sorted([here[2].code, here[3].code])  # not yet found
    assert body["elsewhere"] == [other.code] and body["on_loan"] == [lent.code]
    # the stocktake never returns a loan, and nothing is missing before closing
    assert status_of(app, lent.code) == "on_loan"
    assert {status_of(app, c.code) for c in here} == {"available"}

    closed = client.post(f"/api/v1/stocktakes/{st['id']}/close", headers=h)
    assert closed.status_code == 200
    done = closed.get_json()
    assert done["status"] == "closed" and sorted(done["missing"]) == sorted([here[2].code, here[3].code])
    assert [status_of(app, c.code) for c in here] == ["available", "available", "missing", "missing"]
    # a partial count touches nothing outside its point; nothing deleted
    assert status_of(app, other.code) == "available"
    assert status_of(app, withdrawn.code) == "withdrawn"
    assert status_of(app, lent.code) == "on_loan"
    # closing twice: refused, clearly
    again = client.post(f"/api/v1/stocktakes/{st['id']}/close", headers=h)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "stocktake_closed"


def test_stocktakes_at_several_points_at_once_and_one_per_point(app, client, make):
    h = make.token(make.user("lib", "librarian"))
    a = make.copy(point="P01")
    b = make.copy(point="P02")
    first = open_at(client, h, "P01")
    second = open_at(client, h, "P02")
    assert first["id"] != second["id"]
    r = client.post("/api/v1/stocktakes", json={"point": "P01"}, headers=h)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "stocktake_open"
    # a scan in one never counts in the other; opening the second emptied nothing of the first
    assert post_scans(client, h, first["id"], [scan(a.code)]).get_json()["results"][0]["status"] == "found"
    assert post_scans(client, h, second["id"], [scan(a.code)]).get_json()["results"][0]["status"] == "elsewhere"
    assert client.get(f"/api/v1/stocktakes/{first['id']}", headers=h).get_json()["found"] == 1
    client.post(f"/api/v1/stocktakes/{second['id']}/close", headers=h)
    assert status_of(app, b.code) == "missing" and status_of(app, a.code) == "available"
    # after closing, the point can be counted again; the old one stays in the history
    third = open_at(client, h, "P02")
    assert third["expected"] == 1  # the missing copy is expected again: found, it comes back
    assert post_scans(client, h, third["id"], [scan(b.code)]).get_json()["results"][0]["status"] == "found"
    assert status_of(app, b.code) == "available"
    assert client.get(f"/api/v1/stocktakes/{second['id']}", headers=h).get_json()["missing"] == [b.code]


def test_roles_and_points(app, client, make):
    make.point("P01")
    make.point("P02")
    lib = make.token(make.user("lib", "librarian"))
    mother = make.token(make.user("mama", "story_mother", points=["P01"]))
    viewer = make.token(make.user("view", "viewer"))
    c = make.copy(point="P01")
    st1 = open_at(client, lib, "P01")
    st2 = open_at(client, lib, "P02")
    assert client.post("/api/v1/stocktakes", json={"point": "P03"}, headers=mother).status_code == 403
    assert client.post("/api/v1/stocktakes", json={"point": "P01"}, headers=viewer).status_code == 403
    # a story mother scans at her point, not at another
    assert post_scans(client, mother, st1["id"], [scan(c.code)]).status_code == 200
    r = post_scans(client, mother, st2["id"], [scan(c.code)])
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_your_point"
    assert post_scans(client, viewer, st1["id"], [scan(c.code)]).status_code == 403
    assert client.get(f"/api/v1/stocktakes/{st2['id']}", headers=mother).status_code == 403
    assert client.post(f"/api/v1/stocktakes/{st1['id']}/close", headers=mother).status_code == 403
    # bad input: a Chinese message and a 4xx, never a 500
    for bad in ({}, {"scans": []}, {"scans": [{"copy": c.code}]}, {"scans": [{"id": str(uuid.uuid4())}]},
                {"scans": ["B0000018"]}):
        r = client.post(f"/api/v1/stocktakes/{st1['id']}/scans", json=bad, headers=lib)
        assert r.status_code == 422, (bad, r.status_code)
        assert r.get_json()["error"]["message"]
    assert client.post("/api/v1/stocktakes", json={"point": ""}, headers=lib).status_code == 422
    assert client.post("/api/v1/stocktakes", json={"point": "P99"}, headers=lib).status_code == 404
    assert post_scans(client, lib, 999, [scan(c.code)]).status_code == 404
    # a mistyped code is an unknown scan with the reason, not a refusal of the batch
    r = post_scans(client, lib, st1["id"], [scan("B0000019")]).get_json()["results"][0]
    assert r["status"] == "unknown" and "校验位" in r["message"]


def test_missing_copy_lent_or_returned_later_is_back(app, client, make):
    h = make.token(make.user("lib", "librarian"))
    lent_later, returned_later = make.copy(point="P01"), make.copy(point="P01")
    borrower = make.borrower("王小明")
    card = make.card_code(borrower)
    st = open_at(client, h)
    client.post(f"/api/v1/stocktakes/{st['id']}/close", headers=h)
    assert status_of(app, lent_later.code) == status_of(app, returned_later.code) == "missing"

    def event(kind, code):
        e = {"id": str(uuid.uuid4()), "type": kind, "copy": code, "point": "P01",
             "at": datetime.now(UTC).isoformat()}
        if kind == "loan":
            e["card"] = card
        return client.post("/api/v1/circulation/events", json={"events": [e]}, headers=h).get_json()["results"][0]

    lent = event("loan", lent_later.code)
    assert lent["status"] == "applied" and "缺失" in lent["message"]
    assert status_of(app, lent_later.code) == "on_loan"
    event("return", lent_later.code)
    assert status_of(app, lent_later.code) == "available"
    back = event("return", returned_later.code)  # a return of a copy not on loan: it is here
    assert back["status"] == "applied" and "缺失" in back["message"]
    assert status_of(app, returned_later.code) == "available"


def test_scans_sent_after_close_are_still_recorded_and_bring_copies_back(app, client, make):
    h = make.token(make.user("lib", "librarian"))
    c = make.copy(point="P01")
    st = open_at(client, h)
    client.post(f"/api/v1/stocktakes/{st['id']}/close", headers=h)
    assert status_of(app, c.code) == "missing"
    r = post_scans(client, h, st["id"], [scan(c.code)]).get_json()["results"][0]  # an offline phone syncs late
    assert r["status"] == "found" and "已经结束" in r["message"]
    assert status_of(app, c.code) == "available"
    body = client.get(f"/api/v1/stocktakes/{st['id']}", headers=h).get_json()
    assert body["missing"] == [] and body["found"] == 1


# ---------------------------------------------------------------- real threads, real server

def call(url: str, headers: dict[str, str], sid: int, scans: list[dict]) -> tuple[int, dict]:
    return post_json(f"{url}/api/v1/stocktakes/{sid}/scans", headers, {"scans": scans})


def test_many_phones_at_once_count_each_scan_and_each_copy_once(app, live_server, make):
    lib = make.user("lib", "librarian")
    mothers = [make.token(make.user(f"mama{i}", "story_mother", points=["P01"])) for i in range(4)]
    title = make.title("好饿的毛毛虫")
    copies = [make.copy(title, point="P01") for _ in range(24)]
    with app.test_client() as client:
        st = open_at(client, make.token(lib))
    sid = st["id"]
    shared = scan(copies[0].code)  # the very same scan (one id) sent by two phones
    twins = [[shared, scan(c.code)] for c in copies[1:3]]

    def phone(i: int):
        if i < 2:
            return call(live_server.url, mothers[i], sid, twins[i])
        # the other phones scan every copy (in another order), each with its own scan ids
        order = copies[i::1] + copies[:i]
        return call(live_server.url, mothers[i], sid, [scan(c.code) for c in order])

    answers = at_once(4, phone)
    assert all(status == 200 for status, _ in answers), answers
    statuses = [r["status"] for _, body in answers for r in body["results"]]
    # the shared scan id: one answer says what it was, the other says duplicate
    shared_answers = [r["status"] for _, body in answers[:2] for r in body["results"] if r["id"] == shared["id"]]
    assert sorted(shared_answers) in (["duplicate", "found"], ["duplicate", "duplicate"])
    assert statuses.count("found") == 24  # each copy found exactly once, whoever got there first
    with app.app_context(), session_factory()() as db:
        stored = db.scalar(select(func.count()).select_from(StocktakeScan).where(StocktakeScan.scan_id == shared["id"]))
        counted = db.scalar(select(func.count()).select_from(StocktakeScan)
                            .where(StocktakeScan.stocktake_id == sid, StocktakeScan.status == "found"))
    assert stored == 1 and counted == 24
    with app.test_client() as client:
        body = client.get(f"/api/v1/stocktakes/{sid}", headers=make.token(lib)).get_json()
    assert body["found"] == 24 and body["expected"] == 24 and body["missing"] == []


def test_each_answer_counts_what_the_summary_counts(app, client, make):
    """The found count a scan answers with (read from stocktake_tallies) is the summary's count
    of found items after every request: books found in batches, a twin scan, a copy that
    arrived after the snapshot, a scan sent again, and a scan after closing."""
    librarian = make.user("lib", "librarian")
    h = make.token(librarian)
    title = make.title("小熊很忙")
    here = [make.copy(title, point="P01") for _ in range(6)]
    st = open_at(client, h)
    late = make.copy(title, point="P01")  # on the shelf after the snapshot was taken
    first = scan(here[0].code)
    batches = [[first, scan(here[1].code)], [first, scan(here[1].code), scan(here[2].code)],
               [scan(late.code), scan(here[3].code), scan(here[3].code)], [scan("B0000018")]]
    for batch in batches:
        results = post_scans(client, h, st["id"], batch).get_json()["results"]
        summary = client.get(f"/api/v1/stocktakes/{st['id']}", headers=h).get_json()
        assert {r["found"] for r in results} == {summary["found"]}
    assert summary["found"] == 5 and summary["expected"] == 7  # the late copy is expected now too
    client.post(f"/api/v1/stocktakes/{st['id']}/close", headers=h)
    results = post_scans(client, h, st["id"], [scan(here[4].code)]).get_json()["results"]
    assert results[0]["status"] == "found" and results[0]["found"] == 6
    assert client.get(f"/api/v1/stocktakes/{st['id']}", headers=h).get_json()["found"] == 6
