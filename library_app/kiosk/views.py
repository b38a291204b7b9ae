"""Pages of the self-service corner (product.md "Self-service corner").

- ``/kiosk``: the tablet's screen. It needs no login: the page is the same for everyone and
  holds no data; the device's kiosk token (kept in the browser) is sent by kiosk.js to the
  kiosk API. Until the device is enrolled it shows the enrol screen.
- ``/kiosks``: librarians create (one-time code + QR), list and revoke kiosks.
"""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length

from library_app.access import LIBRARIANS, kiosk_route, public, roles
from library_app.db import get_session
from library_app.models import Point
from library_app.services import kiosk as service
from library_app.services.errors import Invalid
from library_app.services.qr import qr_png
from library_app.web import utcnow

bp = Blueprint("kiosk", __name__)


@bp.app_template_global("kiosk_activity")
def kiosk_activity(point_code: str | None = None) -> dict[str, object]:
    """For the loans page: today's activity per kiosk (of one point, or all)."""
    from sqlalchemy import select

    from library_app.web import local

    db = get_session()
    now = utcnow()
    today = local(now)
    assert today is not None
    since = today.replace(hour=0, minute=0, second=0, microsecond=0)
    point_ids = None
    if point_code:
        point_ids = list(db.scalars(select(Point.id).where(Point.code == point_code)))
    return {"kiosks": service.activity(db, since, point_ids),
            "refusals": service.recent_refusals(db, since, point_ids=point_ids)}


@bp.get("/kiosk")
@public
@kiosk_route
def screen():
    cfg = current_app.config
    return render_template("kiosk/screen.html",
                           idle_seconds=int(cfg.get("KIOSK_IDLE_SECONDS", 60)),
                           undo_seconds=int(cfg.get("KIOSK_UNDO_SECONDS", 10)))


class KioskForm(FlaskForm):
    name = StringField("名字（例如“三灶点平板”）", validators=[InputRequired("请填写名字。"), Length(max=64)])
    point = SelectField("阅读点", validators=[InputRequired("请选择阅读点。")])


def _form() -> KioskForm:
    form = KioskForm()
    points = [p for p in get_session().scalars(select_points()) if service.may_manage(current_user, p)]
    form.point.choices = [(p.code, f"{p.code} {p.name}") for p in points]
    return form


def select_points():
    from sqlalchemy import select
    return select(Point).where(Point.active.is_(True)).order_by(Point.code)


def _qr_data_uri(content: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(content, box_size=8)).decode()


@bp.route("/kiosks", methods=["GET", "POST"])
@roles(*LIBRARIANS)
def kiosks():
    db = get_session()
    form = _form()
    created = None
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        try:
            kiosk, code = service.create_kiosk(db, current_user, utcnow(), name=form.name.data,
                                               point_code=form.point.data)
        except Invalid as exc:
            form.name.errors = [*form.name.errors, exc.message]
            status = 422
        else:
            url = url_for("kiosk.screen", _external=True, code=code)
            created = {"kiosk": kiosk, "code": code, "qr": _qr_data_uri(url), "url": url}
    kiosks = service.list_kiosks(db, current_user)
    now = utcnow()
    return render_template("kiosk/admin.html", form=form, created=created, kiosks=kiosks,
                           long_unused={k.id for k in kiosks if service.long_unused(k, now)},
                           activity={a["id"]: a for a in kiosk_activity()["kiosks"]}), status  # type: ignore[attr-defined]


@bp.post("/kiosks/<int:kiosk_id>/revoke")
@roles(*LIBRARIANS)
def revoke(kiosk_id: int):
    db = get_session()
    kiosk = service.get_kiosk(db, kiosk_id)
    service.revoke(db, current_user, utcnow(), kiosk)
    flash(f"已停用自助借书机“{kiosk.name}”：它马上不能再借还。", "success")
    return redirect(url_for("kiosk.kiosks"))


@bp.post("/borrowers/<int:borrower_id>/self-service")
@roles(*LIBRARIANS)
def set_self_service(borrower_id: int):
    """The child's page: allow (or stop) her borrowing alone at a kiosk."""
    from library_app.services import borrowers as borrowers_service

    db = get_session()
    borrower = borrowers_service.get_borrower(db, current_user, borrower_id)
    value = request.form.get("self_service") == "1"
    service.set_self_service(db, current_user, utcnow(), borrower, value)
    flash(f"{borrower.name}{'现在可以在自助借书机上自己借书了' if value else '不能再在自助借书机上自己借书'}。", "success")
    return redirect(url_for("borrowers.detail", borrower_id=borrower.id))
