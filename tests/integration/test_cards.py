"""Cards: replacement revokes the old one, pre-printed cards bind once, QR and card images,
the card sheet (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from library_app.db import session_factory
from library_app.domain.codes import make_code, parse_code
from library_app.models import AuditLog, Card
from library_app.services import card_image
from tests.conftest import missing
from tests.integration.test_auth import csrf_from

BASE = "http://lib.example.org"


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"PUBLIC_BASE_URL": BASE}


def decode(png: bytes) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_a_new_card_revokes_the_old_one_which_then_names_no_one(app, client, make):
    make.point("P01")
    child = make.borrower("王小明")
    old = make.card_code(child)
    lib = make.user("lib", "librarian")
    h = make.token(lib)
    r = client.post(f"/api/v1/borrowers/{child.id}/card", headers=h)
    assert r.status_code == 201
    new = r.get_json()["card"]
    assert r.get_json()["revoked"] == old and new != old
    assert parse_code(new).code == new  # a valid Luhn code
    assert client.get(f"/api/v1/cards/{old}", headers=h).get_json() == {
        "code": old, "status": "revoked", "borrower": None}
    active = client.get(f"/api/v1/cards/{new}", headers=h).get_json()
    assert active["status"] == "active" and active["borrower"]["name"] == "王小明"
    assert client.get(f"/api/v1/borrowers/{child.id}", headers=h).get_json()["card"] == new
    mama = make.user("mama", "story_mother", points=["P01"])
    make.login(client, mama)
    page = client.get(f"/s/{old.lower()}", follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 410 and "已作废" in html and "王小明" not in html
    # a revoked card is refused wherever it would be used
    blank_bind = app.test_client().post(f"/api/v1/cards/{old}/bind", json={"borrower": child.id},
                                        headers=make.token(mama))
    assert blank_bind.status_code == 409 and blank_bind.get_json()["error"]["code"] == "card_revoked"


def test_card_lookup_refuses_bad_codes_clearly(client, make):
    h = make.token(make.user("lib", "librarian"))
    r = client.get("/api/v1/cards/C0000013", headers=h)  # wrong check digit
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "bad_check_digit"
    assert client.get(f"/api/v1/cards/{make_code('card', 999)}", headers=h).status_code == 404
    assert client.get(f"/api/v1/cards/{make_code('copy', 5)}", headers=h).status_code == 422


def test_card_numbers_follow_the_highest_existing_code(app, client, make):
    make.point("P01")
    with app.app_context(), session_factory()() as db:
        db.add(Card(code=make_code("card", 1234567), status="unbound"))  # a seven-digit body
        db.add(Card(code=make_code("card", 999), status="unbound"))
        db.commit()
    h = make.token(make.user("lib", "librarian"))
    r = client.post("/api/v1/cards/batch", json={"count": 3}, headers=h)
    assert r.status_code == 201
    assert r.get_json()["cards"] == [make_code("card", n) for n in (1234568, 1234569, 1234570)]
    assert client.post("/api/v1/cards/batch", json={"count": 0}, headers=h).status_code == 422
    assert client.post("/api/v1/cards/batch", json={"count": "many"}, headers=h).status_code == 422


def test_a_preprinted_card_binds_once_and_only_once(app, client, make):
    make.point("P01")
    first = make.borrower("王小明")
    second = make.borrower("陈大文")
    lib = make.user("lib", "librarian")
    cards = client.post("/api/v1/cards/batch", json={"count": 3, "label": "三灶第一批"},
                        headers=make.token(lib)).get_json()["cards"]
    mama = make.user("mama", "story_mother", points=["P01"])
    h = make.token(mama)
    unbound = client.get(f"/api/v1/cards/{cards[0]}", headers=h).get_json()
    assert unbound == {"code": cards[0], "status": "unbound", "borrower": None}
    # to an existing child: the child's old card is revoked
    old = make.card_code(first)
    r = client.post(f"/api/v1/cards/{cards[0]}/bind", json={"borrower": first.id}, headers=h)
    assert r.status_code == 200 and r.get_json()["borrower"]["name"] == "王小明"
    assert client.get(f"/api/v1/cards/{old}", headers=h).get_json()["status"] == "revoked"
    again = client.post(f"/api/v1/cards/{cards[0]}/bind", json={"borrower": second.id}, headers=h)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "card_already_bound"
    assert client.get(f"/api/v1/cards/{cards[0]}", headers=h).get_json()["borrower"]["name"] == "王小明"
    # to a new child, with consent
    r = client.post(f"/api/v1/cards/{cards[1]}/bind", json={"name": "赵小虎", "point": "P01"}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "consent_required"
    r = client.post(f"/api/v1/cards/{cards[1]}/bind",
                    json={"name": "赵小虎", "point": "P01", "consent": True}, headers=h)
    assert r.status_code == 201 and r.get_json()["borrower"]["card"] == cards[1]
    r = client.post("/api/v1/borrowers", json={"name": "钱多多", "point": "P01", "consent": True,
                                               "card": cards[1]}, headers=h)
    assert r.status_code == 409
    # through the pages: the unbound card's page offers both ways
    make.login(client, mama)
    html = client.get(f"/s/{BASE}/s/{cards[2]}", follow_redirects=True).get_data(as_text=True)
    assert "空白借阅证" in html and f"/borrowers/new?card={cards[2]}" in html
    found = client.get(f"/cards/{cards[2]}?q=chen").get_data(as_text=True)
    assert "陈大文" in found
    token = csrf_from(found.encode())
    r = client.post(f"/cards/{cards[2]}/bind", data={"csrf_token": token, "borrower_id": second.id})
    assert r.status_code == 302
    html = client.get(f"/cards/{cards[2]}").get_data(as_text=True)
    assert "陈大文" in html and "在借" in html
    r = client.post(f"/cards/{cards[2]}/bind", data={"csrf_token": token, "borrower_id": first.id})
    assert r.status_code == 409 and "已经绑定" in r.get_data(as_text=True)
    with app.app_context(), session_factory()() as db:
        binds = db.scalars(select(AuditLog).where(AuditLog.action == "card.bind")).all()
        assert len(binds) == 3


def test_registration_form_binds_a_blank_card(app, client, make):
    make.point("P01")
    blank = make.unbound_card()
    mama = make.user("mama", "story_mother", points=["P01"])
    make.login(client, mama)
    page = client.get(f"/borrowers/new?card={blank.code}")
    assert blank.code in page.get_data(as_text=True)
    r = client.post("/borrowers/new", data={
        "csrf_token": csrf_from(page.data), "card": blank.code, "name": "孙悟空", "point": "P01",
        "type": "child", "birth_year": "2017", "guardian_name": "孙大圣",
        "guardian_phone": "13700001111", "consent": "y"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cards/{blank.code}")
    html = client.get(f"/cards/{blank.code}").get_data(as_text=True)
    assert "孙悟空" in html
    assert client.get(f"/borrowers/new?card={blank.code}").status_code == 409


def test_qr_png_holds_the_card_url(client, make):
    make.point("P01")
    child = make.borrower()
    code = make.card_code(child)
    h = make.token(make.user("mama", "story_mother", points=["P01"]))
    r = client.get(f"/api/v1/cards/{code}/qr.png", headers=h)
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert decode(r.data) == [f"{BASE}/s/{code}"]


def test_card_image_for_the_guardians_phone(app, client, make):
    make.point("P01", "三灶镇故事会点")
    child = make.borrower("王小明")
    code = make.card_code(child)
    make.login(client, make.user("mama", "story_mother", points=["P01"]))
    r = client.get(f"/borrowers/{child.id}/card.png?download=1")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert "attachment" in r.headers["Content-Disposition"]
    assert decode(r.data) == [f"{BASE}/s/{code}"]
    with app.app_context(), session_factory()() as db:
        log = db.scalars(select(AuditLog).where(AuditLog.action == "borrower.view")).all()
        assert [entry.details["via"] for entry in log] == ["card_image"]


def test_card_image_leaves_chinese_off_without_a_cjk_font_never_boxes():
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    cjk = card_image.find_cjk_font("")
    if cjk is None:
        # a newcomer's machine may lack one (skipped with the reason); CI installs fonts-noto-cjk
        missing("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    assert card_image.can_draw(cjk, "王小明借阅证")
    assert not card_image.can_draw(latin, "王小明")
    assert card_image.can_draw(latin, "Anna")
    args = {"code": "C0000018", "qr_text": "C0000018", "point": "三灶", "point_code": "P01",
            "org_name": "故事会点借阅"}
    with_name = card_image.card_png(name="王小明", font_path=latin, **args)
    without = card_image.card_png(name="", font_path=latin, **args)
    assert with_name == without  # the name is left off, not drawn as boxes
    assert card_image.card_png(name="王小明", font_path=cjk, **args) != card_image.card_png(
        name="", font_path=cjk, **args)
    assert card_image.find_cjk_font(latin) == cjk  # a configured font that cannot draw is passed over
    assert decode(with_name) == ["C0000018"]


def test_card_sheet_by_batch_point_and_codes(app, client, make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02")
    kids = [make.borrower(f"小读者{i}", point="P01") for i in range(12)]
    make.borrower("陈大文", point="P02")
    lib = make.user("lib", "librarian")
    make.login(client, lib)
    html = client.get("/cards/sheet?point=P01").get_data(as_text=True)
    assert html.count('class="cr80 ') == 12 and html.count('class="sheet"') == 2
    assert "陈大文" not in html and "小读者11" in html and "三灶镇故事会点" in html
    assert html.count("mark mark-v") == 12 and html.count("mark mark-h") == 24  # crop marks
    qr = re.findall(r'src="data:image/svg\+xml;base64,', html)
    assert len(qr) == 12
    one = client.get(f"/cards/sheet?codes={make.card_code(kids[3])}").get_data(as_text=True)
    assert one.count('class="cr80 ') == 1 and "小读者3" in one
    by_id = client.get(f"/cards/sheet?ids={kids[0].id},{kids[1].id}").get_data(as_text=True)
    assert by_id.count('class="cr80 ') == 2
    assert client.get("/cards/sheet").status_code == 422
    assert client.get("/cards/sheet?since=yesterday").status_code == 422
    page = client.get("/cards/")
    r = client.post("/cards/batch", data={"csrf_token": csrf_from(page.data), "count": "10",
                                           "label": "P01空白证"})
    assert r.status_code == 302 and "batch=" in r.headers["Location"]
    blank = client.get(r.headers["Location"]).get_data(as_text=True)
    assert blank.count('class="cr80 ') == 10 and "cr80-blank" in blank
    assert "P01空白证" in client.get("/cards/").get_data(as_text=True)
    bad = client.post("/cards/batch", data={"csrf_token": csrf_from(page.data), "count": "十"})
    assert bad.status_code == 422
    make.login(client, make.user("mama", "story_mother", points=["P01"]))
    assert client.get("/cards/sheet?point=P01").status_code == 403
