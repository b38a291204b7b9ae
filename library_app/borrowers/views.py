"""Borrowers (小读者) and their cards: list, register, page, edit, cards, printing, privacy."""

from __future__ import annotations

import base64
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from library_app.access import CIRCULATION, LIBRARIANS, personal_data, roles, writes
from library_app.db import get_session
from library_app.domain.borrowers import (
    BORROWER_STATUSES,
    BORROWER_TYPES,
    CARD_STATUSES,
    phone_masked_for,
)
from library_app.domain.codes import qr_content
from library_app.domain.errors import RuleBroken
from library_app.domain.jsontext import INT_MAX
from library_app.domain.roles import is_point_bound
from library_app.domain.statuses import BorrowerStatus, CardStatus
from library_app.models import Borrower, Card, Point, User
from library_app.services import borrowers as service
from library_app.services import card_image, privacy
from library_app.services import cards as cards_service
from library_app.services.errors import Invalid
from library_app.services.points import list_points
from library_app.services.qr import qr_svg
from library_app.web import current_settings, org_tz, query_int, utcnow

from .forms import BatchForm, BorrowerForm, RegisterForm

bp = Blueprint("borrowers", __name__)


@bp.context_processor
def _names() -> dict[str, Any]:
    return {"BORROWER_STATUSES": BORROWER_STATUSES, "BORROWER_TYPES": BORROWER_TYPES,
            "CARD_STATUSES": CARD_STATUSES}


# ---------------------------------------------------------------- list and search

@bp.get("/borrowers/")
@roles(*CIRCULATION)
@personal_data
def index():
    db = get_session()
    q = request.args.get("q", "").strip()
    point = request.args.get("point", "").strip().upper()
    status = request.args.get("status", "")
    if status not in BORROWER_STATUSES:
        status = ""
    page = service.search_borrowers(db, current_user, q=q, point_code=point, status=status,
                                    page=query_int("page"))
    points = (current_user.points if is_point_bound(current_user.role) else list_points(db))
    return render_template("borrowers/index.html", page=page, q=q, point=point, status=status,
                           points=points)


# ---------------------------------------------------------------- registration

def _point_choices(form: BorrowerForm, points: list[Point]) -> None:
    form.point.choices = [SelectChoice(p.code, f"{p.code} {p.name}") for p in points]


@bp.route("/borrowers/new", methods=["GET", "POST"])
@roles(*CIRCULATION)
@personal_data
def new():
    db = get_session()
    now = utcnow()
    form = RegisterForm()
    points = service.points_for_registration(db, current_user)
    _point_choices(form, points)
    if request.method == "GET":
        form.card.data = request.args.get("card", "")
        wanted = request.args.get("point", "")
        if wanted:
            form.point.data = wanted
    blank = None
    if form.card.data:
        blank = cards_service.find_card(db, form.card.data)
        cards_service.check_bindable(blank)
    duplicates: list[Borrower] = []
    status = 200
    if form.validate_on_submit():
        duplicates = service.find_duplicates(db, form.name.data or "", form.guardian_phone.data or "")
        if duplicates and form.confirm_duplicate.data != "1":
            form.confirm_duplicate.data = "1"
            flash("可能已经登记过：同名且监护人电话相同的小读者已存在。请先确认；"
                  "如果确实是另一个孩子，再点一次“登记”。", "warning")
        else:
            try:
                borrower, card = service.register_borrower(
                    db, current_user, now, point_code=form.point.data or "",
                    consent=bool(form.consent.data), name=form.name.data,
                    type=form.type.data, birth_year=form.birth_year.data,
                    guardian_name=form.guardian_name.data,
                    guardian_phone=form.guardian_phone.data,
                    school=form.school.data if current_settings().show_school_fields else "",
                    grade=form.grade.data if current_settings().show_school_fields else "",
                    card_code=form.card.data or None,
                )
            except RuleBroken as exc:
                if exc.status == 403:
                    raise
                flash(exc.message, "error")
                status = 422
            else:
                flash(f"已登记 {borrower.name}，借阅证 {card.code}。", "success")
                return redirect(url_for("borrowers.card_page", code=card.code))
    elif request.method == "POST" and form.errors:
        flash("请按提示修改后再提交。", "error")
    return render_template(
        "borrowers/new.html", form=form, blank=blank, duplicates=duplicates,
        show_school=current_settings().show_school_fields,
        own_points=current_user.point_codes(), masked=True,
    ), status


# ---------------------------------------------------------------- a borrower's page

@bp.get("/borrowers/<int:borrower_id>")
@roles(*CIRCULATION)
@writes
@personal_data
def detail(borrower_id: int):
    db = get_session()
    now = utcnow()
    borrower = service.get_borrower(db, current_user, borrower_id)
    service.record_view(db, current_user, now, borrower, ip=request.remote_addr or "")
    loans = service.loans_overview(db, current_user, now, borrower)
    consent_by = db.get(User, borrower.consent_by_id) if borrower.consent_by_id else None
    return render_template(
        "borrowers/detail.html", borrower=borrower, loans=loans, consent_by=consent_by,
        masked=phone_masked_for(current_user.role), settings=current_settings(),
        staff=current_user.role in LIBRARIANS, admin=current_user.role == "admin",
        access=service.access_log(db, borrower) if current_user.role == "admin" else [],
    )


@bp.route("/borrowers/<int:borrower_id>/edit", methods=["GET", "POST"])
@roles(*LIBRARIANS)
@personal_data
def edit(borrower_id: int):
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    form = BorrowerForm(obj=borrower)
    _point_choices(form, service.points_for_registration(db, current_user))
    if request.method == "GET":
        form.point.data = borrower.home_point.code
        form.birth_year.data = str(borrower.birth_year or "")
    status = 200
    if form.validate_on_submit():
        try:
            service.update_borrower(
                db, current_user, utcnow(), borrower, name=form.name.data, type=form.type.data,
                birth_year=form.birth_year.data, guardian_name=form.guardian_name.data,
                guardian_phone=form.guardian_phone.data, point_code=form.point.data or "",
                school=form.school.data, grade=form.grade.data,
            )
        except RuleBroken as exc:
            flash(exc.message, "error")
            status = 422
        else:
            flash("已保存。", "success")
            return redirect(url_for("borrowers.detail", borrower_id=borrower.id))
    return render_template("borrowers/edit.html", form=form, borrower=borrower,
                           show_school=current_settings().show_school_fields or bool(borrower.school)), status


@bp.post("/borrowers/<int:borrower_id>/status")
@roles(*LIBRARIANS)
def change_status(borrower_id: int):
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    new_status = request.form.get("status", "")
    service.set_status(db, current_user, utcnow(), borrower, new_status)
    flash(f"{borrower.name} 的状态已改为“{BORROWER_STATUSES[new_status]}”。", "success")
    return redirect(url_for("borrowers.detail", borrower_id=borrower.id))


@bp.post("/borrowers/<int:borrower_id>/card")
@roles(*LIBRARIANS)
def replace_card(borrower_id: int):
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    card, old = cards_service.issue_card(db, current_user, utcnow(), borrower)
    flash(f"已补办新借阅证 {card.code}" + (f"，旧证 {old.code} 已作废。" if old else "。"), "success")
    return redirect(url_for("borrowers.detail", borrower_id=borrower.id))


@bp.get("/borrowers/<int:borrower_id>/card.png")
@roles(*CIRCULATION)
@writes
@personal_data
def card_png(borrower_id: int):
    """The card as an image for the guardian's phone; it carries the name, so it is logged."""
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    card = borrower.active_card
    if card is None:
        abort(404)
    settings = current_settings()
    png = card_image.card_png(
        code=card.code, qr_text=qr_content(card.code, settings.public_base_url),
        name=borrower.name, point=f"{borrower.home_point.code} {borrower.home_point.name}",
        point_code=borrower.home_point.code, org_name=settings.org_name,
        font_path=card_image.find_cjk_font(current_app.config.get("CJK_FONT_PATH") or ""),
    )
    service.record_view(db, current_user, utcnow(), borrower, ip=request.remote_addr or "",
                        via="card_image")
    download = request.args.get("download") == "1"
    return Response(png, mimetype="image/png", headers={
        "Content-Disposition": f"{'attachment' if download else 'inline'}; filename={card.code}.png",
    })


# ---------------------------------------------------------------- privacy: export and erase

@bp.get("/borrowers/<int:borrower_id>/export.<fmt>")
@roles("admin")
@writes
@personal_data
def export(borrower_id: int, fmt: str):
    if fmt not in ("json", "csv"):
        abort(404)
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    data = privacy.export_data(db, current_user, utcnow(), borrower, fmt)
    name = f"borrower-{borrower.id}.{fmt}"
    if fmt == "json":
        response = jsonify(data)
    else:
        response = Response(privacy.export_csv(data), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    return response


@bp.route("/borrowers/<int:borrower_id>/erase", methods=["GET", "POST"])
@roles("admin")
@personal_data
def erase(borrower_id: int):
    db = get_session()
    borrower = service.get_borrower(db, current_user, borrower_id)
    if request.method == "POST":
        if request.form.get("confirm") != "1":
            flash("请勾选确认框后再执行匿名化。", "error")
        else:
            privacy.erase_borrower(db, current_user, utcnow(), borrower)
            flash("已匿名化：姓名、监护人和电话已从系统中删除，借阅次数仍计入统计。", "success")
            return redirect(url_for("borrowers.detail", borrower_id=borrower.id))
    return render_template("borrowers/erase.html", borrower=borrower)


# ---------------------------------------------------------------- a card's page (/s/<code>)

@bp.get("/cards/<code>")
@roles(*CIRCULATION)
@writes
@personal_data
def card_page(code: str):
    """Where a card's QR lands. Active: the child, for the story mother to make current.
    Revoked: says so and names no one. Unbound: bind it to a new or existing child."""
    db = get_session()
    now = utcnow()
    found = cards_service.lookup(db, code)
    card = found.card
    if card.status == CardStatus.REVOKED:
        return render_template("borrowers/card_revoked.html", card=card), 410
    if card.status == CardStatus.UNBOUND:
        q = request.args.get("q", "").strip()
        matches = service.search_borrowers(db, current_user, q=q, status=BorrowerStatus.ACTIVE, per_page=10) \
            if q else None
        return render_template("borrowers/card_unbound.html", card=card, q=q, matches=matches)
    borrower = found.borrower
    assert borrower is not None
    service.check_access(current_user, borrower)
    service.record_view(db, current_user, now, borrower, ip=request.remote_addr or "", via="card")
    loans = service.loans_overview(db, current_user, now, borrower)
    settings = current_settings()
    return render_template(
        "borrowers/card.html", card=card, borrower=borrower, loans=loans,
        loan_limit=settings.loan_limit, masked=phone_masked_for(current_user.role),
    )


@bp.post("/cards/<code>/bind")
@roles(*CIRCULATION)
def bind(code: str):
    db = get_session()
    card = cards_service.find_card(db, code)
    borrower_id = query_int("borrower_id", 0, low=0, high=INT_MAX, values=request.form)
    if not borrower_id:
        raise Invalid("请选择要绑定的小读者。")
    borrower = service.get_borrower(db, current_user, borrower_id)
    if borrower.anonymised_at is not None:
        raise Invalid("已匿名的借阅人不能绑定借阅证。")
    cards_service.bind_card(db, current_user, utcnow(), card, borrower)
    flash(f"借阅证 {card.code} 已绑定给 {borrower.name}。", "success")
    return redirect(url_for("borrowers.card_page", code=card.code))


# ---------------------------------------------------------------- printing cards

@bp.get("/cards/")
@roles(*LIBRARIANS)
def print_cards():
    db = get_session()
    return render_template("borrowers/print.html", form=BatchForm(),
                           points=service.points_for_registration(db, current_user),
                           batches=cards_service.recent_batches(db))


@bp.post("/cards/batch")
@roles(*LIBRARIANS)
def batch():
    form = BatchForm()
    if not form.validate_on_submit():
        raise Invalid("请填写要生成的张数。")
    try:
        count = int((form.count.data or "").strip())
    except ValueError as exc:
        raise Invalid("张数应为 1 到 500 之间的整数。") from exc
    cards = cards_service.create_unbound_batch(get_session(), current_user, utcnow(), count,
                                               form.label.data or "")
    flash(f"已生成 {len(cards)} 张空白借阅证（{cards[0].code} – {cards[-1].code}），请打印。", "success")
    return redirect(url_for("borrowers.sheet", batch=cards[0].batch))


def _sheet_cards() -> list[Card]:
    """The cards chosen by the query: a batch, a list of codes or ids, a point, new since a date."""
    args = request.args
    return cards_service.sheet_cards(
        get_session(), current_user, batch=args.get("batch", "").strip(), codes=args.get("codes", ""),
        ids=args.get("ids", ""), point=args.get("point", "").strip().upper(),
        since=args.get("since", "").strip(), tz=org_tz())


@bp.get("/cards/sheet")
@roles(*LIBRARIANS)
@writes
@personal_data
def sheet():
    cards = _sheet_cards()
    settings = current_settings()
    items = []
    for card in cards:
        svg = qr_svg(qr_content(card.code, settings.public_base_url))
        items.append({
            "card": card, "borrower": card.borrower if card.status == CardStatus.ACTIVE else None,
            "qr": "data:image/svg+xml;base64," + base64.b64encode(svg).decode(),
        })
    pages = [items[i:i + 10] for i in range(0, len(items), 10)]
    from library_app.services import audit

    audit.record(get_session(), current_user, utcnow(), "cards.print", "card", "",
                 count=len(items), codes=[c.code for c in cards])
    return render_template("borrowers/sheet.html", pages=pages, count=len(items),
                           org_name=settings.org_name)
