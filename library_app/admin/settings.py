"""The settings page (admin): organisation name, logo, time zone, public URL, loan rules,
counting metric, retention. Values are checked by domain/settings.py and stored by
services/settings.py; each change is in the audit log."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.engine import make_url
from wtforms import BooleanField, IntegerField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from library_app.access import ALL_ROLES, roles
from library_app.db import get_session
from library_app.domain.errors import RuleBroken
from library_app.domain.settings import LibrarySettings
from library_app.security import proxy_hops
from library_app.services import audit
from library_app.services.lookup import sources as lookup_sources
from library_app.services.settings import get_settings, update_settings
from library_app.web import utcnow

from . import logo
from .views import bp

TIMEZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei", "Asia/Urumqi",
             "Asia/Singapore", "UTC"]
EDITABLE = ("org_name", "timezone", "public_base_url", "loan_limit", "loan_days", "max_renewals",
            "undo_minutes", "count_metric", "default_year_target", "retention_months",
            "show_school_fields", "activity_kinds", "volunteer_prep_minutes",
            "kiosk_overdue_blocks")


def _number(label: str, low: int, high: int) -> IntegerField:
    return IntegerField(label, validators=[
        InputRequired("请填写一个整数。"),
        NumberRange(low, high, f"请填写 {low} 到 {high} 之间的整数。"),
    ])


class SettingsForm(FlaskForm):
    org_name = StringField("机构名称", validators=[DataRequired("请填写机构名称。"), Length(max=64)])
    logo = FileField("机构标志")
    remove_logo = BooleanField("删除现有标志")
    timezone = StringField("时区", validators=[DataRequired("请填写时区。"), Length(max=64)])
    public_base_url = StringField("公开网址", validators=[Optional(), Length(max=200)])
    loan_limit = _number("每位小读者最多同时借（本）", 1, 50)
    loan_days = _number("借期（天）", 1, 365)
    max_renewals = _number("最多续借次数", 0, 10)
    undo_minutes = _number("故事妈妈可撤销自己操作的时限（分钟）", 0, 120)
    count_metric = RadioField("年度目标的统计口径", choices=[
        SelectChoice("loans", "借出次数（每借出一本算一次）"),
        SelectChoice("visits", "到访人次（同一小读者、同一阅读点、同一天只算一次）"),
    ])
    default_year_target = _number("默认年度目标", 1, 10_000_000)
    retention_months = _number("离开的小读者多少个月后匿名化（0 = 不自动匿名化）", 0, 240)
    show_school_fields = BooleanField("登记小读者的学校和年级")
    # Left empty (or absent from an older form): the current value stays.
    activity_kinds = StringField("阅读活动类型（编号=名称，用逗号分隔）", validators=[Optional(), Length(max=500)])
    volunteer_prep_minutes = IntegerField("志愿者每场活动的准备时间（分钟，计入服务时长）", validators=[
        Optional(), NumberRange(0, 600, "请填写 0 到 600 之间的整数。")])
    kiosk_overdue_blocks = BooleanField("有逾期未还的书时，不能在自助借书机上借书")


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def _db_summary() -> str:
    url = make_url(current_app.config["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        return f"SQLite（{url.database}）"
    return f"PostgreSQL（{url.host or 'localhost'}/{url.database}）"


@bp.route("/settings", methods=["GET", "POST"])
@roles("admin")
def settings():
    db = get_session()
    current = get_settings(db, current_app.config)
    form = SettingsForm(data=current.as_dict()) if request.method == "GET" else SettingsForm()
    status = 200
    if form.validate_on_submit():
        try:
            _save(form, current)
        except RuleBroken as exc:
            flash(exc.message, "error")
            status = 422
        else:
            flash("设置已保存。", "success")
            return redirect(url_for("admin.settings"))
    elif form.is_submitted():
        status = 422
    return render_template(
        "admin/settings.html", form=form, timezones=TIMEZONES, logo_version=logo.logo_version(),
        database=_db_summary(), https=request.is_secure,
        trust_proxy=proxy_hops(current_app.config.get("TRUST_PROXY")),
        max_logo=_size_text(current_app.config["LOGO_MAX_BYTES"]),
        lookup_count=len(lookup_sources.list_rows(db)),  # ISBN lookup sources (lookup_sources.py)
    ), status


def _save(form: SettingsForm, current: LibrarySettings) -> None:
    """Apply the form: settings through the service, then the logo (both audited)."""
    db = get_session()
    wanted: dict[str, Any] = {name: getattr(form, name).data for name in EDITABLE}
    wanted["public_base_url"] = (wanted["public_base_url"] or "").strip().rstrip("/")
    wanted["org_name"] = (wanted["org_name"] or "").strip()
    wanted["timezone"] = (wanted["timezone"] or "").strip()
    for name in ("activity_kinds", "volunteer_prep_minutes"):
        if wanted[name] is None or wanted[name] == "":
            wanted[name] = getattr(current, name)
    changes = {k: v for k, v in wanted.items() if getattr(current, k) != v}
    png = None
    upload = form.logo.data
    if upload is not None and upload.filename:
        limit = current_app.config["LOGO_MAX_BYTES"]
        png = logo.checked_logo(upload.stream.read(limit + 1), limit)
    if changes:
        update_settings(db, current_user, utcnow(), changes, current_app.config)
    if png is not None:
        logo.save_logo(png)
        audit.record(db, current_user, utcnow(), "settings.logo", "settings", "logo",
                     ip=request.remote_addr or "", bytes=len(png))
    elif form.remove_logo.data and logo.remove_logo():
        audit.record(db, current_user, utcnow(), "settings.logo_removed", "settings", "logo",
                     ip=request.remote_addr or "")


@bp.get("/logo.png")
@roles(*ALL_ROLES)
def logo_image():
    path = logo.logo_path()
    if not path.exists():
        from flask import abort

        abort(404)
    return send_file(path, mimetype="image/png", max_age=3600)
