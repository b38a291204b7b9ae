from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from library_app.access import STAFF, roles
from library_app.db import get_session
from library_app.domain.errors import RuleBroken
from library_app.services import points as points_service
from library_app.web import utcnow

from .forms import PointForm

bp = Blueprint("points", __name__, url_prefix="/points")


@bp.get("/")
@roles(*STAFF)
def index():
    return render_template("points/index.html", points=points_service.list_points(get_session()))


@bp.route("/new", methods=["GET", "POST"])
@roles(*STAFF)
def new():
    form = PointForm()
    status = 200
    if form.validate_on_submit():
        try:
            point = points_service.create_point(
                get_session(), current_user, utcnow(), code=form.code.data or "",
                name=form.name.data or "", address=form.address.data or "",
            )
        except RuleBroken as exc:
            flash(exc.message, "error")
            status = 422
        else:
            flash(f"已添加阅读点 {point.code} {point.name}。", "success")
            return redirect(url_for("points.index"))
    return render_template("points/form.html", form=form, point=None), status


@bp.route("/<code>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def edit(code: str):
    db = get_session()
    point = points_service.get_point(db, code)
    form = PointForm(obj=point)
    form.code.data = point.code
    status = 200
    if form.validate_on_submit():
        try:
            points_service.update_point(
                db, current_user, utcnow(), point, name=form.name.data or "",
                address=form.address.data or "", active=bool(form.active.data),
            )
        except RuleBroken as exc:
            flash(exc.message, "error")
            status = 422
        else:
            flash("已保存。", "success")
            return redirect(url_for("points.index"))
    return render_template("points/form.html", form=form, point=point), status
