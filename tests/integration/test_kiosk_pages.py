"""Staff pages of the self-service corner: kiosks (create with code + QR, revoke), the child's
self-service flag on her page, and kiosk activity on the loans page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Borrower, Kiosk


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "form carries a CSRF token"
    return m.group(1)


def q(app, stmt):
    with app.app_context(), session_factory()() as db:
        return db.execute(stmt).all()


def test_a_librarian_creates_a_kiosk_sees_its_code_and_qr_and_revokes_it(app, make, client):
    make.point("P01", "三灶镇故事会点")
    make.login(client, make.user("lib", "librarian"))
    page = client.get("/kiosks").get_data(as_text=True)
    r = client.post("/kiosks", data={"csrf_token": csrf_of(page), "name": "三灶点平板", "point": "P01"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "登记码" in html
    code = re.search(r"data-enrol-code>([A-Z0-9]+)<", html).group(1)
    assert 'src="data:image/png;base64,' in html and "等待登记" in html
    assert client.post("/api/v1/kiosk/enrol", json={"enrol_code": code}).status_code == 200
    page = client.get("/kiosks").get_data(as_text=True)
    assert "使用中" in page
    [(kid,)] = q(app, select(Kiosk.id))
    r = client.post(f"/kiosks/{kid}/revoke", data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "已停用" in r.get_data(as_text=True)
    assert q(app, select(Kiosk.revoked_at.is_not(None))) == [(True,)]


def test_a_story_mother_cannot_open_the_kiosks_page(make, client):
    make.point("P01")
    make.login(client, make.user("mama", "story_mother", points=["P01"]))
    assert client.get("/kiosks").status_code == 403


def test_the_childs_page_shows_and_sets_the_self_service_flag(app, make, client):
    make.point("P01")
    make.login(client, make.user("lib", "librarian"))
    child = make.borrower("王小明", point="P01")
    page = client.get(f"/borrowers/{child.id}").get_data(as_text=True)
    assert re.search(r"data-self-service>不允许<", page) and "允许自助借书" in page
    r = client.post(f"/borrowers/{child.id}/self-service", data={"csrf_token": csrf_of(page), "self_service": "1"},
                    follow_redirects=True)
    assert "允许（可以在自助借书机上自己借书）" in r.get_data(as_text=True)
    assert q(app, select(Borrower.self_service).where(Borrower.id == child.id)) == [(True,)]


def test_the_loans_page_shows_kiosk_loans_returns_and_refusals(app, make, client):
    make.point("P01", "三灶镇故事会点")
    lib = make.user("lib", "librarian")
    staff = make.token(lib)
    code = client.post("/api/v1/kiosks", json={"name": "三灶点平板", "point": "P01"}, headers=staff).get_json()["enrol_code"]
    token = client.post("/api/v1/kiosk/enrol", json={"enrol_code": code}).get_json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    allowed, not_allowed = make.borrower("欧阳娜娜", point="P01"), make.borrower("王小明", point="P01")
    from sqlalchemy import update
    with app.app_context(), session_factory()() as db:
        db.execute(update(Borrower).where(Borrower.id == allowed.id).values(self_service=True))
        db.commit()
    a, b = make.copy(make.title("猜猜我有多爱你")), make.copy(make.title("好饿的毛毛虫"))

    def ev(kind, copy, card=None):
        e = {"id": str(uuid.uuid4()), "type": kind, "copy": copy.code, "point": "P01", "at": datetime.now(UTC).isoformat()}
        if card:
            e["card"] = card
        return e

    client.post("/api/v1/circulation/events", headers=h, json={"events": [
        ev("loan", a, make.card_code(allowed)), ev("loan", b, make.card_code(allowed)),
        ev("loan", b, make.card_code(not_allowed))]})
    client.post("/api/v1/circulation/events", headers=h, json={"events": [ev("return", b)]})
    make.login(client, lib)
    html = client.get("/circulation/loans?status=all").get_data(as_text=True)
    section = html[html.index('id="kiosk-activity"'):]
    assert "三灶点平板" in section
    assert re.search(r"data-kiosk-loans>2<", section) and re.search(r"data-kiosk-returns>1<", section)
    assert re.search(r"data-kiosk-refusals>1<", section) and "你还不能自己借书" in section
    assert "自助借书机</span>" in html  # the kiosk's loans are marked in the list
