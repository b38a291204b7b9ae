from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from library_app.access import STAFF, roles
from library_app.db import get_session
from library_app.domain import invites as invite_rules
from library_app.domain.errors import RuleBroken
from library_app.domain.roles import Role
from library_app.main.home import home_panel
from library_app.services import invites as invites_service
from library_app.services import point_overview
from library_app.services import points as points_service
from library_app.web import org_tz, utcnow

from .forms import PointForm

bp = Blueprint("points", __name__, url_prefix="/points")


@bp.get("/")
@roles(*STAFF)
def index():
    db = get_session()
    return render_template("points/index.html", points=points_service.list_points(db),
                           people=points_service.people_by_point(db))


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
    people = points_service.people_by_point(db).get(point.id, {})
    invitations = [i for i in invites_service.list_invitations(db, current_user) if point.code in i.point_codes()]
    return render_template("points/form.html", form=form, point=point, people=people,
                           invitations=invitations[:20], now=utcnow(),
                           state_names=invite_rules.STATE_NAMES), status


@home_panel
def lead_panel(user: Any) -> dict[str, Any]:
    """A point lead's first page: each of her points' day, overdue count, activities and story
    mothers."""
    if not getattr(user, "is_authenticated", False) or user.role != Role.POINT_LEAD:
        return {}
    points = [p for p in user.points if p.active]
    return {"point_overviews": point_overview.overview(get_session(), points, utcnow(), org_tz())}
