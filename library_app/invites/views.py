"""Invitation pages (product.md "Community-run points").

- ``/invites``: an admin, a librarian or a point lead makes a link (shown once, with its QR for
  the new person to scan with WeChat), sees the list and revokes what is still open.
- ``/join/<token>``: public. The invited person chooses her login name, her name and her
  password; she is then signed in and lands on the scan screen. A used, expired or revoked
  link gets a friendly page with 410, an unknown one 404; unknown links from one address are
  throttled like logins (``auth.throttle.address_attempt``).
"""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from library_app.access import public, roles, writes
from library_app.api.invites import join_url
from library_app.auth import throttle
from library_app.auth.views import sign_in
from library_app.db import get_session
from library_app.domain import invites as rules
from library_app.domain.accounts import wait_message
from library_app.domain.errors import RuleBroken
from library_app.domain.roles import CIRCULATION, INVITERS, POINT_BOUND, ROLE_NAMES, Role
from library_app.services import invites as service
from library_app.services.errors import Conflict
from library_app.services.qr import qr_png
from library_app.web import utcnow

from .forms import InviteForm, JoinForm

bp = Blueprint("invites", __name__)


def _form(db) -> InviteForm:
    form = InviteForm()
    roles_ = rules.invitable_roles(current_user.role)
    form.role.choices = [(r.value, ROLE_NAMES[r]) for r in roles_]
    points = service.grantable_points(db, current_user)
    form.points.choices = [(p.code, f"{p.code} {p.name}") for p in points]
    if request.method == "GET":
        form.role.data = Role.STORY_MOTHER.value if Role.STORY_MOTHER in roles_ else roles_[0].value
        if len(points) == 1:
            form.points.data = [points[0].code]
    return form


def _qr_data_uri(content: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(content, box_size=8)).decode()


@bp.route("/invites", methods=["GET", "POST"])
@roles(*INVITERS)
def index():
    db, now = get_session(), utcnow()
    form = _form(db)
    created, status = None, 200
    if request.method == "POST":
        try:
            invitation, token = service.create_invitation(
                db, current_user, now, role=form.role.data, point_codes=list(form.points.data or []),
                hours=int(current_app.config.get("INVITE_HOURS", rules.DEFAULT_HOURS)))
        except RuleBroken as exc:
            form.role.errors = [*form.role.errors, exc.message]
            status = exc.status
        else:
            _path, full = join_url(token)
            created = {"invitation": invitation, "url": full, "qr": _qr_data_uri(full)}
    invitations = service.list_invitations(db, current_user)
    return render_template(
        "invites/index.html", form=form, created=created, invitations=invitations, now=now,
        state_names=rules.STATE_NAMES, may_revoke={i.id: service.may_revoke(current_user, i) for i in invitations},
        bound_roles=[r.value for r in POINT_BOUND], hours=current_app.config.get("INVITE_HOURS", 72),
    ), status


@bp.post("/invites/<int:invite_id>/revoke")
@roles(*INVITERS)
def revoke(invite_id: int):
    db = get_session()
    invitation = service.get_invitation(db, current_user, invite_id)
    service.revoke_invitation(db, current_user, utcnow(), invitation)
    flash("邀请已撤销：这个链接和二维码马上就不能再用了。", "success")
    return redirect(url_for("invites.index"))


def _gone(message: str, status: int, title: str = "邀请链接不能使用"):
    return render_template("invites/gone.html", title=title, message=message), status


@bp.route("/join/<token>", methods=["GET", "POST"])
@public
@writes  # counts unknown links from this address (a guess of a token), on GET too
def join(token: str):
    wait = throttle.address_attempt("invite", "INVITE_ADDRESS_LIMITS")
    if wait:
        return _gone(wait_message(wait), 429, "请稍后再试") + ({"Retry-After": str(wait)},)
    db, now = get_session(), utcnow()
    invitation = service.find_invitation(db, token)
    if invitation is None:
        return _gone(rules.InviteUnknown.message, 404, "找不到这个邀请链接")
    throttle.address_known("invite", "INVITE_ADDRESS_LIMITS", commit=True)
    state = invitation.state(now)
    if state is not rules.InviteState.OPEN:
        return _gone(rules.GONE_MESSAGES[state], 410)
    form = JoinForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                user = service.accept_invitation(
                    db, now, token, username=form.username.data, password=form.password.data,
                    display_name=form.display_name.data, ip=request.remote_addr or "")
            except (rules.InviteGone, rules.InviteUnknown) as exc:
                db.rollback()
                return _gone(exc.message, exc.status)
            except RuleBroken as exc:
                db.rollback()
                on_name = isinstance(exc, Conflict) or "用户名" in exc.message
                field = form.username if on_name else form.password
                field.errors = [*field.errors, exc.message]
                status = exc.status
            else:
                sign_in(db, user)
                flash(f"欢迎，{user.name}！账号已建好，您已登录。", "success")
                return redirect(url_for("circulation.scan" if user.role in CIRCULATION else "main.home"))
        else:
            status = 422
    return render_template("invites/join.html", form=form, invitation=invitation,
                           role_name=ROLE_NAMES[invitation.role]), status
