"""Reports API (api.md "Reports"): year and month JSON, CSV/XLSX downloads, targets, tallies,
and the import of past loans from spreadsheet logs."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from library_app.access import LIBRARIANS, REPORT_READERS, STAFF, lean_actor, roles
from library_app.db import discard_changes, get_session
from library_app.domain import reports as rules
from library_app.domain.settings import LibrarySettings
from library_app.reports import exports
from library_app.services import loan_import, scope
from library_app.services import reports as service
from library_app.web import current_settings, utcnow

from . import bp
from .util import json_body


def _with_people() -> bool:
    return current_user.role in LIBRARIANS


def _point() -> str | None:
    return scope.report_point(get_session(), current_user, request.args.get("point"))


@bp.get("/reports/year/<year>")
@roles(*REPORT_READERS)
@lean_actor
def report_year(year: str):
    report = service.year_report(get_session(), utcnow(), rules.parse_year(year), current_settings(),
                                 point_code=_point())
    return jsonify(report.as_json())


def _month(month: str, settings: LibrarySettings) -> service.MonthReport:
    return service.month_report(
        get_session(), utcnow(), rules.parse_month(month), settings,
        point_code=_point(), with_people=_with_people(),
    )


@bp.get("/reports/month/<month>")
@roles(*REPORT_READERS)
@lean_actor
def report_month(month: str):
    return jsonify(_month(month, current_settings()).as_json())


@bp.get("/reports/month/<month>.csv")
@roles(*REPORT_READERS)
@lean_actor
def report_month_csv(month: str):
    settings = current_settings()
    return exports.csv_response(_month(month, settings), settings)


@bp.get("/reports/month/<month>.xlsx")
@roles(*REPORT_READERS)
@lean_actor
def report_month_xlsx(month: str):
    settings = current_settings()
    return exports.xlsx_response(_month(month, settings), settings)


@bp.put("/targets/<year>")
@roles("admin")
def put_target(year: str):
    data = json_body()
    row = service.set_target(get_session(), current_user, utcnow(), rules.parse_year(year),
                             data.get("target"))
    return jsonify(year=row.year, target=row.target)


@bp.post("/tallies")
@roles(*STAFF)
def post_tally():
    data = json_body()
    row, created = service.record_tally(
        get_session(), current_user, utcnow(), data.get("point"), data.get("month"),
        data.get("loans"), current_settings(),
    )
    return jsonify(point=row.point.code, month=row.month, loans=row.loans), (201 if created else 200)


@bp.post("/import/loans")
@roles(*STAFF)
def import_loans():
    upload = request.files.get("file")
    if upload is None:
        upload = next(iter(request.files.values()), None)
    if upload is None:
        raise loan_import.ImportRefused("请上传 CSV 文件（表单字段 file）。")
    partial = request.args.get("partial") in ("1", "true", "yes")
    result = loan_import.import_loans(
        get_session(), current_user, utcnow(), upload.read(), current_settings(), partial=partial,
    )
    if not result.created:  # nothing imported (all or nothing, or an empty file): nothing saved
        discard_changes()
    status = 201 if result.created else (422 if result.errors else 200)
    return jsonify(result.as_json()), status
