"""故事会点借阅系统: a lending system for children's reading points."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: config → extensions → blueprints → CLI → error handlers."""
    from .web import LibraryApp

    app = LibraryApp(
        __name__,
        instance_path=os.environ.get("LIBRARY_INSTANCE_PATH") or str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from .config import load_config

    load_config(app, test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # UTF-8 JSON, readable Chinese
    from .web import init_requests

    init_requests(app)
    register_extensions(app)
    register_blueprints(app)
    register_commands(app)
    register_errorhandlers(app)
    return app


def register_extensions(app: Flask) -> None:
    from . import access, auth, security
    from .db import db
    from .extensions import babel, csrf, select_locale

    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(
        app, locale_selector=select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    auth.init_login(app)
    access.init_app(app)
    security.init_app(app)
    from .web import init_templates

    init_templates(app)


def register_blueprints(app: Flask) -> None:
    from .activities.views import bp as activities_bp
    from .admin.views import bp as admin_bp
    from .api import bp as api_bp
    from .auth.views import bp as auth_bp
    from .borrowers.views import bp as borrowers_bp
    from .catalog.views import bp as catalog_bp
    from .circulation.views import bp as circulation_bp
    from .invites.views import bp as invites_bp
    from .kiosk.views import bp as kiosk_bp
    from .main.views import bp as main_bp
    from .offline.views import bp as offline_bp
    from .points.views import bp as points_bp
    from .reports.views import bp as reports_bp
    from .stocktake.views import bp as stocktake_bp

    for bp in (main_bp, auth_bp, points_bp, admin_bp, catalog_bp, borrowers_bp,
               circulation_bp, reports_bp, activities_bp, offline_bp, stocktake_bp, kiosk_bp, invites_bp,
               api_bp):
        app.register_blueprint(bp)


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)


def register_errorhandlers(app: Flask) -> None:
    from .web import register_errorhandlers as register_handlers

    register_handlers(app)
