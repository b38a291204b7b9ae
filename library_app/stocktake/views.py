"""Stocktake pages. Views load, call ``services.stocktake``, respond; the scans themselves go
through the API (``POST /api/v1/stocktakes/{id}/scans``) from the page's outbox."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from library_app.access import CIRCULATION, LIBRARIANS, roles
from library_app.db import discard_changes, get_session
from library_app.domain import reach
from library_app.domain.catalog import STATUS_NAMES
from library_app.domain.errors import RuleBroken
from library_app.domain.roles import is_staff
from library_app.models import Point
from library_app.services import stocktake as service
from library_app.services.catalog_export import to_csv, to_xlsx
from library_app.web import format_local, utcnow

bp = Blueprint("stocktake", __name__, url_prefix="/stocktakes")

LIST_NAMES = {"missing": "缺失（没有找到）", "elsewhere": "属于别的阅读点（放错地方）",
              "on_loan": "登记为借出却在架上（待核对）", "unknown": "不认识的编码"}


def _point(code: str) -> Point:
    point = get_session().scalar(select(Point).where(Point.code == code.upper()))
    if point is None:
        abort(404)
    return point


@bp.get("/")
@roles(*CIRCULATION)
def index():
    """Staff: every point, its open stocktake and a way to start one. A story mother: the
    stocktakes open at her points, to scan."""
    db = get_session()
    staff = current_user.role in LIBRARIANS
    everywhere = is_staff(current_user.role)  # a point lead: her points only
    access = service.access_of(db, current_user)
    open_now = service.open_stocktakes(db, None if everywhere else access.point_ids)
    points = [p for p in db.scalars(select(Point).order_by(Point.code))
              if everywhere or p.id in access.point_ids] if staff else []
    by_point = {o["code"]: o for o in open_now}
    return render_template("stocktake/index.html", open_now=open_now, points=points, by_point=by_point,
                           staff=staff)


@bp.get("/point/<code>")
@roles(*LIBRARIANS)
def point_history(code: str):
    point = _point(code)
    reach.check_point(current_user.role, current_user.point_codes(), point.code, "不能查看它的盘点")
    return render_template("stocktake/point.html", point=point, history=service.history(get_session(), point.id))


@bp.post("/point/<code>/open")
@roles(*LIBRARIANS)
def open_(code: str):
    point = _point(code)
    try:
        stocktake = service.open_stocktake(get_session(), current_user, utcnow(), point.code,
                                           ip=request.remote_addr or "")
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
        running = exc.details.get("stocktake")
        if running:
            return redirect(url_for("stocktake.scan", stocktake_id=running))
        return redirect(url_for("stocktake.point_history", code=point.code))
    flash(f"已开始盘点 {point.code} {point.name}：应在架 {stocktake.expected} 本。", "success")
    return redirect(url_for("stocktake.scan", stocktake_id=stocktake.id))


def _load(stocktake_id: int):
    db = get_session()
    stocktake = service.get_stocktake(db, stocktake_id)
    service.check_view(db, current_user, stocktake)
    return db, stocktake


@bp.get("/<int:stocktake_id>/scan")
@roles(*CIRCULATION)
def scan(stocktake_id: int):
    db, stocktake = _load(stocktake_id)
    return render_template("stocktake/scan.html", st=stocktake, point=db.get(Point, stocktake.point_id),
                           summary=service.summary(db, stocktake.id), staff=current_user.role in LIBRARIANS)


@bp.get("/<int:stocktake_id>")
@roles(*CIRCULATION)
def results(stocktake_id: int):
    db, stocktake = _load(stocktake_id)
    return render_template("stocktake/results.html", st=stocktake, point=db.get(Point, stocktake.point_id),
                           summary=service.summary(db, stocktake.id), lines=service.result_lines(db, stocktake),
                           names=LIST_NAMES, status_names=STATUS_NAMES, staff=current_user.role in LIBRARIANS,
                           history=service.history(db, stocktake.point_id))


@bp.post("/<int:stocktake_id>/close")
@roles(*LIBRARIANS)
def close(stocktake_id: int):
    db, stocktake = _load(stocktake_id)
    try:
        body = service.close_stocktake(db, current_user, utcnow(), stocktake.id, ip=request.remote_addr or "")
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
    else:
        flash(f"盘点已结束：找到 {body['found']} 本，{len(body['missing'])} 本登记为缺失。", "success")
    return redirect(url_for("stocktake.results", stocktake_id=stocktake_id))


@bp.get("/<int:stocktake_id>/export.<fmt>")
@roles(*LIBRARIANS)
def export(stocktake_id: int, fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    db, stocktake = _load(stocktake_id)
    point = db.get(Point, stocktake.point_id)
    assert point is not None
    lines = service.result_lines(db, stocktake)
    header = ["清单", "编码", "书名", "目录中的阅读点", "现在状态", "时间", "扫描人"]

    def rows():
        for key, name in LIST_NAMES.items():
            for line in lines[key]:
                yield [name, line.code, line.title, line.point, STATUS_NAMES.get(line.status, line.status),
                       format_local(line.when) if line.when else "", line.by]

    sheet = f"盘点{stocktake.id} {point.code}"
    body = to_csv(header, rows()) if fmt == "csv" else to_xlsx(sheet, header, rows())
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    day = stocktake.opened_at.strftime("%Y%m%d")
    response.headers["Content-Disposition"] = f'attachment; filename="stocktake-{point.code}-{day}-{stocktake.id}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response

