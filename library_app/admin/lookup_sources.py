"""The settings page's lookup sources (套录来源): Z39.50 servers and web sources for cataloguing
from an ISBN, their order, a "测试连接" button each. Passwords are kept on the server and never
shown back (the field is always empty; left empty, the stored one stays)."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from library_app.access import roles
from library_app.db import get_session
from library_app.domain.errors import RuleBroken
from library_app.domain.lookup import ENCODING_NAMES, EXAMPLES, KIND_NAMES, SYNTAX_NAMES
from library_app.services import lookup as lookup_service
from library_app.services.lookup import sources as sources_service
from library_app.web import utcnow

from .views import bp


class LookupSourceForm(FlaskForm):
    name = StringField("名称", validators=[Length(max=64)])
    kind = SelectField("类型", choices=[SelectChoice(k, v) for k, v in KIND_NAMES.items()])
    host = StringField("服务器地址", validators=[Length(max=200)])
    port = IntegerField("端口", default=210, validators=[Optional(), NumberRange(1, 65535, "端口应在 1 到 65535 之间。")])
    database = StringField("数据库名", validators=[Length(max=100)])
    syntax = SelectField("记录格式", choices=[SelectChoice(k, v) for k, v in SYNTAX_NAMES.items()])
    encoding = SelectField("字符集", choices=[SelectChoice(k, v) for k, v in ENCODING_NAMES.items()])
    user = StringField("账号（可空）", validators=[Length(max=100)])
    password = PasswordField("密码（可空）", validators=[Length(max=100)])
    clear_password = BooleanField("清除已保存的密码")
    url = StringField("网址", validators=[Length(max=200)])
    enabled = BooleanField("启用", default=True)


def _data(form: LookupSourceForm) -> dict[str, Any]:
    return {name: getattr(form, name).data for name in
            ("name", "kind", "host", "port", "database", "syntax", "encoding", "user", "password",
             "url", "enabled")}


def _page(form: LookupSourceForm, status: int = 200, editing: int | None = None):
    db = get_session()
    rows = sources_service.list_rows(db)
    env_sources: list[Any] = []
    if not rows:
        try:
            env_sources = lookup_service.configured_sources(db, current_app.config)
        except RuleBroken as exc:
            flash(f"LIBRARY_LOOKUP_SOURCES 有误：{exc.message}", "error")
    return render_template(
        "admin/lookup_sources.html", rows=rows, form=form, editing=editing, examples=EXAMPLES,
        env_sources=env_sources, kind_names=KIND_NAMES, syntax_names=SYNTAX_NAMES,
        encoding_names=ENCODING_NAMES, timeout=lookup_service.configured_timeout(current_app.config),
    ), status


@bp.route("/settings/lookup", methods=["GET", "POST"])
@roles("admin")
def lookup_sources():
    form = LookupSourceForm()
    if request.method == "GET":
        example = request.args.get("example", type=int)
        if example is not None and 0 <= example < len(EXAMPLES):
            form = LookupSourceForm(data={k: v for k, v in EXAMPLES[example].items() if k != "note"})
        return _page(form)
    if form.validate_on_submit():
        try:
            row = sources_service.add_source(get_session(), current_user, utcnow(), _data(form))
        except RuleBroken as exc:
            flash(exc.message, "error")
            return _page(form, 422)
        flash(f"已添加套录来源“{row.name}”。可以按“测试连接”试一下。", "success")
        return redirect(url_for("admin.lookup_sources") + f"#source-{row.id}")
    return _page(form, 422)


@bp.route("/settings/lookup/<int:source_id>", methods=["GET", "POST"])
@roles("admin")
def edit_lookup_source(source_id: int):
    db = get_session()
    row = sources_service.get_row(db, source_id)
    if request.method == "GET":
        form = LookupSourceForm(obj=row)
        form.password.data = ""
        return _page(form, editing=row.id)
    form = LookupSourceForm()
    if form.validate_on_submit():
        try:
            sources_service.update_source(db, current_user, utcnow(), row, _data(form),
                                          clear_password=bool(form.clear_password.data))
        except RuleBroken as exc:
            flash(exc.message, "error")
            return _page(form, 422, editing=row.id)
        flash(f"已保存套录来源“{row.name}”。", "success")
        return redirect(url_for("admin.lookup_sources") + f"#source-{row.id}")
    return _page(form, 422, editing=row.id)


@bp.post("/settings/lookup/<int:source_id>/move")
@roles("admin")
def move_lookup_source(source_id: int):
    db = get_session()
    row = sources_service.get_row(db, source_id)
    sources_service.move_source(db, current_user, utcnow(), row, -1 if request.form.get("dir") == "up" else 1)
    return redirect(url_for("admin.lookup_sources") + f"#source-{row.id}")


@bp.post("/settings/lookup/<int:source_id>/delete")
@roles("admin")
def delete_lookup_source(source_id: int):
    db = get_session()
    row = sources_service.get_row(db, source_id)
    name = row.name
    sources_service.delete_source(db, current_user, utcnow(), row)
    flash(f"已删除套录来源“{name}”。", "success")
    return redirect(url_for("admin.lookup_sources"))


@bp.post("/settings/lookup/<int:source_id>/test")
@roles("admin")
def test_lookup_source(source_id: int):
    db = get_session()
    row = sources_service.get_row(db, source_id)
    try:
        source = lookup_service.source_of(row)
    except RuleBroken as exc:
        flash(f"“{row.name}”：{exc.message}", "error")
        return redirect(url_for("admin.lookup_sources") + f"#source-{row.id}")
    ok, _ms, message = lookup_service.test_source(source, lookup_service.configured_timeout(current_app.config))
    flash(f"“{row.name}”{message}", "success" if ok else "error")
    return redirect(url_for("admin.lookup_sources") + f"#source-{row.id}")
