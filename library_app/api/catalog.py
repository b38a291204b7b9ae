"""API routes for the catalog area (see shared/spec/api.md, "Catalog")."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for
from flask_login import current_user

from library_app.access import ALL_ROLES, LIBRARIANS, STAFF, roles, writes
from library_app.db import get_session
from library_app.domain.catalog import STATUS_NAMES
from library_app.domain.codes import qr_content
from library_app.models import Copy, Loan, Title
from library_app.services import catalog as service
from library_app.services import catalog_import, scope
from library_app.services import catalog_search as search
from library_app.services import points as points_service
from library_app.services import transfers as transfers_service
from library_app.services.qr import qr_png, qr_svg
from library_app.web import current_settings, json_error, query_int, utcnow

from . import bp
from .util import json_body


def title_json(t: Title, counts: search.CopyCounts | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": t.id, "title": t.title, "author": t.author, "isbn": t.isbn,
        "publisher": t.publisher, "year": t.year, "category": t.category, "age_band": t.age_band,
        "notes": t.notes, "pinyin": t.search_pinyin, "initials": t.search_initials,
        "pages": t.pages, "price": t.price, "clc": t.clc, "summary": t.summary,
        "record_source": t.record_source,
    }
    if counts is not None:
        data["copy_count"] = counts.total
        data["available_count"] = counts.available
    return data


def copy_brief(c: Copy) -> dict[str, Any]:
    return {"code": c.code, "status": c.status, "point": c.current_point.code,
            "home_point": c.home_point.code}


def _card_code(loan: Loan) -> str | None:
    return service.card_of(loan)


def loan_json(loan: Loan | None) -> dict[str, Any] | None:
    if loan is None:
        return None
    seen = scope.see_holder(get_session(), current_user, utcnow(), loan, via="api_copy",
                            ip=request.remote_addr or "")
    person: dict[str, Any] | None = None
    if seen is not None and seen.full:
        person = {"name": seen.name, "card": _card_code(loan)}
    elif seen is not None and seen.level == scope.MASKED:
        person = {"name": seen.name, "card": None}
    return {
        "borrower": person,
        "lent_at": loan.lent_at.isoformat(),
        "due_at": loan.due_at.isoformat() if loan.due_at else None,
        "point": loan.point.code,
    }


def copy_json(c: Copy, loan: Loan | None) -> dict[str, Any]:
    settings = current_settings()
    return {
        "code": c.code,
        "status": c.status,
        "status_name": STATUS_NAMES.get(c.status, c.status),
        "title": {"id": c.title.id, "title": c.title.title, "author": c.title.author,
                  "isbn": c.title.isbn},
        "point": c.current_point.code,
        "point_name": c.current_point.name,
        "home_point": c.home_point.code,
        "source": c.source,
        "qr_content": qr_content(c.code, settings.public_base_url),
        "url": url_for("catalog.copy_page", code=c.code),
        "loan": loan_json(loan),
    }


# ------------------------------------------------------------------ titles

@bp.post("/titles")
@roles(*LIBRARIANS)
def create_title():
    data = json_body()
    try:
        title = service.create_title(get_session(), current_user, utcnow(), data)
    except service.DuplicateIsbn as exc:
        return json_error(409, exc.code, exc.message, title_id=exc.title.id)
    return jsonify(title_json(title)), 201


@bp.get("/titles")
@roles(*LIBRARIANS)
def list_titles():
    db = get_session()
    if request.args.get("isbn"):
        title = service.find_by_isbn(db, request.args["isbn"])
        titles = [title] if title else []
        counts = search.copy_counts(db, [t.id for t in titles])
        return jsonify(titles=[title_json(t, counts.get(t.id, search.CopyCounts())) for t in titles],
                       total=len(titles), page=1, pages=1)
    page = search.search_titles(
        db, request.args.get("q", ""), page=query_int("page"),
        per_page=query_int("per_page", search.PER_PAGE, high=200),
        category=request.args.get("category", ""), age_band=request.args.get("age_band", ""),
    )
    counts = search.copy_counts(db, [t.id for t in page.items])
    return jsonify(
        titles=[title_json(t, counts.get(t.id, search.CopyCounts())) for t in page.items],
        total=page.total, page=page.number, pages=page.pages,
    )


@bp.get("/titles/<int:title_id>")
@roles(*LIBRARIANS)
def get_title(title_id: int):
    db = get_session()
    title = service.get_title(db, title_id)
    data = title_json(title)
    data["copies"] = [copy_brief(c) for c in service.copies_of(db, title)]
    return jsonify(data)


@bp.put("/titles/<int:title_id>")
@roles(*LIBRARIANS)
def update_title(title_id: int):
    db = get_session()
    title = service.get_title(db, title_id)
    data = {**title_json(title), **json_body()}
    try:
        service.update_title(db, current_user, utcnow(), title, data)
    except service.DuplicateIsbn as exc:
        return json_error(409, exc.code, exc.message, title_id=exc.title.id)
    return jsonify(title_json(title))


@bp.post("/titles/<int:title_id>/copies")
@roles(*LIBRARIANS)
def add_copies(title_id: int):
    data = json_body()
    db = get_session()
    title = service.get_title(db, title_id)
    point = points_service.get_point(db, str(data.get("point") or ""))
    count = data.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool):
        return json_error(422, "invalid", "count 应为整数。")
    copies = service.add_copies(db, current_user, utcnow(), title, point, count,
                                source=str(data.get("source") or "purchase"))
    return jsonify(copies=[{"code": c.code, "status": c.status, "point": point.code} for c in copies]), 201


# ------------------------------------------------------------------ copies

@bp.get("/copies/<code>")
@roles(*ALL_ROLES)
@writes
def get_copy(code: str):
    db = get_session()
    copy = service.get_copy(db, code)
    body = copy_json(copy, service.open_loan(db, copy))
    return jsonify(body)


def _qr(code: str, fmt: str) -> Response:
    db = get_session()
    copy = service.get_copy(db, code)
    content = qr_content(copy.code, current_settings().public_base_url)
    if fmt == "png":
        response = Response(qr_png(content), mimetype="image/png")
    else:
        response = Response(qr_svg(content), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Disposition"] = f'inline; filename="{copy.code}.{fmt}"'
    return response


@bp.get("/copies/<code>/qr.png")
@roles(*ALL_ROLES)
def copy_qr_png(code: str):
    return _qr(code, "png")


@bp.get("/copies/<code>/qr.svg")
@roles(*ALL_ROLES)
def copy_qr_svg(code: str):
    return _qr(code, "svg")


@bp.post("/copies/<code>/status")
@roles(*LIBRARIANS)
def copy_status(code: str):
    data = json_body()
    db = get_session()
    copy = service.get_copy(db, code)
    service.change_status(db, current_user, utcnow(), copy, str(data.get("action") or ""),
                          note=str(data.get("note") or ""))
    return jsonify(copy_json(copy, service.open_loan(db, copy)))


@bp.post("/transfers")
@roles(*LIBRARIANS)
def transfer():
    data = json_body()
    codes = data.get("codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        return json_error(422, "invalid", "codes 应为编码列表。")
    db = get_session()
    to = points_service.get_point(db, str(data.get("to") or ""))
    t = transfers_service.transfer_copies(db, current_user, utcnow(), codes, to, notes=str(data.get("notes") or ""))
    return jsonify(id=t.id, to=to.code, at=t.at.isoformat(), count=len(t.items)), 201


# ------------------------------------------------------------------ import

@bp.post("/import/titles")
@roles(*STAFF)
def import_titles():
    upload = next(iter(request.files.values()), None)
    if upload is not None:
        data, name = upload.read(), upload.filename or ""
    else:
        data, name = request.get_data(), ""
    partial = request.args.get("partial", "") in ("1", "true", "yes")
    db = get_session()
    try:
        result = catalog_import.import_titles(
            db, current_user, utcnow(), data, name, partial=partial,
            copies=query_int("copies", 0, low=0),
            point=request.args.get("point", ""),
            marc_syntax=(request.args.get("marc", "") or "").lower().replace("cnmarc", "unimarc"),
        )
    except catalog_import.ImportRefused as exc:
        body = {
            "created": 0, "copies_created": 0,
            "errors": [{"row": row, "message": msg} for row, msg in exc.errors],
            "error": {"code": exc.code, "message": exc.message},
        }
        return jsonify(body), 422
    return jsonify(
        created=result.created, copies_created=result.copies_created,
        errors=[{"row": row, "message": msg} for row, msg in result.errors],
    )
