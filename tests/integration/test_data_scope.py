"""Data scope, walked over the whole URL map (issue 13.1; trust.md "data scope on every path to
a child"): a story mother of P01 reaches a child of P02 by every argument an endpoint takes
(the child's id, her card code, the codes of the books she has, the loans' ids), by GET and by
POST, page and API, and no answer names that child, her guardian or their phone.

The walk is driven by the URL map: an endpoint added later is walked too, and an argument this
file does not know how to fill fails the walk (teach ``_values`` about it), so a new path to a
child cannot ship unchecked. Binary answers (images, spreadsheets) cannot be read for names: an
endpoint answering one with 200 must be listed in ``BINARY_WITHOUT_PERSONAL_DATA``; spreadsheets
are read cell by cell.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from flask import url_for
from sqlalchemy import select

from library_app.access import allowed_roles, is_public
from library_app.db import session_factory
from library_app.models import AuditLog, Loan, ReviewItem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHILD, GUARDIAN, PHONE = "欧阳跨点", "欧阳监护人", "13900001111"
LEAKS = (CHILD, GUARDIAN, PHONE, "139****1111", "欧阳跨")

# Binary answers a story mother may get with 200: what they hold was checked by hand.
BINARY_WITHOUT_PERSONAL_DATA = {
    "api.card_qr",  # the QR of the code in the URL, nothing else
    "api.copy_qr_png", "api.copy_qr_svg",
    "offline.manifest", "offline.service_worker",
}

# Endpoints that end her session: walked by nothing here (the rest of the walk must stay signed
# in; a POST that signs her out is caught below and must be listed here).
SESSION_ENDERS = {"auth.logout"}


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture(params=["story_mother"])
def role(request):
    return request.param


@pytest.fixture
def world(app, make, role):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    mama = make.user(f"{role}_p01", role, points=["P01"])
    own = make.borrower("王小明", point="P01")
    child = make.borrower(CHILD, point="P02", guardian_name=GUARDIAN, guardian_phone=PHONE)
    long_ago = datetime.now(UTC) - timedelta(days=40)
    at_home = make.copy(make.title("好饿的毛毛虫"), point="P02")      # lent at her own point
    visiting = make.copy(make.title("猜猜我有多爱你"), point="P01")   # lent to her at P01
    free = make.copy(make.title("大卫，不可以"), point="P01")
    loans = [make.loan(at_home, child, point="P02", lent_at=long_ago),
             make.loan(visiting, child, point="P01", lent_at=long_ago)]
    with app.app_context(), session_factory()() as db:
        item = ReviewItem(event_id=str(uuid.uuid4()), loan_id=loans[0].id, point_id=loans[0].point_id,
                          reason="clock", message="设备时间不对", details={}, resolution="")
        db.add(item)
        db.commit()
        review_id = item.id
    return {"mama": mama, "own": own, "child": child, "card": make.card_code(child),
            "copies": [at_home.code, visiting.code], "free": free.code,
            "loans": [loan.id for loan in loans], "review": review_id, "titles": [at_home.title_id]}


def _values(arg: str, conv: str, w) -> list[object]:
    """Every value of one URL argument that reaches the other point's child."""
    if arg == "borrower_id":
        return [w["child"].id]
    if arg == "loan_id":
        return w["loans"]
    if arg == "item_id":
        return [w["review"]]
    if arg == "title_id":
        return w["titles"]
    if arg in ("code",) or "path" in conv:
        return [w["card"], *w["copies"]]
    if arg == "fmt":
        return ["csv", "json", "xlsx", "png"]
    if arg == "month":
        return [datetime.now(UTC).strftime("%Y-%m")]
    if arg == "year":
        return [str(datetime.now(UTC).year)]
    if arg == "lang":
        return ["zh_CN"]
    if arg in ("volunteer_id", "activity_id", "stocktake_id", "kiosk_id", "source_id",
               "invite_id"):
        # Rows of the newer areas: the walk's world has none of the other point's yet (the first
        # id, if any, is walked); their own tests check their scope (test_activities_api,
        # test_stocktake_api, test_kiosk_api).
        return [1]
    raise AssertionError(f"test_data_scope does not know how to fill <{arg}>: teach _values about it")


def _urls(app, rule, w) -> list[str]:
    names = sorted(rule.arguments)
    choices = [_values(a, rule._converters[a].__class__.__name__.lower(), w) for a in names]
    urls = []
    with app.test_request_context():
        for combo in itertools.product(*choices):
            try:
                urls.append(url_for(rule.endpoint, **dict(zip(names, combo, strict=True))))
            except Exception:  # noqa: BLE001 - a value this rule's converter refuses
                continue
    return urls


def _her_routes(app, method: str, role: str):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static" or is_public(view) or method not in rule.methods:
            continue
        if role in (allowed_roles(view) or ()):
            yield rule


def _text(r) -> str | None:
    """The answer as text a person would read (JSON decoded, so no \\u escapes), or None."""
    kind = r.mimetype or ""
    if kind == "application/json":
        return json.dumps(r.get_json(silent=True), ensure_ascii=False)
    if kind.startswith("text/") or kind in ("application/javascript", "application/manifest+json",
                                            "image/svg+xml"):
        return r.get_data(as_text=True)
    if kind == XLSX and r.status_code == 200:  # every cell of every sheet, as text
        book = openpyxl.load_workbook(io.BytesIO(r.get_data()), read_only=True)
        return "\n".join(str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                         for v in row if v is not None)
    return None


def _events(w) -> list[dict[str, object]]:
    at = datetime.now(UTC).isoformat()
    return [
        {"id": str(uuid.uuid4()), "type": "loan", "copy": w["free"], "card": w["card"], "point": "P01", "at": at},
        {"id": str(uuid.uuid4()), "type": "loan", "copy": w["copies"][1], "card": w["own_card"], "point": "P01",
         "at": at},
        {"id": str(uuid.uuid4()), "type": "return", "copy": w["copies"][0], "point": "P01", "at": at},
    ]


def _walk(app, w, client, api, csrf, method: str, seen: list[tuple[str, str, int]]) -> list[str]:
    """Pages with the signed-in browser ``client``; the API with a bearer token on a client
    without a session (a session would make its POSTs need a CSRF token)."""
    leaks = []
    bare = app.test_client()
    for rule in _her_routes(app, method, w["mama"].role):
        if rule.endpoint in SESSION_ENDERS:
            continue
        for url in _urls(app, rule, w):
            variants = [url]
            if method == "GET":
                variants.append(url + "?" + "&".join(f"{k}={v}" for k, v in
                                                     {"q": "ouyang", "card": w["card"], "point": "P01"}.items()))
                # asking for the other point, or for her by id or card code (card sheets, reports)
                variants.append(url + "?" + "&".join(f"{k}={v}" for k, v in
                                                     {"point": "P02", "ids": w["child"].id, "codes": w["card"],
                                                      "mode": "since", "since": "2000-01-01"}.items()))
            for target in variants:
                is_api = rule.rule.startswith("/api/")
                if method == "GET":
                    r = (bare.get(target, headers=api) if is_api
                         else client.get(target, follow_redirects=True))
                    assert is_api or r.request.path != "/login", f"GET {target} found her signed out"
                elif is_api:
                    body = {"events": _events(w), "card": w["card"], "copy": w["copies"][0], "point": "P01",
                            "borrower": w["child"].id, "event_id": "", "consent": True, "name": "新来的"}
                    r = bare.open(target, method=method, json=body, headers=api)
                else:
                    forms = [{"action": a, "csrf_token": csrf, "card": w["card"], "copy": c, "point": "P01",
                              "borrower_id": w["child"].id, "q": "ouyang"}
                             for a in ("loan", "return", "renew") for c in (w["free"], *w["copies"])]
                    for form in forms:
                        client.post(target, data=form)
                    r = client.get("/scan")  # the flashed answers land here
                    assert r.status_code == 200, f"{target} signed her out: list it in SESSION_ENDERS"
                seen.append((method, target, r.status_code))
                text = _text(r)
                if text is None:
                    if r.status_code == 200 and rule.endpoint not in BINARY_WITHOUT_PERSONAL_DATA:
                        leaks.append(f"{method} {target}: 200 {r.mimetype} unchecked binary")
                    continue
                found = [x for x in LEAKS if x in text]
                if found:
                    leaks.append(f"{method} {target}: {r.status_code} shows {found}")
    return leaks


@pytest.mark.parametrize("role", ["story_mother", "point_lead"], indirect=True)
def test_a_point_bound_user_reaches_no_other_points_child_by_any_endpoint(app, make, world, role):
    """A story mother of P01, and a point lead of P01 (a librarian's powers there: children,
    cards, card sheets, loans, the review queue, reports, stocktakes), walk everything."""
    w = world
    w["own_card"] = make.card_code(w["own"])
    client = app.test_client()
    make.login(client, w["mama"])
    api = make.token(w["mama"])
    csrf = _csrf(client.get("/scan").get_data(as_text=True))
    seen: list[tuple[str, str, int]] = []
    leaks = _walk(app, w, client, api, csrf, "GET", seen)
    for _round in range(2):  # twice: /scan/act comes before /scan/current in the map's order
        leaks += _walk(app, w, client, api, csrf, "POST", seen)
    leaks += _walk(app, w, client, api, csrf, "GET", seen)  # after lending and returning
    assert leaks == [], "\n".join(leaks)
    assert len({t for _m, t, _s in seen}) >= 40  # the walk really went places
    # The walk reached the circulation look-ups and they answered (masked), not only refusals.
    reached = {t for _m, t, s in seen if s == 200}
    assert f"/api/v1/circulation/cards/{w['card']}" in reached
    assert f"/api/v1/circulation/copies/{w['copies'][0]}" in reached
    assert ("POST", "/api/v1/circulation/events", 200) in seen  # lent to her and took her books back
    assert ("POST", "/scan/current", 200) in seen


def test_the_other_points_child_comes_back_masked_and_her_book_can_still_be_returned(app, make, world):
    w = world
    client = app.test_client()
    api = make.token(w["mama"])
    card = client.get(f"/api/v1/circulation/cards/{w['card']}", headers=api).get_json()
    assert card["borrower"] == {"id": None, "name": "欧**点", "point": None, "status": "active", "masked": True}
    assert [loan["title"] for loan in card["loans"]] == ["", ""] and card["open_loans"] == 2
    copy = client.get(f"/api/v1/circulation/copies/{w['copies'][0]}", headers=api).get_json()
    assert copy["loan"]["borrower"] == {"name": "欧**点", "card": None, "masked": True}
    r = client.post("/api/v1/circulation/events", headers=api, json={"events": [
        {"id": str(uuid.uuid4()), "type": "return", "copy": w["copies"][0], "point": "P01",
         "at": datetime.now(UTC).isoformat()}]}).get_json()["results"][0]
    assert r["status"] in ("applied", "review") and r["code"] != "not_on_loan"
    assert CHILD not in r["message"] and "欧**点" in r["message"]
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(Loan.returned_at).where(Loan.id == w["loans"][0])) is not None
        # a masked answer is no view of the child's details: nothing logged as one
        assert db.scalars(select(AuditLog.action).where(AuditLog.target_type == "borrower",
                                                        AuditLog.target_id == str(w["child"].id))).all() == []


def test_her_own_child_is_shown_in_full_and_each_look_up_is_logged(app, make, world):
    w = world
    client = app.test_client()
    api = make.token(w["mama"])
    card = client.get(f"/api/v1/circulation/cards/{make.card_code(w['own'])}", headers=api).get_json()
    assert card["borrower"]["name"] == "王小明" and card["borrower"]["id"] == w["own"].id
    client.get(f"/api/v1/circulation/cards/{make.card_code(w['own'])}", headers=api)
    with app.app_context(), session_factory()() as db:
        rows = db.execute(select(AuditLog.action, AuditLog.details).where(
            AuditLog.target_type == "borrower", AuditLog.target_id == str(w["own"].id))).all()
    assert [(a, d.get("via")) for a, d in rows] == [("borrower.view", "scan")] * 2


def test_sequential_card_codes_give_away_no_other_points_child(app, make):
    """The tester's attack: a P01 story mother walks card codes. Counted, not only asserted."""
    make.point("P01")
    mama = make.user("mama_walk", "story_mother", points=["P01"])
    children = [make.borrower(f"外点孩子{i:02d}号", point="P02") for i in range(20)]
    client = app.test_client()
    api = make.token(mama)
    named = 0
    for child in children:
        body = client.get(f"/api/v1/circulation/cards/{make.card_code(child)}", headers=api).get_data(as_text=True)
        text = json.dumps(json.loads(body), ensure_ascii=False)
        named += child.name in text or str(child.id) in re.findall(r'"id": (\d+)', text)
    print(f"cross-point card look-ups that named the child: {named} of {len(children)}")
    assert named == 0


def _session_payload(client) -> str:
    """The Flask session cookie, decoded: it is signed, not encrypted, so anyone can read it."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    data = cookie.value.split(".")[0] if not cookie.value.startswith(".") else cookie.value[1:].split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    if cookie.value.startswith("."):
        raw = zlib.decompress(raw)
    return json.dumps(json.loads(raw), ensure_ascii=False)


def test_the_session_cookie_keeps_no_childs_name_when_she_is_made_current(app, make, world):
    w = world
    client = app.test_client()
    make.login(client, w["mama"])
    csrf = _csrf(client.get("/scan").get_data(as_text=True))
    own_card = make.card_code(w["own"])
    r = client.post("/scan/current", data={"csrf_token": csrf, "card": own_card, "point": "P01"})
    assert r.status_code == 302
    payload = _session_payload(client)
    assert own_card in payload and "王小明" not in payload
    # the copy page still offers 借给 <her name>, read on the server
    html = client.get(f"/copies/{w['free']}").get_data(as_text=True)
    assert "借给 王小明" in html
    # another point's child made current: the page names her masked only
    client.post("/scan/current", data={"csrf_token": csrf, "card": w["card"], "point": "P01"})
    assert CHILD not in _session_payload(client)
    html = client.get(f"/copies/{w['free']}").get_data(as_text=True)
    assert CHILD not in html and "借给 欧**点" in html


def test_an_implicit_return_does_not_name_the_other_child_in_full(app, make, world):
    w = world
    client = app.test_client()
    api = make.token(w["mama"])
    own_card = make.card_code(w["own"])
    r = client.post("/api/v1/circulation/events", headers=api, json={"events": [
        {"id": str(uuid.uuid4()), "type": "loan", "copy": w["copies"][1], "card": own_card, "point": "P01",
         "at": datetime.now(UTC).isoformat()}]}).get_json()["results"][0]
    assert r["code"] == "implicit_return"
    assert CHILD not in json.dumps(r, ensure_ascii=False)
    assert "原来借给了欧**点" in r["message"] and "现在借给王小明" in r["message"]
    assert r["previous"]["borrower"]["name"] == "欧**点"
    with app.app_context(), session_factory()() as db:  # nor what the server keeps of the answer
        from library_app.models import CirculationEvent
        stored = db.scalar(select(CirculationEvent.message).where(CirculationEvent.event_id == r["id"]))
    assert CHILD not in stored


def test_registering_a_namesake_of_another_points_child_does_not_give_away_her_card(app, make, world):
    """The duplicate warning: she typed the name and phone, so the child may be named back, but
    the other point's child's card code (a key to her loans) is not shown."""
    w = world
    client = app.test_client()
    make.login(client, w["mama"])
    csrf = _csrf(client.get("/borrowers/new").get_data(as_text=True))
    page = client.post("/borrowers/new", data={
        "csrf_token": csrf, "name": CHILD, "point": "P01", "type": "child", "consent": "y",
        "guardian_name": "别的家长", "guardian_phone": PHONE}).get_data(as_text=True)
    assert "可能重复登记" in page and "P02" in page
    assert w["card"] not in page


def test_the_overdue_call_list_logs_each_own_child_and_masks_a_visiting_one(app, make, world):
    w = world
    make.loan(make.copy(make.title("小熊很忙"), point="P01"), w["own"], point="P01",
              lent_at=datetime.now(UTC) - timedelta(days=30))
    client = app.test_client()
    make.login(client, w["mama"])
    page = client.get("/circulation/overdue").get_data(as_text=True)
    assert "王小明" in page and "王大明" in page  # her own child and guardian, for the call
    assert "欧**点" in page and CHILD not in page and GUARDIAN not in page  # lent here, lives at P02
    with app.app_context(), session_factory()() as db:
        rows = db.execute(select(AuditLog.target_id, AuditLog.details).where(
            AuditLog.action == "borrower.view")).all()
    assert [(t, d.get("via")) for t, d in rows] == [(str(w["own"].id), "overdue")]
