"""Pages: record an activity on a phone (also offline), the activities list, the volunteer
register, and the annual report (年度报告) with its A4 print."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from library_app.access import CIRCULATION, LIBRARIANS, REPORT_READERS, roles
from library_app.db import discard_changes, get_session
from library_app.domain.activities import FIGURES, VOLUNTEER_KINDS, hours_text, parse_kinds
from library_app.domain.borrowers import phone_masked_for
from library_app.domain.errors import RuleBroken
from library_app.domain.reports import current_month, parse_year
from library_app.main.home import home_panel
from library_app.models import Point
from library_app.services import activities as service
from library_app.services import annual_report, scope
from library_app.services import volunteers as volunteer_service
from library_app.services.points import working_points
from library_app.web import current_settings, org_tz, utcnow

bp = Blueprint("activities", __name__)



def _points() -> list[Point]:
    return working_points(get_session(), current_user)


@bp.get("/activities/new")
@roles(*CIRCULATION)
def new():
    settings = current_settings()
    points = _points()
    volunteers = volunteer_service.list_volunteers(get_session(), current_user)
    return render_template(
        "activities/new.html", points=points, kinds=parse_kinds(settings.activity_kinds),
        volunteers=[v for v in volunteers if v.active], prep_minutes=settings.volunteer_prep_minutes,
    )


@bp.get("/activities")
@roles(*CIRCULATION)
def index():
    settings = current_settings()
    rows = service.list_activities(get_session(), current_user, org_tz(),
                                   point_code=request.args.get("point", ""), limit=100)
    return render_template("activities/index.html", activities=rows,
                           kinds=parse_kinds(settings.activity_kinds), tz=org_tz())


@bp.get("/volunteers")
@roles(*CIRCULATION)
def volunteers():
    rows = volunteer_service.list_volunteers(get_session(), current_user)
    year = current_month(utcnow(), org_tz()).year
    return render_template("activities/volunteers.html", volunteers=rows, points=_points(),
                           kinds=VOLUNTEER_KINDS, masked=phone_masked_for(current_user.role),
                           year=year, today=utcnow().astimezone(org_tz()).date())


@bp.post("/volunteers")
@roles(*CIRCULATION)
def add_volunteer():
    form = request.form
    try:
        joined = date.fromisoformat(form["joined_on"]) if form.get("joined_on") else None
    except ValueError:
        joined = None
    try:
        volunteer = volunteer_service.register_volunteer(
            get_session(), current_user, utcnow(), name=form.get("name"), kind=form.get("kind"),
            point_code=form.get("point", ""), phone=form.get("phone"),
            username=form.get("username") or None, consent=form.get("consent") == "yes",
            joined_on=joined,
        )
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
        return redirect(url_for("activities.volunteers"))
    flash(f"已登记志愿者 {volunteer.name}。", "success")
    return redirect(url_for("activities.volunteers"))


@bp.get("/reports/annual/")
@roles(*REPORT_READERS)
def annual():
    """The nav's entry: this year's annual report."""
    return redirect(url_for("activities.annual_page", year=current_month(utcnow(), org_tz()).year))


@bp.get("/reports/annual/<year>")
@roles(*REPORT_READERS)
def annual_page(year: str):
    return _annual_page(parse_year(year))


@bp.post("/reports/annual/<year>/targets")
@roles("admin")
def annual_targets(year: str):
    """The targets form of the annual page: each figure's target, a blank one removed (loans:
    back to the default). A value that is not a whole number in range answers the page again
    with 422, the message and what was typed, and nothing is saved."""
    number = parse_year(year)
    typed = {name: request.form.get(name, "").strip().replace(",", "").replace("，", "")
             for name, _label in FIGURES}
    data: dict[str, int | None] = {}
    for name, label in FIGURES:
        try:
            data[name] = int(typed[name]) if typed[name] else None
        except ValueError:
            return _annual_page(number, f"“{label}”的目标需要是整数。", typed), 422
    try:
        annual_report.set_targets(get_session(), current_user, utcnow(), number, data, current_settings())
    except RuleBroken as exc:
        discard_changes()
        return _annual_page(number, exc.message, typed), 422
    flash(f"已保存 {number} 年的目标。", "success")
    return redirect(url_for("activities.annual_page", year=number, point=request.args.get("point") or None))


def _annual_page(number: int, target_errors: str = "", typed: dict[str, str] | None = None) -> str:
    settings = current_settings()
    point = scope.report_point(get_session(), current_user, request.args.get("point"))
    report = annual_report.annual_report(get_session(), utcnow(), number, settings, point_code=point)
    this, last = report.figures.as_dict(), report.last_year.as_dict()
    biggest = max([m.loans for m in report.months] + [1])
    stored = annual_report.stored_targets(get_session(), number)
    return render_template(
        "activities/annual.html", report=report, this=this, last=last, figures=FIGURES,
        all_points=scope.report_points(get_session(), current_user),
        biggest=biggest, now_year=current_month(utcnow(), org_tz()).year,
        can_set_targets=current_user.role == "admin", staff=current_user.role in LIBRARIANS,
        target_errors=target_errors, default_loans_target=settings.default_year_target,
        target_values=typed if typed is not None else {k: str(v) for k, v in stored.items()},
    )


@home_panel
def activities_panel(user: Any) -> dict[str, Any]:
    """A manager's home: the year's activities and volunteer minutes beside the loans."""
    if not getattr(user, "is_authenticated", False) or user.role not in REPORT_READERS:
        return {}
    year, held, minutes = annual_report.year_counters(get_session(), utcnow(), current_settings())
    return {"activity_counter": {"year": year, "activities": held, "volunteer_minutes": minutes,
                                 "hours": hours_text(minutes)}}
