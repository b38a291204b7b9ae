"""Report pages: the year against its target (年度借阅) and the monthly report (月度报告),
paper tallies and the import of past loans; and the home page's counters."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from library_app.access import LIBRARIANS, REPORT_READERS, STAFF, roles
from library_app.db import discard_changes, get_session
from library_app.domain import reports as rules
from library_app.domain.errors import RuleBroken
from library_app.domain.roles import is_point_bound
from library_app.main.home import home_panel
from library_app.models import Point
from library_app.services import loan_import, scope
from library_app.services import reports as service
from library_app.web import current_settings, utcnow

from . import charts

bp = Blueprint("reports", __name__, url_prefix="/reports")



def _now_month() -> rules.Month:
    return rules.current_month(utcnow(), ZoneInfo(current_settings().timezone))


def _active_points() -> list[Point]:
    return scope.report_points(get_session(), current_user)


# ---------------------------------------------------------------- year


@bp.get("/year/")
@roles(*REPORT_READERS)
def year():
    """The nav's entry: this year's page."""
    return redirect(url_for("reports.year_page", year=_now_month().year))


@bp.get("/year/<year>")
@roles(*REPORT_READERS)
def year_page(year: str):
    number = rules.parse_year(year)
    settings = current_settings()
    report = service.year_report(get_session(), utcnow(), number, settings,
                                 point_code=scope.report_point(get_session(), current_user,
                                                               request.args.get("point")))
    now_month = _now_month()
    bars = [
        charts.Bar(label=f"{m.month.month}月", value=m.count, part=m.tally,
                   muted=m.month > now_month,
                   href=url_for("reports.month_page", month=str(m.month)))
        for m in report.months
    ]
    chart = charts.bar_chart(
        bars, None if report.point else [m.target for m in report.months], title=f"{number} 年各月借阅人次",
        line_label="" if report.point else "每月目标", part_label="纸质记录" if report.tallies else "",
    )
    last = rules.Change(report.progress.count, report.same_date_last_year)
    return render_template(
        "reports/year.html", report=report, p=report.progress, chart=chart,
        progress_svg=charts.progress_bar(report.progress), last=last,
        metric_name=rules.METRIC_NAMES[report.metric], now_month=now_month,
        tz=ZoneInfo(settings.timezone),
    )


@bp.post("/year/<year>/target")
@roles("admin")
def set_target(year: str):
    number = rules.parse_year(year)
    try:
        service.set_target(get_session(), current_user, utcnow(), number, request.form.get("target", ""))
    except RuleBroken as exc:
        discard_changes()
        flash(exc.message, "error")
    else:
        flash(f"{number} 年的目标已设为 {request.form.get('target')}。", "success")
    return redirect(url_for("reports.year_page", year=number))


# ---------------------------------------------------------------- month


@bp.get("/month/")
@roles(*REPORT_READERS)
def month():
    """The nav's entry (this month) and the target of the month/point picker form."""
    point = (request.args.get("point") or "").strip() or None
    wanted = (request.args.get("month") or "").strip()
    target = str(rules.parse_month(wanted)) if wanted else str(_now_month())
    return redirect(url_for("reports.month_page", month=target, point=point))


@bp.get("/month/<month>")
@roles(*REPORT_READERS)
def month_page(month: str):
    point = scope.report_point(get_session(), current_user, request.args.get("point"))
    parsed = rules.parse_month(month)
    settings = current_settings()
    report = service.month_report(get_session(), utcnow(), parsed, settings, point_code=point,
                                  with_people=current_user.role in LIBRARIANS)
    f = report.figures
    compare = charts.bar_chart(
        [charts.Bar(report.compared_label(report.last_year), report.last_year.count),
         charts.Bar(report.compared_label(report.previous), report.previous.count),
         charts.Bar(parsed.label, f.count)],
        title="借阅人次对比", height=200, left=14.0,
    )
    point_chart = charts.hbar_chart([(p.name, p.loans + p.tally) for p in report.points],
                                    title="各阅读点借阅人次")
    age_chart = charts.hbar_chart([(r.label, r.loans) for r in report.age_bands], title="按年龄段")
    category_chart = charts.hbar_chart([(r.label, r.loans) for r in report.categories], title="按分类")
    query: dict[str, Any] = {"point": report.point.code} if report.point is not None else {}
    return render_template(
        "reports/month.html", report=report, f=f, compare=compare, point_chart=point_chart,
        age_chart=age_chart, category_chart=category_chart, points=_active_points(),
        metric_name=rules.METRIC_NAMES[report.metric], tz=ZoneInfo(settings.timezone),
        csv_url=url_for("api.report_month_csv", month=str(parsed), **query),
        xlsx_url=url_for("api.report_month_xlsx", month=str(parsed), **query),
        prev_url=url_for("reports.month_page", month=str(parsed.previous()), **query),
        next_url=url_for("reports.month_page", month=str(parsed.shift(1)), **query),
        rows=FIGURE_ROWS,
        now_text=utcnow().astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M"),
    )


FIGURE_ROWS = [
    ("count", "借阅人次", "计入年度目标"),
    ("tally", "其中纸质记录", "系统使用前的月份"),  # shown when a compared month has one
    ("loans", "借出次数", ""),
    ("returns", "归还次数", ""),
    ("distinct_borrowers", "借阅人数", "本月借过书的小读者"),
    ("new_borrowers", "新登记小读者", ""),
    ("overdue_at_end", "月末逾期未还", ""),
]


# ---------------------------------------------------------------- tallies and imports


@bp.route("/tallies", methods=["GET", "POST"])
@roles(*STAFF)
def tallies():
    settings = current_settings()
    form = {"point": "", "month": "", "loans": ""}
    status = 200
    if request.method == "POST":
        form = {k: (request.form.get(k) or "").strip() for k in form}
        try:
            row, created = service.record_tally(get_session(), current_user, utcnow(), form["point"],
                                                form["month"], form["loans"], settings)
        except RuleBroken as exc:
            flash(exc.message, "error")
            status = 422
        else:
            verb = "已录入" if created else "已更正"
            flash(f"{verb} {row.point.code} {row.month} 的纸质记录：{row.loans} 人次。", "success")
            return redirect(url_for("reports.tallies"))
    return render_template("reports/tallies.html", rows=service.list_tallies(get_session()),
                           points=_active_points(), form=form, max_month=str(_now_month())), status


@bp.route("/import", methods=["GET", "POST"])
@roles(*STAFF)
def import_loans():
    result = None
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("请选择要上传的 CSV 文件。", "error")
        else:
            try:
                result = loan_import.import_loans(
                    get_session(), current_user, utcnow(), upload.read(), current_settings(),
                    partial=bool(request.form.get("partial")),
                )
            except RuleBroken as exc:
                flash(exc.message, "error")
                status = 422
            else:
                if result.created:
                    unmatched = (f"，其中 {result.unmatched} 条的书名不在书目中，已按表格原样记下书名"
                                 if result.unmatched else "")
                    flash(f"已导入 {result.created} 条借阅记录{unmatched}。", "success")
                else:  # all or nothing, or an empty file: nothing is saved
                    discard_changes()
                    if result.errors:
                        flash("文件有错误，没有导入任何记录。请改正后重新上传，或勾选“只导入正确的行”。", "error")
    return render_template("reports/import.html", result=result), status


# ---------------------------------------------------------------- home page


@home_panel
def reports_panel(user: Any) -> dict[str, Any]:
    """A story mother sees her points' day and month; everyone sees the organisation's year."""
    if not getattr(user, "is_authenticated", False):
        return {}
    session = get_session()
    settings = current_settings()
    now = utcnow()
    context: dict[str, Any] = {
        "year_counter": service.year_counter(session, now, settings),
        "counter_metric": rules.METRIC_NAMES[settings.count_metric],
    }
    context["year_counter_svg"] = charts.progress_bar(context["year_counter"])
    if is_point_bound(user.role):
        ids = [p.id for p in user.points]
        today, month_count = service.point_counters(session, now, settings, ids)
        context.update(point_today=today, point_month=month_count,
                       point_names="、".join(p.name for p in user.points),
                       month_label=rules.current_month(now, ZoneInfo(settings.timezone)).label)
    return context
