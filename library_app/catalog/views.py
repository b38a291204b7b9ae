"""Catalog pages: titles, copies, transfers, import/export (librarian, admin; a point lead at her
points); the copy page that a label's QR opens (every signed-in role, one-tap actions by role).
The label sheets are in ``labels.py``, on the same blueprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from library_app.access import ALL_ROLES, LIBRARIANS, STAFF, roles, writes
from library_app.db import after_commit, discard_changes, get_session
from library_app.domain import catalog as rules
from library_app.domain import reach
from library_app.domain.codes import qr_content
from library_app.domain.errors import InvalidIsbn, RuleBroken
from library_app.domain.isbn import format_isbn
from library_app.domain.roles import is_point_bound
from library_app.models import Copy, Title
from library_app.services import catalog as service
from library_app.services import catalog_export, catalog_import, scope
from library_app.services import catalog_search as search
from library_app.services import points as points_service
from library_app.services import transfers as transfers_service
from library_app.web import current_settings, org_tz, query_int, utcnow

from .forms import AddCopiesForm, ImportForm, MoveForm, TitleForm, TransferForm

bp = Blueprint("catalog", __name__)


@bp.app_template_filter("isbn")
def isbn_filter(value: str | None) -> str:
    return format_isbn(value)


@bp.app_context_processor
def catalog_names() -> dict[str, Any]:
    return {"COPY_STATUS_NAMES": rules.STATUS_NAMES, "COPY_SOURCE_NAMES": rules.SOURCE_NAMES}


def _point_choices() -> list[SelectChoice]:
    """The points this user may put copies at: every active one for staff, a point lead's own."""
    return [SelectChoice(p.code, f"{p.code} {p.name}") for p in points_service.working_points(get_session(), current_user)]


def _base_url() -> str:
    return current_settings().public_base_url


# ------------------------------------------------------------------ titles

@bp.get("/titles")
@roles(*LIBRARIANS)
def titles():
    db = get_session()
    q = request.args.get("q", "").strip()
    category = request.args.get("category", "").strip()
    age_band = request.args.get("age_band", "").strip()
    page = search.search_titles(db, q, page=query_int("page"),
                                 category=category, age_band=age_band)
    counts = search.copy_counts(db, [t.id for t in page.items])
    return render_template(
        "catalog/titles.html", page=page, counts=counts, q=q, category=category,
        age_band=age_band, categories=rules.CATEGORIES, age_bands=rules.AGE_BANDS,
    )


def _title_data(form: TitleForm) -> dict[str, Any]:
    return {name: getattr(form, name).data for name in
            ("title", "isbn", "author", "publisher", "year", "category", "age_band", "notes",
             *rules.RECORD_FIELDS)}


def _save_title(form: TitleForm, save: Callable[[dict[str, Any]], Title]) -> tuple[Title | None, Title | None]:
    """Create or update a title from the form: (the title, None) when saved, else
    (None, the title that already has this ISBN, if that was the reason), the refusal shown on
    the form (ISBN) or as a message (other rules)."""
    try:
        title = save(_title_data(form))
    except service.DuplicateIsbn as exc:
        form.isbn.errors = [*form.isbn.errors, exc.message]
        return None, exc.title
    except InvalidIsbn as exc:
        form.isbn.errors = [*form.isbn.errors, exc.message]
    except RuleBroken as exc:
        flash(exc.message, "error")
    else:
        return title, None
    return None, None


@bp.route("/titles/new", methods=["GET", "POST"])
@roles(*LIBRARIANS)
def new_title():
    form = TitleForm()
    if request.method == "GET" and request.args.get("isbn"):
        form.isbn.data = request.args["isbn"]
    duplicate: Title | None = None
    status = 200
    if form.validate_on_submit():
        saved, duplicate = _save_title(
            form, lambda data: service.create_title(get_session(), current_user, utcnow(), data))
        if saved is not None:
            flash(f"已添加书目《{saved.title}》。现在可以添加馆藏。", "success")
            return redirect(url_for("catalog.title_page", title_id=saved.id) + "#add-copies")
        status = 409 if duplicate is not None else 422
    return render_template("catalog/title_form.html", form=form, title=None, duplicate=duplicate,
                           categories=rules.CATEGORIES), status


@bp.route("/titles/<int:title_id>/edit", methods=["GET", "POST"])
@roles(*LIBRARIANS)
def edit_title(title_id: int):
    db = get_session()
    title = service.get_title(db, title_id)
    reach.check_may_edit_title(current_user.role, current_user.id, title.added_by_id)
    form = TitleForm(obj=title)
    if request.method == "GET":
        form.year.data = str(title.year) if title.year else ""
        form.pages.data = str(title.pages) if title.pages else ""
        form.isbn.data = format_isbn(title.isbn)
    duplicate: Title | None = None
    status = 200
    if form.validate_on_submit():
        saved, duplicate = _save_title(
            form, lambda data: service.update_title(db, current_user, utcnow(), title, data))
        if saved is not None:
            flash("已保存。", "success")
            return redirect(url_for("catalog.title_page", title_id=title.id))
        status = 409 if duplicate is not None else 422
    return render_template("catalog/title_form.html", form=form, title=title, duplicate=duplicate,
                           categories=rules.CATEGORIES), status


@bp.get("/titles/<int:title_id>")
@roles(*LIBRARIANS)
def title_page(title_id: int):
    db = get_session()
    title = service.get_title(db, title_id)
    copies = service.copies_of(db, title)
    loans = service.open_loans(db, [c.id for c in copies])
    form = AddCopiesForm()
    form.point.choices = _point_choices()
    return render_template("catalog/title.html", title=title, copies=copies, loans=loans, form=form,
                           may_edit=reach.may_edit_title(current_user.role, current_user.id,
                                                         title.added_by_id))


@bp.post("/titles/<int:title_id>/copies")
@roles(*LIBRARIANS)
def add_copies(title_id: int):
    db = get_session()
    title = service.get_title(db, title_id)
    form = AddCopiesForm()
    form.point.choices = _point_choices()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(str(e), "error")
        return redirect(url_for("catalog.title_page", title_id=title.id) + "#add-copies")
    try:
        point = points_service.get_point(db, form.point.data or "")
        copies = service.add_copies(db, current_user, utcnow(), title, point, form.count.data or 0,
                                    source=form.source.data or "purchase")
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
        return redirect(url_for("catalog.title_page", title_id=title.id) + "#add-copies")
    first, last = copies[0].code, copies[-1].code
    span = first if first == last else f"{first} – {last}"
    flash(f"已在 {point.name} 添加 {len(copies)} 册：{span}。", "success")
    return redirect(url_for("catalog.title_page", title_id=title.id, new_from=first, new_to=last))


# ------------------------------------------------------------------ copies

@bp.get("/copies/<code>")
@roles(*ALL_ROLES)
@writes
def copy_page(code: str):
    db = get_session()
    try:
        copy = service.get_copy(db, code)
    except service.UnknownCopy as exc:
        return render_template("errors/error.html", status=404, message=exc.message), 404
    except RuleBroken as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    loan = service.open_loan(db, copy)
    person = None
    seen = scope.see_holder(db, current_user, utcnow(), loan, via="copy_page", ip=request.remote_addr or "")
    if loan is not None and seen is not None:
        if seen.full:
            url = None
            if "borrowers.detail" in current_app.view_functions:
                url = url_for("borrowers.detail", borrower_id=loan.borrower_id)
            person = {"name": seen.name, "card": service.card_of(loan) or "", "url": url}
        elif seen.level == scope.MASKED:
            person = {"name": seen.name, "card": "", "url": None}
    staff = current_user.role in LIBRARIANS and (
        not is_point_bound(current_user.role) or copy.current_point.code in current_user.point_codes())
    move_form = MoveForm()
    if staff:
        move_form.point.choices = [c for c in _point_choices() if c.value != copy.current_point.code]
    return render_template(
        "catalog/copy.html", copy=copy, loan=loan, person=person, staff=staff,
        actions=rules.actions_for(copy.status) if staff else [], move_form=move_form,
        qr_text=qr_content(copy.code, _base_url()),
    )


def _copy_for_post(code: str) -> Copy:
    try:
        return service.get_copy(get_session(), code)
    except RuleBroken:
        abort(404)


@bp.post("/copies/<code>/status")
@roles(*LIBRARIANS)
def copy_status(code: str):
    copy = _copy_for_post(code)
    try:
        act, closed = service.change_status(get_session(), current_user, utcnow(), copy,
                                            request.form.get("action", ""),
                                            note=request.form.get("note", ""))
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
    else:
        extra = "这本书原来的借阅已结束。" if closed is not None else ""
        flash(f"{copy.code} {act.done}{extra}", "success")
    return redirect(url_for("catalog.copy_page", code=copy.code))


@bp.post("/copies/<code>/move")
@roles(*LIBRARIANS)
def copy_move(code: str):
    copy = _copy_for_post(code)
    form = MoveForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            point = points_service.get_point(db, form.point.data or "")
            transfers_service.transfer_copies(db, current_user, utcnow(), [copy.code], point)
        except RuleBroken as exc:
            discard_changes()
            flash(exc.message, "error")
        else:
            flash(f"{copy.code} 已调到 {point.code} {point.name}。", "success")
    return redirect(url_for("catalog.copy_page", code=copy.code))


# ------------------------------------------------------------------ transfers

@bp.route("/transfers/new", methods=["GET", "POST"])
@roles(*LIBRARIANS)
def new_transfer():
    form = TransferForm()
    form.to_point.choices = _point_choices()
    if form.validate_on_submit():
        db = get_session()
        codes = (form.codes.data or "").replace(",", "\n").replace("，", "\n").splitlines()
        try:
            point = points_service.get_point(db, form.to_point.data or "")
            t = transfers_service.transfer_copies(db, current_user, utcnow(), codes, point,
                                        notes=form.notes.data or "")
        except RuleBroken as exc:
            flash(exc.message, "error")
            return render_template("catalog/transfer_form.html", form=form), 422
        flash(f"已把 {len(t.items)} 册调到 {point.code} {point.name}。", "success")
        return redirect(url_for("catalog.transfers"))
    return render_template("catalog/transfer_form.html", form=form)


@bp.get("/transfers")
@roles(*LIBRARIANS)
def transfers():
    db = get_session()
    page = transfers_service.list_transfers(db, current_user, page=query_int("page"))
    details = transfers_service.transfer_details(db, page.items)
    return render_template("catalog/transfers.html", page=page, **details)


# ------------------------------------------------------------------ import / export

@bp.route("/titles/import", methods=["GET", "POST"])
@roles(*STAFF)
def import_titles():
    form = ImportForm()
    form.point.choices = [SelectChoice("", "（不建馆藏）"), *_point_choices()]
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read() if upload else b""
        name = (upload.filename or "") if upload else ""
        options: dict[str, Any] = {"point": form.point.data or "", "copies": form.copies.data or 0}
        db = get_session()
        try:
            plan = catalog_import.read_upload(db, data, name, utcnow(), copies=options["copies"],
                                              point=options["point"])
        except RuleBroken as exc:
            flash(exc.message, "error")
        else:
            token = catalog_import.stage_upload(current_app.instance_path, current_user.id, data,
                                                name, options)
            return render_template("catalog/import_preview.html", plan=plan, token=token,
                                   filename=name)
    return render_template("catalog/import.html", form=form, columns=rules.TEMPLATE_COLUMNS)


@bp.post("/titles/import/confirm")
@roles(*STAFF)
def import_confirm():
    token = request.form.get("token", "")
    partial = request.form.get("partial") == "1"
    db = get_session()
    try:
        data, meta = catalog_import.load_staged(current_app.instance_path, token, current_user.id)
        options = meta.get("options", {})
        plan = catalog_import.read_upload(db, data, meta.get("filename", ""), utcnow(),
                                          copies=int(options.get("copies") or 0),
                                          point=str(options.get("point") or ""))
        result = catalog_import.apply_import(db, current_user, utcnow(), plan, partial=partial)
    except catalog_import.ImportRefused as exc:
        flash(exc.message, "error")
        return render_template("catalog/import_preview.html", plan=plan, token=token,
                               filename=meta.get("filename", "")), 422
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
        return redirect(url_for("catalog.import_titles"))
    instance = current_app.instance_path
    after_commit(lambda: catalog_import.discard_staged(instance, token))  # kept if the save fails
    msg = f"导入完成：新建书目 {result.created} 种，馆藏 {result.copies_created} 册。"
    if result.errors:
        msg += f"跳过了 {len(result.errors)} 行有错误的数据。"
    flash(msg, "success")
    if result.copies_created:
        return redirect(url_for("catalog.labels", mode="range", code_from=result.first_code,
                                code_to=result.last_code))
    return redirect(url_for("catalog.titles"))


@bp.get("/titles/import/template.csv")
@roles(*STAFF)
def import_template():
    return Response(
        catalog_import.template_csv(), mimetype="text/csv",
        headers={"Content-Disposition": _attachment("书目导入模板.csv", "catalog-import-template.csv")},
    )


def _attachment(name: str, ascii_name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


_MIMES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@bp.get("/titles/export.<fmt>")
@roles(*STAFF)
def export_titles(fmt: str):
    if fmt not in _MIMES:
        abort(404)
    body = catalog_export.export_titles(get_session(), fmt)
    name = catalog_export.export_name("catalog-titles", fmt, utcnow(), org_tz())
    return Response(body, mimetype=_MIMES[fmt], headers={"Content-Disposition": _attachment(name, name)})


@bp.get("/copies/export.<fmt>")
@roles(*STAFF)
def export_copies(fmt: str):
    if fmt not in _MIMES:
        abort(404)
    body = catalog_export.export_copies(get_session(), fmt, org_tz())
    name = catalog_export.export_name("catalog-copies", fmt, utcnow(), org_tz())
    return Response(body, mimetype=_MIMES[fmt], headers={"Content-Disposition": _attachment(name, name)})


from . import labels as _labels  # noqa: E402,F401  (the label pages, on this blueprint)
