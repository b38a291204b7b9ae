"""Service-level refusals share the domain's RuleBroken shape (code, Chinese message, status)."""

from __future__ import annotations

from library_app.domain.errors import RuleBroken


class Forbidden(RuleBroken):
    code = "forbidden"
    message = "您没有权限进行此操作。"
    status = 403


class NotFound(RuleBroken):
    code = "not_found"
    message = "找不到该记录。"
    status = 404


class Invalid(RuleBroken):
    code = "invalid"
    message = "输入有误，请检查后重试。"
    status = 422


class Conflict(RuleBroken):
    code = "conflict"
    message = "该记录已存在。"
    status = 409
