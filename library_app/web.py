"""Shared view helpers: the app class, time, JSON errors, error pages, template globals."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Request, current_app, jsonify, render_template, request, url_for
from flask import json as flask_json
from flask_login import current_user
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from . import request_state
from .domain import jsontext
from .domain.errors import RuleBroken
from .domain.roles import CIRCULATION, INVITERS, LIBRARIANS, REPORT_READERS, ROLE_NAMES, STAFF, Role
from .domain.settings import LibrarySettings
from .domain.text import mask_phone

ERROR_MESSAGES = {
    400: "请求无效，请检查输入后重试。",
    401: "请先登录。",
    403: "您没有权限访问这个页面或执行此操作。",
    404: "找不到这个页面或记录。",
    405: "不支持这种请求方式。",
    409: "数据冲突，请刷新后重试。",
    413: "上传的文件太大了。",
    422: "输入有误，请检查后重试。",
    429: "尝试次数过多，请稍后再试。",
    500: "系统出错了，请稍后再试；如果一直出现，请联系管理员。",
    503: "服务暂时不可用，请稍后再试。",
}
ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid",
    429: "too_many_requests", 500: "server_error", 503: "unavailable",
}

DATABASE_FAILURES = {
    "disk_full": "服务器的存储空间已满，刚才的操作没有保存。请告诉管理员清理磁盘；"
                 "手机上的离线记录会保留，恢复后自动上传。",
    "database_unavailable": "暂时连不上数据库，刚才的操作没有保存。请稍后再试；"
                            "手机上的离线记录会保留，恢复后自动上传。",
}


def utcnow() -> datetime:
    """The request's 'now'. Tests may pin it with app.config['FIXED_NOW']."""
    fixed = current_app.config.get("FIXED_NOW")
    return fixed if fixed is not None else datetime.now(UTC)


def current_settings() -> LibrarySettings:
    """The organisation's settings (the settings page over the config), read once per request."""
    state = request_state.current()
    cached = state.settings
    if cached is None:
        from .db import session_factory
        from .services.settings import get_settings

        try:
            # A session of its own: the request's may be mid-transaction or failed.
            with session_factory(write=False)() as db:
                cached = get_settings(db, current_app.config)
        except Exception:  # noqa: BLE001 - database down or a bad stored value: use the config
            current_app.logger.warning("settings unavailable, using the configured values", exc_info=True)
            from .services.settings import from_config

            cached = from_config(current_app.config)
        state.settings = cached
    return cached


def org_tz() -> ZoneInfo:
    return ZoneInfo(current_settings().timezone)


def local(dt: datetime | None) -> datetime | None:
    return dt.astimezone(org_tz()) if dt is not None else None


def json_error(status: int, code: str | None = None, message: str | None = None, **extra: Any):
    body: dict[str, Any] = {
        "code": code or ERROR_CODES.get(status, "error"),
        "message": message or ERROR_MESSAGES.get(status, "请求失败。"),
    }
    body.update(extra)
    return jsonify({"error": body}), status


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


# ---------------------------------------------------------------- what comes in

class LibraryRequest(Request):
    """Every ``request.get_json()`` parses with :mod:`library_app.domain.jsontext` (no lone
    surrogates, bounded depth and integers, no control characters) and refuses with a 400
    ``bad_json`` carrying the Chinese reason, instead of a 500 further down."""

    _json = SimpleNamespace(loads=jsontext.loads, dumps=flask_json.dumps)

    # Flask's RequestContext sets ``request.json_module = app.json``; the app's provider stays
    # lenient (it also reads the session cookie), request bodies are read by the strict one.
    @property
    def json_module(self) -> Any:
        return self._json

    @json_module.setter
    def json_module(self, value: Any) -> None:
        pass

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        from .api.util import BadJson

        raise BadJson(e.message if isinstance(e, jsontext.BadJsonText) else None)


class BoundedInt(IntegerConverter):
    """``<int:...>`` in every route: at most a signed 64-bit integer (2**63 and beyond is 404,
    not an OverflowError in the database driver)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", jsontext.INT_MAX)
        super().__init__(map, *args, **kwargs)


QUERY_INT_MAX = 1_000_000


def query_int(name: str, default: int = 1, *, low: int = 1, high: int = QUERY_INT_MAX,
              values: Any = None) -> int:
    """An integer query parameter (``?page=``; or form field, with ``values=request.form``):
    the default when missing or not a number, held within [low, high] (a page of 2**63 is
    the last page, not an OverflowError in the database driver)."""
    raw = str((request.args if values is None else values).get(name, "") or "")
    try:
        value = int(raw.strip()) if raw.strip() else default
    except ValueError:
        value = default
    return max(low, min(value, high))


class LibraryApp(Flask):
    """Flask, with the request's one commit point (``db.end_request``) right after the view:
    a failed commit is then an error of the request, answered by the error handlers (a full
    disk, an unreachable database) like any other, before ``after_request`` hooks run."""

    def dispatch_request(self) -> Any:
        from .db import end_request

        return end_request(self.make_response(super().dispatch_request()))


def init_requests(app: Flask) -> None:
    """Before any blueprint is registered (the converter is bound when rules are added)."""
    app.request_class = LibraryRequest
    app.url_map.converters["int"] = BoundedInt


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(RuleBroken)
    def rule_broken(exc: RuleBroken):
        if wants_json():
            return json_error(exc.status, exc.code, exc.message)
        return render_template("errors/error.html", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if status < 400:
            return exc
        message = ERROR_MESSAGES.get(status) or "请求失败。"
        if wants_json():
            response = json_error(status, message=message)
            if status == 401:
                response[0].headers["WWW-Authenticate"] = "Bearer"
            return response
        return render_template("errors/error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        from .db import failure_kind

        kind = failure_kind(exc)
        if kind is not None:
            # Nothing of the request was saved; say so, and that the phone keeps what it holds.
            app.logger.error("%s on %s %s: %s", kind, request.method, request.path, exc)
            message = DATABASE_FAILURES[kind]
            if wants_json():
                return json_error(503, kind, message)
            return render_template("errors/error.html", status=503, message=message), 503
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500)
        return render_template("errors/error.html", status=500, message=ERROR_MESSAGES[500]), 500


# Navigation per role: (endpoint, label, roles). Items whose endpoint is not registered are hidden.
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("circulation.scan", "扫码借还", CIRCULATION),
    ("borrowers.index", "小读者", CIRCULATION),
    ("catalog.titles", "书目", LIBRARIANS),
    ("circulation.loans", "借阅记录", LIBRARIANS),
    ("circulation.review", "待复核", LIBRARIANS),
    ("reports.year", "年度借阅", REPORT_READERS),
    ("reports.month", "月度报告", REPORT_READERS),
    ("activities.annual", "年度报告", REPORT_READERS),
    ("activities.new", "记录活动", CIRCULATION),
    ("activities.volunteers", "志愿者", CIRCULATION),
    ("points.index", "阅读点", STAFF),
    ("stocktake.index", "盘点", CIRCULATION),
    ("kiosk.kiosks", "自助借书机", LIBRARIANS),
    ("invites.index", "邀请", INVITERS),
    ("admin.users", "用户", (Role.ADMIN,)),
    ("admin.settings", "设置", (Role.ADMIN,)),
    ("admin.audit", "审计日志", (Role.ADMIN,)),
]
# Pages whose every string is in the English catalog (translations/en). English is offered, and
# used, only there: elsewhere a half-translated page (English menu over Chinese content) helps nobody.
ENGLISH_PAGES = frozenset({"auth.login"})


def nav_items() -> list[tuple[str, str]]:
    if not current_user.is_authenticated:
        return []
    return [
        (endpoint, label)
        for endpoint, label, allowed in NAV
        if current_user.role in allowed and endpoint in current_app.view_functions
    ]


def format_local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    value = local(dt)
    return value.strftime(fmt) if value is not None else ""


# The one date style of every page: 2026-12-01, and 2026-12-01 14:05 where the time matters.
DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M"


def format_date(dt: datetime | None) -> str:
    """A day in the organisation's time zone, in the pages' one date style."""
    return format_local(dt, DATE_FORMAT)


def format_datetime(dt: datetime | None, seconds: bool = False) -> str:
    """A moment in the organisation's time zone; ``seconds`` where an audit needs them."""
    return format_local(dt, DATETIME_FORMAT + (":%S" if seconds else ""))


def init_templates(app: Flask) -> None:
    from flask_babel import get_locale

    from .domain.timezones import zone_name

    app.jinja_env.globals.update(nav_items=nav_items, ROLE_NAMES=ROLE_NAMES, get_locale=get_locale)
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["localtime"] = format_local  # kept for templates not yet on date/datetime
    app.jinja_env.filters["zone_name"] = zone_name
    app.jinja_env.filters["mask_phone"] = mask_phone

    @app.context_processor
    def inject() -> dict[str, Any]:
        settings = current_settings()
        values: dict[str, Any] = {"org_name": settings.org_name, "org_logo_url": None,
                                  "public_base_url": settings.public_base_url,
                                  "english_offered": request.endpoint in ENGLISH_PAGES}
        if current_user.is_authenticated and "admin.logo_image" in app.view_functions:
            from .admin.logo import logo_version

            version = logo_version()
            if version is not None:
                values["org_logo_url"] = url_for("admin.logo_image", v=version)
        return values
