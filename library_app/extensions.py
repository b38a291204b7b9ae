from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def select_locale() -> str:
    lang = request.cookies.get("lang")
    if lang in ("zh_CN", "en"):
        return lang
    return "zh_CN"
