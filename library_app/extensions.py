from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def select_locale() -> str:
    """Chinese, or English where the page is fully translated and the reader chose it."""
    from .web import ENGLISH_PAGES

    lang = request.cookies.get("lang")
    if lang == "en" and request.endpoint in ENGLISH_PAGES:
        return "en"
    return "zh_CN"
