"""API routes for borrowers and cards (shared/spec/api.md, "Borrowers and cards").

- ``POST /api/v1/borrowers`` → 201 ``{"id","name","card","point"}``; 422 without consent.
- ``GET /api/v1/borrowers?q=&point=&status=&page=`` → ``{"borrowers":[...],"total","page","pages"}``
- ``GET /api/v1/borrowers/{id}`` → the child with open loans (phone masked for a story mother);
  the view is logged.
- ``PATCH /api/v1/borrowers/{id}`` (staff) fields and/or ``status``, ``self_service`` (kiosk loans).
- ``POST /api/v1/borrowers/{id}/card`` (staff) → 201 ``{"card","revoked"}``.
- ``GET /api/v1/borrowers/{id}/export`` (admin, logged) and ``POST /api/v1/borrowers/{id}/erase`` (admin).
- ``GET /api/v1/cards/{code}`` → ``{"code","status","borrower"}``; a revoked card names no one.
- ``GET /api/v1/cards/{code}/qr.png``; ``POST /api/v1/cards/{code}/bind`` ``{"borrower"}`` or a
  new child's fields; ``POST /api/v1/cards/batch`` (staff) ``{"count","label"?}``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_login import current_user

from library_app.access import CIRCULATION, LIBRARIANS, personal_data, roles, writes
from library_app.db import get_session
from library_app.domain.borrowers import phone_masked_for
from library_app.domain.codes import parse_code, qr_content
from library_app.domain.text import mask_phone
from library_app.models import Borrower, Card
from library_app.services import borrowers as service
from library_app.services import cards as cards_service
from library_app.services import privacy
from library_app.services.errors import Invalid
from library_app.services.kiosk import set_self_service
from library_app.services.qr import qr_png
from library_app.web import current_settings, query_int, utcnow

from . import bp
from .util import json_body


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def borrower_summary(b: Borrower, masked: bool = True) -> dict[str, Any]:
    card = b.active_card
    return {
        "id": b.id, "name": b.name, "type": b.type, "point": b.home_point.code,
        "card": card.code if card else None, "status": b.status, "birth_year": b.birth_year,
        "guardian_name": b.guardian_name,
        "guardian_phone": mask_phone(b.guardian_phone) if masked else b.guardian_phone,
    }


def borrower_json(b: Borrower, loans: service.LoansOverview) -> dict[str, Any]:
    data = borrower_summary(b, masked=phone_masked_for(current_user.role))
    data.update({
        "school": b.school, "grade": b.grade,
        "consent_at": _iso(b.consent_at), "created_at": _iso(b.created_at),
        "left_at": _iso(b.left_at), "anonymised": b.anonymised_at is not None,
        "loans": [
            {"copy": x.copy_code, "title": x.title, "lent_at": _iso(x.lent_at),
             "due_at": _iso(x.due_at), "overdue": x.overdue, "point": x.point_code}
            for x in loans.open
        ],
        "overdue": loans.overdue,
        "cards": [{"code": c.code, "status": c.status} for c in b.cards],
        "self_service": b.self_service,
    })
    return data


FIELDS = ("name", "type", "birth_year", "guardian_name", "guardian_phone", "school", "grade")


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data.get(key) for key in FIELDS if key in data}


def _new_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A new child's fields: a missing name is the rule's "请填写姓名", not a TypeError."""
    return {"name": "", **_fields(data)}


@bp.post("/borrowers")
@roles(*CIRCULATION)
def create_borrower():
    data = json_body()
    db = get_session()
    fields = _new_fields(data)
    duplicates = service.find_duplicates(db, str(fields.get("name") or ""),
                                         str(fields.get("guardian_phone") or ""))
    borrower, card = service.register_borrower(
        db, current_user, utcnow(), point_code=str(data.get("point") or ""),
        consent=data.get("consent"), card_code=str(data.get("card") or "") or None, **fields,
    )
    body = {"id": borrower.id, "name": borrower.name, "card": card.code,
            "point": borrower.home_point.code, "status": borrower.status,
            "consent_at": _iso(borrower.consent_at)}
    if duplicates:
        body["warnings"] = [{
            "code": "likely_duplicate",
            "message": "可能重复登记：已有同名且监护人电话相同的小读者。",
            "borrowers": [d.id for d in duplicates],
        }]
    return jsonify(body), 201


@bp.get("/borrowers")
@roles(*CIRCULATION)
@personal_data
def list_borrowers():
    page = service.search_borrowers(
        get_session(), current_user, q=request.args.get("q", ""),
        point_code=request.args.get("point", "").strip().upper(),
        status=request.args.get("status", "").strip(),
        page=query_int("page"),
    )
    return jsonify(borrowers=[borrower_summary(b) for b in page.items], total=page.total,
                   page=page.number, pages=page.pages)


@bp.get("/borrowers/<int:borrower_id>")
@roles(*CIRCULATION)
@writes
@personal_data
def get_borrower(borrower_id: int):
    db = get_session()
    now = utcnow()
    borrower = service.get_borrower(db, current_user, borrower_id)
    service.record_view(db, current_user, now, borrower, ip=request.remote_addr or "", via="api")
    loans = service.loans_overview(db, current_user, now, borrower)
    return jsonify(borrower_json(borrower, loans))


@bp.patch("/borrowers/<int:borrower_id>")
@roles(*LIBRARIANS)
def update_borrower(borrower_id: int):
    data = json_body()
    db = get_session()
    now = utcnow()
    borrower = service.get_borrower(db, current_user, borrower_id)
    fields = _fields(data)
    if fields or "point" in data:
        current = {"name": borrower.name, "type": borrower.type, "birth_year": borrower.birth_year,
                   "guardian_name": borrower.guardian_name,
                   "guardian_phone": borrower.guardian_phone, "school": borrower.school,
                   "grade": borrower.grade}
        current.update(fields)
        service.update_borrower(db, current_user, now, borrower,
                                point_code=str(data.get("point") or borrower.home_point.code),
                                **current)
    if "status" in data:
        service.set_status(db, current_user, now, borrower, str(data["status"]))
    if "self_service" in data:
        set_self_service(db, current_user, now, borrower, data["self_service"])
    return jsonify(borrower_json(borrower, service.loans_overview(db, current_user, now, borrower)))


@bp.post("/borrowers/<int:borrower_id>/card")
@roles(*LIBRARIANS)
def new_card(borrower_id: int):
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    card, old = cards_service.issue_card(db, current_user, utcnow(), borrower)
    return jsonify(card=card.code, revoked=old.code if old else None), 201


@bp.get("/borrowers/<int:borrower_id>/export")
@roles("admin")
@writes
@personal_data
def export_borrower(borrower_id: int):
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    data = privacy.export_data(db, current_user, utcnow(), borrower, "json")
    return jsonify(data)


@bp.post("/borrowers/<int:borrower_id>/erase")
@roles("admin")
def erase_borrower(borrower_id: int):
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    privacy.erase_borrower(db, current_user, utcnow(), borrower)
    return jsonify(id=borrower.id, name=borrower.name, anonymised=True)


# ---------------------------------------------------------------- cards

def card_json(card: Card, borrower: Borrower | None) -> dict[str, Any]:
    return {"code": card.code, "status": card.status,
            "borrower": borrower_summary(borrower) if borrower is not None else None}


@bp.get("/cards/<code>")
@roles(*CIRCULATION)
@personal_data
def get_card(code: str):
    """A revoked card says so and names no one; an active card of another point's child: 403."""
    found = cards_service.lookup(get_session(), code)
    if found.borrower is not None:
        service.check_access(current_user, found.borrower)
    return jsonify(card_json(found.card, found.borrower))


@bp.get("/cards/<code>/qr.png")
@roles(*CIRCULATION)
def card_qr(code: str):
    parsed = parse_code(code, expect="card")
    card = cards_service.find_card(get_session(), parsed.code)
    settings = current_settings()
    box = query_int("box", 10, low=2, high=40)
    return Response(qr_png(qr_content(card.code, settings.public_base_url), box_size=box),
                    mimetype="image/png",
                    headers={"Cache-Control": "private, max-age=86400"})


@bp.post("/cards/<code>/bind")
@roles(*CIRCULATION)
def bind_card(code: str):
    """Bind a pre-printed card: to an existing child ``{"borrower": id}``, or to a new one
    (the registration fields with ``"consent": true``). Once only: then 409."""
    data = json_body()
    db = get_session()
    now = utcnow()
    card = cards_service.find_card(db, code)
    if data.get("borrower") is not None:
        try:
            borrower_id = int(data["borrower"])
        except (TypeError, ValueError) as exc:
            raise Invalid("borrower 应为借阅人编号。") from exc
        borrower = service.get_borrower(db, current_user, borrower_id)
        if borrower.anonymised_at is not None:
            raise Invalid("已匿名的借阅人不能绑定借阅证。")
        cards_service.bind_card(db, current_user, now, card, borrower)
        status = 200
    else:
        borrower, card = service.register_borrower(
            db, current_user, now, point_code=str(data.get("point") or ""),
            consent=data.get("consent"), card_code=card.code, **_new_fields(data),
        )
        status = 201
    return jsonify(card_json(card, borrower)), status


@bp.post("/cards/batch")
@roles(*LIBRARIANS)
def card_batch():
    data = json_body()
    try:
        count = int(data.get("count"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise Invalid("count 应为 1 到 500 之间的整数。") from exc
    cards = cards_service.create_unbound_batch(get_session(), current_user, utcnow(), count,
                                               str(data.get("label") or ""))
    return jsonify(batch=cards[0].batch, cards=[c.code for c in cards]), 201
