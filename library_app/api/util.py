from __future__ import annotations

from typing import Any

from flask import request

from library_app.services.errors import Invalid


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 ``bad_json`` with a Chinese message (the reason
    when the body is JSON that :mod:`library_app.domain.jsontext` refuses)."""
    if not request.is_json:
        raise BadJson()
    data = request.get_json()  # LibraryRequest: refusals raise BadJson with their reason
    if not isinstance(data, dict):
        raise BadJson()
    return data


class BadJson(Invalid):
    code = "bad_json"
    message = "请求内容必须是 JSON 对象。"
    status = 400
