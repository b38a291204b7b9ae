"""Circulation pages: the scan screen, one-tap actions from /s/<code> pages, and the librarian's
loans, overdue call list and review queue. Views load, call a service, respond."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.access import CIRCULATION, LIBRARIANS, personal_data, roles, writes
from library_app.db import commit_now, discard_changes, get_session
from library_app.domain.borrowers import phone_masked_for
from library_app.domain.codes import parse_code
from library_app.domain.errors import RuleBroken
from library_app.domain.loans import LoanRules, days_overdue, due_in_words
from library_app.domain.offline_cache import mask_name
from library_app.domain.roles import is_staff
from library_app.domain.statuses import LoanOutcome
from library_app.models import Point
from library_app.services import circulation as service
from library_app.services import scope
from library_app.services.circulation import reads
from library_app.services.points import working_points
from library_app.web import current_settings, query_int, utcnow

from . import txn

bp = Blueprint("circulation", __name__)

CURRENT_KEY = "scan_current"
CURRENT_MINUTES = 30  # a child made "current" from a card page stays current this long
PER_PAGE = 50
STATUS_WORDS = {"open": "借出中", "overdue": "已逾期", "returned": "已归还", "all": "全部"}


# ---------------------------------------------------------------- helpers

def my_points(db: Session) -> list[Point]:
    """Points where the signed-in user may lend: her own (story mother, point lead) or all active ones."""
    return working_points(db, current_user)


def chosen_point(points: list[Point], wanted: str | None) -> Point | None:
    wanted = (wanted or session.get("scan_point") or "").strip().upper()
    for p in points:
        if p.code == wanted:
            return p
    return points[0] if len(points) == 1 else None


def current_child() -> dict[str, Any] | None:
    """The child made current from a card's page. The session cookie is signed, not encrypted
    (anyone holding it can read it), so it keeps only the card code, the point and the time:
    never the child's name (issue 13.9)."""
    value = session.get(CURRENT_KEY)
    if not value or time.time() - value.get("at", 0) > CURRENT_MINUTES * 60:
        return None
    return {"card": value.get("card", ""), "point": value.get("point", ""), "at": value.get("at", 0)}


@bp.app_context_processor
def _current_child_for_pages() -> dict[str, Any]:
    def scan_current() -> dict[str, Any] | None:
        """The current child for a page (the copy page's 借给 button): the name read on the
        server, through the data scope (masked for another point's child)."""
        current = current_child() if current_user.is_authenticated else None
        if current is None:
            return None
        row = reads.card_holder(get_session(), current["card"])
        if row is not None:
            level = scope.level(current_user, row.home_code)
            current["name"] = row.name if level == scope.FULL else mask_name(row.name) if level == scope.MASKED else ""
        return current

    return {"scan_current": scan_current}


def rules(db: Session) -> LoanRules:
    return LoanRules.from_settings(current_settings())


def apply_one(kind: str, copy: str, point: str, card: str | None = None, *, now: datetime) -> dict[str, Any]:
    """One event made on the server (one-tap pages), through the same path as scans, at ``now``
    (the app's clock, so a pinned clock reaches it)."""
    settings = current_settings()
    event = {"id": str(uuid.uuid4()), "type": kind, "copy": copy, "point": point,
             "at": now.isoformat()}
    if card:
        event["card"] = card
    actor = current_user._get_current_object()
    commit_now("the reads end before txn.write waits its turn")
    ip = request.remote_addr or ""
    outcome = txn.write(lambda db, now: service.apply_events(db, actor, now, [event], settings, ip=ip))
    return outcome.results[0]


def safe_next_arg(value: str | None) -> str | None:
    from library_app.auth.views import safe_next

    return safe_next(value)


def safe_back(default: str) -> str:
    return safe_next_arg(request.form.get("next")) or default


# ---------------------------------------------------------------- scan screen

@bp.get("/scan")
@roles(*CIRCULATION)
def scan():
    db = get_session()
    points = my_points(db)
    point = chosen_point(points, request.args.get("point"))
    current = current_child()
    card = request.args.get("card") or (current or {}).get("card") or ""
    r = rules(db)
    return render_template(
        "circulation/scan.html", points=points, point=point, start_card=card, rules=r,
        server_time=utcnow().isoformat(),
    )


@bp.post("/scan/current")
@roles(*CIRCULATION)
def make_current():
    """From a card's page: this child becomes current at my point; then scan books."""
    db = get_session()
    try:
        card = parse_code(request.form.get("card", ""), expect="card").code
    except RuleBroken as exc:
        flash(exc.message, "error")
        return redirect(url_for("circulation.scan"))
    points = my_points(db)
    point = chosen_point(points, request.form.get("point"))
    if point is None:
        flash("请先选择阅读点。" if points else "您还没有负责的阅读点，请联系图书管理员。", "error")
        return redirect(url_for("circulation.scan", card=card))
    session[CURRENT_KEY] = {"card": card, "point": point.code, "at": time.time()}
    session["scan_point"] = point.code
    return redirect(url_for("circulation.scan", card=card, point=point.code))


@bp.post("/scan/current/clear")
@roles(*CIRCULATION)
def clear_current():
    session.pop(CURRENT_KEY, None)
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return {"ok": True}
    return redirect(safe_back(url_for("circulation.scan")))


@bp.post("/scan/act")
@roles(*CIRCULATION)
def act():
    """One tap on a copy's page: 借给 <current child> or 归还."""
    try:
        copy = parse_code(request.form.get("copy", ""), expect="copy").code
    except RuleBroken as exc:
        flash(exc.message, "error")
        return redirect(url_for("circulation.scan"))
    back = safe_back(url_for("circulation.scan"))
    kind = request.form.get("action")
    db = get_session()
    point = chosen_point(my_points(db), request.form.get("point"))
    if point is None:
        flash("请先在扫码页选择阅读点。", "error")
        return redirect(url_for("circulation.scan"))
    card = None
    if kind == "loan":
        current = current_child()
        if current is None:
            flash("还没有当前小读者：请先扫借阅证。", "error")
            return redirect(back)
        card = current["card"]
        session[CURRENT_KEY] = {**current, "at": time.time()}
    elif kind not in ("return", "renew"):
        abort(400)
    result = apply_one(kind, copy, point.code, card, now=utcnow())
    tone = {"applied": "success", "duplicate": "success", "review": "warning"}.get(result["status"], "error")
    flash(result["message"], tone)
    return redirect(back)


# ---------------------------------------------------------------- librarian pages

@bp.get("/circulation/loans")
@roles(*LIBRARIANS)
@personal_data
def loans():
    db = get_session()
    now = utcnow()
    status = request.args.get("status", "open")
    if status not in STATUS_WORDS:
        status = "open"
    point = (request.args.get("point") or "").strip().upper() or None
    page = query_int("page")
    rows, total = reads.loans_page(db, current_user, now, status=status, point=point, page=page, per_page=PER_PAGE)
    r = rules(db)
    return render_template(
        "circulation/loans.html", rows=rows, status=status, point=point, statuses=STATUS_WORDS,
        points=(list(db.scalars(select(Point).order_by(Point.code))) if is_staff(current_user.role)
                else my_points(db)), now=now, rules=r,
        due_in_words=due_in_words, days_overdue=days_overdue,
        page={"number": page, "pages": max(1, -(-total // PER_PAGE)), "total": total},
    )


OUTCOME_WORDS: dict[str, str] = {LoanOutcome.LOST: "遗失", LoanOutcome.DAMAGED: "损坏"}


@bp.get("/circulation/loans/<int:loan_id>/mark")
@roles(*LIBRARIANS)
@personal_data
def mark_confirm(loan_id: int):
    """The step between a tap on 遗失 / 损坏 and the end of the loan: what will happen, and to which book."""
    outcome = request.args.get("outcome", "")
    if outcome not in OUTCOME_WORDS:
        abort(400)
    db = get_session()
    row = reads.loan_row(db, current_user, utcnow(), loan_id)
    if row is None:
        abort(404)
    back = safe_next_arg(request.args.get("next")) or url_for("circulation.loans")
    return render_template("circulation/mark_confirm.html", row=row, outcome=outcome,
                           word=OUTCOME_WORDS[outcome], back=back)


@bp.post("/circulation/loans/<int:loan_id>/mark")
@roles(*LIBRARIANS)
def mark(loan_id: int):
    outcome = request.form.get("outcome", "")
    back = safe_back(url_for("circulation.loans"))
    if request.form.get("confirm") != "yes":
        # one tap must not end a loan: without the confirmation step's answer, show that step
        return redirect(url_for("circulation.mark_confirm", loan_id=loan_id, outcome=outcome, next=back))
    try:
        service.mark_loan_outcome(get_session(), current_user, utcnow(), loan_id, outcome,
                                  ip=request.remote_addr or "")
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
    else:
        flash("已标记为遗失，借阅已结束。" if outcome == LoanOutcome.LOST else "已标记为损坏，借阅已结束。", "success")
    return redirect(back)


@bp.get("/circulation/overdue")
@roles(*CIRCULATION)
@writes
@personal_data
def overdue():
    """Overdue loans grouped by child: a call list (phone masked for story mothers)."""
    db = get_session()
    now = utcnow()
    allowed = my_points(db)
    codes = {p.code for p in allowed}
    point = (request.args.get("point") or "").strip().upper() or None
    if point and point not in codes:
        abort(403)
    tz = rules(db).tz
    people: dict[int, dict[str, Any]] = {}
    ip = request.remote_addr or ""
    for row in reads.overdue_rows(db, now, point=point, allowed=codes):
        bid, name, guardian, phone = row.borrower_id, row.name, row.guardian, row.phone
        if bid not in people:
            # Each child on the call list is a logged view. Lent at her point to a child of
            # another point: the book is hers to chase, the child is not hers to identify (masked,
            # no guardian, no phone); the child's own point calls the guardian.
            seen = scope.see(db, current_user, now, borrower_id=bid, name=name, home_point=row.home_code,
                             home_point_id=row.home_id, via="overdue", ip=ip)
            name = seen.name
            if not seen.full:
                guardian, phone = "", ""
        person = people.setdefault(bid, {"name": name, "guardian": guardian, "phone": phone,
                                         "point": row.point_code, "books": [], "days": 0})
        late = days_overdue(row.due_at, now, tz)
        person["books"].append({"title": row.title, "code": row.copy_code, "days": late})
        person["days"] = max(person["days"], late)
    full_phone = not phone_masked_for(current_user.role)
    # a call list: the longest overdue first (then by name, stable for a printed list)
    ordered = sorted(people.values(), key=lambda p: (-p["days"], p["name"] or ""))
    shown = next((p for p in allowed if p.code == point), None) if point else (
        allowed[0] if len(allowed) == 1 else None)
    return render_template("circulation/overdue.html", people=ordered, point=point, shown_point=shown,
                           points=allowed, full_phone=full_phone, now=now)


@bp.get("/circulation/review")
@roles(*LIBRARIANS)
@personal_data
def review():
    db = get_session()
    show = request.args.get("show", "open")
    rows = reads.review_rows(db, current_user, show=show)
    return render_template("circulation/review.html", rows=rows, show=show, actions=service.REVIEW_ACTIONS,
                           device_time=_device_time)


def _device_time(value: str | None) -> str:
    """The phone's time as recorded, in the organisation's time zone; a reading that is no time
    there (year 9999 moved to +08:00, or not a time at all) as the phone gave it."""
    from library_app.web import format_local

    try:
        return format_local(datetime.fromisoformat(value or ""), "%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError):
        return (value or "")[:64]


@bp.post("/circulation/review/<int:item_id>")
@roles(*LIBRARIANS)
def resolve(item_id: int):
    try:
        service.resolve_review(get_session(), current_user, utcnow(), item_id, request.form.get("action", ""),
                               request.form.get("note", ""), ip=request.remote_addr or "")
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
    else:
        flash("已处理。", "success")
    return redirect(url_for("circulation.review"))
