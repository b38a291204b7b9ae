"""The offline scan screen's server side: the phone's cache of codes, the manifest, the worker."""

from __future__ import annotations

import json

import pytest

from library_app.domain.offline_cache import (
    NoPointToCache,
    PointNotYours,
    mask_name,
    points_to_cache,
)

# ---------------------------------------------------------------- rules, plain values

@pytest.mark.parametrize(("name", "masked"), [
    ("王小明", "王*明"), ("王明", "王*"), ("欧阳小明", "欧**明"), ("李", "*"), ("", ""),
    (" 张 三 丰 ", "张*丰"), ("Anna", "A**a"),
])
def test_names_are_masked(name, masked):
    assert mask_name(name) == masked


def test_a_story_mother_caches_her_points_only():
    assert points_to_cache("story_mother", ["P01", "P02"], [], ["P01", "P02", "P03"]) == ["P01", "P02"]
    assert points_to_cache("story_mother", ["P01", "P02"], ["p02 "], []) == ["P02"]
    with pytest.raises(PointNotYours) as refused:
        points_to_cache("story_mother", ["P01"], ["P01", "P03"], ["P01", "P03"])
    assert "P03" in refused.value.message
    with pytest.raises(NoPointToCache):
        points_to_cache("story_mother", [], [], ["P01"])


def test_staff_cache_what_they_ask_for_or_every_active_point():
    assert points_to_cache("librarian", [], ["P03"], ["P01"]) == ["P03"]
    assert points_to_cache("admin", [], [], ["P02", "P01"]) == ["P01", "P02"]
    with pytest.raises(PointNotYours):
        points_to_cache("viewer", [], [], ["P01"])


# ---------------------------------------------------------------- the API, on both databases

def _world(make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "南水镇故事会点")
    book = make.title("猜猜我有多爱你")
    other_book = make.title("好饿的毛毛虫")
    here = make.copy(book, point="P01")
    lent = make.copy(other_book, point="P01")
    elsewhere = make.copy(book, point="P02")
    child = make.borrower("王小明", point="P01", guardian_phone="13812345678")
    far_child = make.borrower("陈大文", point="P02")
    make.loan(lent, child, point="P01")
    return here, lent, elsewhere, child, far_child


def test_story_mother_gets_codes_titles_and_masked_names_of_her_point(make, client):
    here, lent, elsewhere, child, far_child = _world(make)
    mother = make.user("mama", "story_mother", points=["P01"])
    make.login(client, mother)
    r = client.get("/api/v1/circulation/offline-cache")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    data = r.get_json()
    assert data["user"] == "mama"
    assert data["points"] == [{"code": "P01", "name": "三灶镇故事会点"}]
    assert data["loan_limit"] == 3
    copies = {c["code"]: c for c in data["copies"]}
    assert set(copies) == {here.code, lent.code}
    assert copies[here.code] == {"code": here.code, "title": "猜猜我有多爱你", "status": "available",
                                 "point": "P01", "card": None, "due_at": None}
    assert copies[lent.code]["status"] == "on_loan"
    assert copies[lent.code]["card"] == make.card_code(child)
    assert copies[lent.code]["due_at"]
    cards = {c["code"]: c for c in data["cards"]}
    assert cards == {make.card_code(child): {
        "code": make.card_code(child), "name": "王*明", "status": "active",
        "borrower_status": "active", "point": "P01", "open_loans": 1}}
    # Nothing but masked names: no full name, no guardian, no phone anywhere in the body.
    text = r.get_data(as_text=True)
    for secret in ("王小明", "王大明", "13812345678", "陈大文", "****5678"):
        assert secret not in text
    # not even the masked phone's last digits in a field (a timestamp's microseconds may hold them)
    fields = [v for c in data["cards"] + data["copies"] for v in c.values() if isinstance(v, str)]
    assert not [v for v in fields if "5678" in v]


def test_a_child_from_elsewhere_with_a_book_lent_here_is_in_the_cache(make, client):
    make.point("P01")
    make.point("P02")
    book = make.copy(make.title("小蓝和小黄"), point="P02")
    visitor = make.borrower("刘一一", point="P02")
    make.loan(book, visitor, point="P01")
    mother = make.user("mama", "story_mother", points=["P01"])
    make.login(client, mother)
    data = client.get("/api/v1/circulation/offline-cache?point=P01").get_json()
    assert [c["code"] for c in data["copies"]] == [book.code]
    assert [c["name"] for c in data["cards"]] == ["刘*一"]


def test_story_mother_is_refused_another_point(make, client):
    _world(make)
    mother = make.user("mama", "story_mother", points=["P01"])
    make.login(client, mother)
    r = client.get("/api/v1/circulation/offline-cache?point=P02")
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "not_your_point"
    r = client.get("/api/v1/circulation/offline-cache?point=P01,P02")
    assert r.status_code == 403


def test_librarian_asks_for_any_point_and_unknown_points_are_404(make, client):
    _, _, elsewhere, _, far_child = _world(make)
    librarian = make.user("lib", "librarian")
    make.login(client, librarian)
    data = client.get("/api/v1/circulation/offline-cache?point=P02").get_json()
    assert [c["code"] for c in data["copies"]] == [elsewhere.code]
    assert [c["name"] for c in data["cards"]] == ["陈*文"]
    everything = client.get("/api/v1/circulation/offline-cache").get_json()
    assert [p["code"] for p in everything["points"]] == ["P01", "P02"]
    assert len(everything["copies"]) == 3
    r = client.get("/api/v1/circulation/offline-cache?point=P99")
    assert r.status_code == 404


def test_viewer_and_anonymous_are_refused(make, client, app):
    _world(make)
    assert client.get("/api/v1/circulation/offline-cache").status_code == 401
    viewer = make.user("board", "viewer")
    make.login(client, viewer)
    assert client.get("/api/v1/circulation/offline-cache").status_code == 403
    assert client.get("/api/v1/circulation/offline-session").status_code == 403


def test_revoked_cards_are_kept_so_the_phone_can_say_so(make, client, app):
    from library_app.db import session_factory
    from library_app.models import Card

    make.point("P01")
    child = make.borrower("赵小雨", point="P01")
    old = make.card_code(child)
    with app.app_context(), session_factory()() as db:
        card = db.query(Card).filter_by(code=old).one()
        card.status = "revoked"
        db.commit()
    make.login(client, make.user("mama", "story_mother", points=["P01"]))
    cards = client.get("/api/v1/circulation/offline-cache").get_json()["cards"]
    assert cards == [{"code": old, "name": "赵*雨", "status": "revoked", "borrower_status": "active",
                      "point": "P01", "open_loans": 0}]


def test_offline_session_gives_a_token_that_the_session_accepts(make, client):
    make.point("P01")
    make.login(client, make.user("mama", "story_mother", points=["P01"]))
    r = client.get("/api/v1/circulation/offline-session")
    assert r.status_code == 200
    data = r.get_json()
    assert data["user"] == {"username": "mama", "role": "story_mother", "points": ["P01"]}
    assert r.headers["Cache-Control"] == "no-store"
    # The token works for a browser POST of this session (the language switch is one).
    ok = client.post("/lang/en", headers={"X-CSRFToken": data["csrf_token"]})
    assert ok.status_code == 302
    assert client.post("/lang/en", headers={"X-CSRFToken": "forged"}).status_code == 400


# ---------------------------------------------------------------- manifest and service worker

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_manifest_makes_the_scan_screen_installable(client):
    r = client.get("/manifest.webmanifest")
    assert r.status_code == 200
    assert r.mimetype == "application/manifest+json"
    data = json.loads(r.get_data(as_text=True))
    assert data["start_url"] == "/scan"
    assert data["display"] == "standalone"
    assert data["short_name"] == "扫码借还"
    sizes = {(i["sizes"], i["purpose"]) for i in data["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in data["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == "image/png"
        from io import BytesIO

        from PIL import Image

        w, h = Image.open(BytesIO(image.data)).size
        assert f"{w}x{h}" == icon["sizes"]
        image.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_service_worker_is_served_at_the_root_with_its_scope_and_a_content_version(app, client):
    r = client.get("/sw.js")
    assert r.status_code == 200
    assert r.mimetype == "text/javascript"
    assert r.headers["Service-Worker-Allowed"] == "/"
    assert r.headers["Cache-Control"] == "no-cache"
    first_line, rest = r.get_data(as_text=True).split("\n", 1)
    config = json.loads(first_line.removeprefix("self.OFFLINE_CONFIG = ").rstrip(";"))
    assert config["pages"] == ["/scan", "/kiosk"]  # kept and opened offline
    assert config["precache"] == ["/scan"]  # fetched at install: phones never download the kiosk
    assert "/manifest.webmanifest" in config["shell"]
    assert "/static/css/app.css" in config["shell"]
    assert "addEventListener(\"fetch\"" in rest


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_worker_version_changes_when_a_kept_file_changes(app, tmp_path):
    import shutil

    from library_app.offline import views

    static = tmp_path / "static"
    shutil.copytree(app.static_folder, static)
    before = views._fingerprint(static)
    assert views._fingerprint(static) == before
    (static / "js" / "outbox.js").write_text("// changed\n", encoding="utf-8")
    assert views._fingerprint(static) != before
