"""Sign-in: browser sessions (Flask-Login) and bearer tokens for the API."""

from __future__ import annotations

from flask import Flask, g, request

from library_app.extensions import login_manager


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):  # type: ignore[no-untyped-def]
        from library_app.db import get_session
        from library_app.models import User

        if not user_id.isdigit():
            return None
        if g.get("lean_actor"):  # the scan hot path: one prebuilt SELECT, no ORM object
            from library_app.services.users import actor_by_id

            return actor_by_id(get_session().connection(), int(user_id))
        user = get_session().get(User, int(user_id))
        return user if user is not None and user.active else None

    @login_manager.request_loader
    def load_bearer(req):  # type: ignore[no-untyped-def]
        header = req.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        from library_app.db import get_session
        from library_app.services.users import Actor, User, actor_for_token, user_for_token
        from library_app.web import utcnow

        user: User | Actor | None
        if g.get("lean_actor"):
            user = actor_for_token(get_session().connection(), header[7:].strip(), utcnow())
        else:
            user = user_for_token(get_session(), header[7:].strip(), utcnow())
        if user is not None:
            g.bearer_user_id = user.id
        return user

    @login_manager.unauthorized_handler
    def unauthorized():  # type: ignore[no-untyped-def]
        from flask import abort, flash, redirect, url_for

        from library_app.access import is_api_request

        if is_api_request():
            abort(401)
        flash("请先登录。", "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
