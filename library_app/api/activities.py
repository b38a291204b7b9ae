"""Reading activities, volunteers and the annual report (api.md "Reading activities and
volunteers", "Annual report").

- ``POST /api/v1/volunteers`` → 201 ``{"id","name","kind","point"}``; ``GET /api/v1/volunteers``.
- ``POST /api/v1/activities`` → 201 applied; the same id again → 200 duplicate; other content → 422.
- ``PUT /api/v1/activities/{id}``: a correction (a story mother her own for 24 hours).
- ``GET /api/v1/activities?point=&from=&to=``.
- ``GET /api/v1/volunteers/{id}/certificate?from=&to=`` → a printable HTML page.
- ``GET /api/v1/reports/annual/{yyyy}[?point=]`` and ``.xlsx`` / ``.csv`` (a viewer too).
- ``PUT /api/v1/reports/annual/{yyyy}/targets`` ``{"loans": 12000, "activities": 400, …}`` (admin).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify, render_template, request
from flask_login import current_user

from library_app.access import CIRCULATION, REPORT_READERS, roles, writes
from library_app.db import get_session
from library_app.domain.activities import ActivityInvalid, parse_kinds
from library_app.domain.borrowers import phone_masked_for
from library_app.domain.reports import parse_year
from library_app.domain.text import mask_phone
from library_app.models import Activity, Volunteer
from library_app.services import activities as service
from library_app.services import annual_report, scope
from library_app.services import volunteers as volunteer_service
from library_app.web import current_settings, org_tz, utcnow

from . import bp
from .util import json_body


def _day(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ActivityInvalid(f"日期 {raw} 格式无效，例如 2026-03-01。") from exc


def volunteer_json(v: Volunteer, masked: bool = True) -> dict[str, Any]:
    return {"id": v.id, "name": v.name, "kind": v.kind, "point": v.home_point.code,
            "phone": mask_phone(v.phone) if masked else v.phone,
            "username": v.user.username if v.user else None,
            "joined_on": v.joined_on.isoformat(), "consent_at": v.consent_at.isoformat() if v.consent_at else None}


def activity_json(a: Activity) -> dict[str, Any]:
    return {
        "id": a.client_id, "point": a.point.code, "kind": a.kind,
        "started_at": a.started_at.astimezone(org_tz()).isoformat(), "minutes": a.minutes,
        "children": a.children, "attendance": a.attendance, "adults": a.adults,
        "cards": [c.card_code for c in a.cards], "titles": [t.text for t in a.titles],
        "volunteers": [{"volunteer": v.volunteer_id, "name": v.volunteer.name, "minutes": v.minutes}
                       for v in a.volunteers],
        "note": a.note, "recorded_by": a.recorded_by.username if a.recorded_by else None,
        "created_at": a.created_at.isoformat(), "updated_at": a.updated_at.isoformat(),
    }


@bp.post("/volunteers")
@roles(*CIRCULATION)
def create_volunteer():
    data = json_body()
    db = get_session()
    volunteer = volunteer_service.register_volunteer(
        db, current_user, utcnow(), name=data.get("name"), kind=data.get("kind"),
        point_code=str(data.get("point") or ""), phone=data.get("phone"),
        username=data.get("username"), consent=data.get("consent"),
    )
    body = volunteer_json(volunteer, masked=phone_masked_for(current_user.role))
    return jsonify(body), 201


@bp.get("/volunteers")
@roles(*CIRCULATION)
def list_volunteers():
    masked = phone_masked_for(current_user.role)
    rows = volunteer_service.list_volunteers(get_session(), current_user, request.args.get("point", ""))
    return jsonify(volunteers=[volunteer_json(v, masked) for v in rows])


@bp.get("/volunteers/<int:volunteer_id>/certificate")
@roles(*CIRCULATION)
@writes
def volunteer_certificate(volunteer_id: int):
    settings = current_settings()
    now = utcnow()
    tz = org_tz()
    this_year = now.astimezone(tz).year
    start = _day("from") or date(this_year, 1, 1)
    end = _day("to") or now.astimezone(tz).date()
    cert = volunteer_service.certificate(get_session(), current_user, now, volunteer_id, start, end,
                                         tz, parse_kinds(settings.activity_kinds))
    return render_template("activities/certificate.html", cert=cert, settings=settings)


@bp.post("/activities")
@roles(*CIRCULATION)
def create_activity():
    data = json_body()
    result = service.record_activity(get_session(), current_user, utcnow(), data, current_settings())
    if result.status == "duplicate":
        return jsonify(id=result.activity.client_id, status="duplicate"), 200
    body = {"status": "applied", **activity_json(result.activity)}
    return jsonify(body), 201


@bp.put("/activities/<activity_id>")
@roles(*CIRCULATION)
def correct_activity(activity_id: str):
    data = json_body()
    activity = service.correct_activity(get_session(), current_user, utcnow(), activity_id, data,
                                        current_settings())
    body = {"status": "corrected", **activity_json(activity)}
    return jsonify(body)


@bp.get("/activities")
@roles(*CIRCULATION)
def list_activities():
    rows = service.list_activities(get_session(), current_user, org_tz(),
                                   point_code=request.args.get("point", ""),
                                   start=_day("from"), end=_day("to"))
    return jsonify(activities=[activity_json(a) for a in rows])


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _annual(year: str) -> annual_report.AnnualReport:
    return annual_report.annual_report(get_session(), utcnow(), parse_year(year), current_settings(),
                                       point_code=scope.report_point(get_session(), current_user,
                                                                     request.args.get("point")))


@bp.get("/reports/annual/<year>")
@roles(*REPORT_READERS)
def report_annual(year: str):
    return jsonify(_annual(year).as_json())


@bp.get("/reports/annual/<year>.csv")
@roles(*REPORT_READERS)
def report_annual_csv(year: str):
    report = _annual(year)
    return _download(annual_report.csv_bytes(report, current_settings()), "text/csv; charset=utf-8",
                     annual_report.filename(report, "csv"))


@bp.get("/reports/annual/<year>.xlsx")
@roles(*REPORT_READERS)
def report_annual_xlsx(year: str):
    report = _annual(year)
    return _download(annual_report.xlsx_bytes(report, current_settings()),
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     annual_report.filename(report, "xlsx"))


@bp.put("/reports/annual/<year>/targets")
@roles("admin")
def put_annual_targets(year: str):
    data = json_body()
    targets = annual_report.set_targets(get_session(), current_user, utcnow(), parse_year(year),
                                        data, current_settings())
    return jsonify(year=parse_year(year), targets=targets)


@bp.post("/activities/batch")
@roles(*CIRCULATION)
def activities_batch():
    """The phone's outbox: ``{"events": [activity, …]}`` → ``{"results": [{"id","status",
    "code","message"}]}`` in the order sent, each recorded once by its id (a retry after a lost
    answer is told ``duplicate``); one refused record does not hold back the others."""
    from library_app.domain.errors import RuleBroken

    data = json_body()
    events = data.get("events")
    if not isinstance(events, list) or not events or len(events) > 100:
        raise ActivityInvalid("events 需是 1 到 100 条活动记录的列表。")
    db = get_session()
    now = utcnow()
    settings = current_settings()
    results = []
    for event in events:
        event_id = event.get("id") if isinstance(event, dict) else None
        try:
            with db.begin_nested():
                if not isinstance(event, dict):
                    raise ActivityInvalid("每条活动记录需是 JSON 对象。")
                done = service.record_activity(db, current_user, now, event, settings)
        except RuleBroken as exc:
            results.append({"id": event_id, "status": "rejected", "code": exc.code,
                            "message": exc.message})
            continue
        message = "活动已记录。" if done.status == "applied" else "这条活动之前已经记录过了。"
        results.append({"id": done.activity.client_id, "status": done.status, "code": done.status,
                        "message": message})
    return jsonify(results=results)
