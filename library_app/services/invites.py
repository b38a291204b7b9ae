"""Invitations (邀请): create, list, revoke, and accept a link for a new account.

Rules in ``domain.invites``; services take (session, actor, now), flush and never commit.
Only the SHA-256 of a token is stored: the raw token goes back once, to the one who made it.

Single use under races: an accept claims the row with one conditional UPDATE (``used_at IS
NULL`` and not revoked or expired) before it creates the account. On PostgreSQL a second accept
of the same row waits on the first's row lock and then finds it used; on SQLite every write
transaction begins IMMEDIATE, so they run one after the other. If the account then cannot be
made (weak password, name taken), the request rolls back and the link is still open.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from library_app.domain import invites as rules
from library_app.domain.roles import STAFF
from library_app.models import Invitation, Point, User

from . import audit
from .errors import Conflict, Forbidden, NotFound
from .users import create_user

NAME_TAKEN = "这个登录名已经有人用了，请换一个（例如在后面加上数字）。"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _own_points(actor: User) -> list[str]:
    return actor.point_codes() if actor.role not in STAFF else []


def active_point_codes(session: Session) -> list[str]:
    return list(session.scalars(select(Point.code).where(Point.active.is_(True)).order_by(Point.code)))


def grantable_points(session: Session, actor: User) -> list[Point]:
    """The active points she may put on an invitation (her own, for a point lead)."""
    codes = set(rules.grantable_points(actor.role, _own_points(actor), active_point_codes(session)))
    points = session.scalars(select(Point).where(Point.active.is_(True)).order_by(Point.code))
    return [p for p in points if p.code in codes]


def create_invitation(session: Session, actor: User, now: datetime, *, role: object, point_codes: list[object],
                      hours: int = rules.DEFAULT_HOURS) -> tuple[Invitation, str]:
    """A new invitation and its raw token (shown once; only its hash is kept)."""
    known = {code: bool(active) for code, active in session.execute(select(Point.code, Point.active))}
    plan = rules.plan_invite(inviter_role=actor.role, own_points=_own_points(actor), role=role,
                             points=point_codes, known_points=known)
    token = secrets.token_urlsafe(rules.TOKEN_BYTES)
    points = list(session.scalars(select(Point).where(Point.code.in_(plan.points)).order_by(Point.code))) \
        if plan.points else []
    invitation = Invitation(token_hash=token_hash(token), role=plan.role.value, created_by_id=actor.id,
                            created_at=now, expires_at=rules.expires_at(now, hours), points=points)
    session.add(invitation)
    session.flush()
    audit.record(session, actor, now, "invite.create", "invitation", invitation.id,
                 point_id=points[0].id if points else None, role=plan.role.value, points=list(plan.points),
                 expires_at=invitation.expires_at.isoformat())
    return invitation, token


def list_invitations(session: Session, actor: User) -> list[Invitation]:
    """Newest first: every one for an admin or a librarian; a point lead's own and her points'."""
    found = session.scalars(
        select(Invitation)
        .options(selectinload(Invitation.points), selectinload(Invitation.created_by),
                 selectinload(Invitation.used_by), selectinload(Invitation.revoked_by))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    ).all()
    own = _own_points(actor)
    return [i for i in found if rules.may_see(viewer_role=actor.role, viewer_id=actor.id, own_points=own,
                                              created_by_id=i.created_by_id, invite_points=i.point_codes())]


def get_invitation(session: Session, actor: User, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or not rules.may_see(
            viewer_role=actor.role, viewer_id=actor.id, own_points=_own_points(actor),
            created_by_id=invitation.created_by_id, invite_points=invitation.point_codes()):
        raise NotFound("找不到这个邀请。")
    return invitation


def may_revoke(actor: User, invitation: Invitation) -> bool:
    return rules.may_revoke(actor_role=actor.role, actor_id=actor.id, own_points=_own_points(actor),
                            created_by_id=invitation.created_by_id, invite_role=invitation.role,
                            invite_points=invitation.point_codes())


def revoke_invitation(session: Session, actor: User, now: datetime, invitation: Invitation) -> None:
    """The link stops working at once. A used or already revoked one is left as it is."""
    if not may_revoke(actor, invitation):
        raise Forbidden("您不能撤销这个邀请。")
    if invitation.used_at is not None:
        raise rules.InviteGone("这个邀请已经用过了，账号已经建好；如需停用账号，请找管理员。")
    if invitation.revoked_at is not None:
        return
    invitation.revoked_at = now
    invitation.revoked_by_id = actor.id
    session.flush()
    audit.record(session, actor, now, "invite.revoke", "invitation", invitation.id,
                 point_id=invitation.points[0].id if invitation.points else None)


def find_invitation(session: Session, token: object) -> Invitation | None:
    """The invitation this raw token names, whatever its state, or None."""
    raw = str(token or "")
    if not raw or len(raw) > rules.MAX_TOKEN_LENGTH:
        return None
    return session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(raw)))


def open_invitation(session: Session, now: datetime, token: object) -> Invitation:
    """The invitation, if it can still be used; else InviteUnknown (404) or InviteGone (410)."""
    invitation = find_invitation(session, token)
    if invitation is None:
        raise rules.InviteUnknown()
    rules.check_open(invitation.state(now))
    return invitation


def _claim(session: Session, invitation: Invitation, now: datetime) -> None:
    """Mark it used, if no one else did first (the one conditional UPDATE that makes it single use)."""
    done = session.execute(  # type: ignore[attr-defined]
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None),
               Invitation.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(invitation)
    if done != 1:
        rules.check_open(invitation.state(now))
        raise rules.InviteGone()


def accept_invitation(session: Session, now: datetime, token: object, *, username: object, password: object,
                      display_name: object = "", ip: str = "") -> User:
    """Make the invited account (her own login name and password) and use the link up."""
    invitation = open_invitation(session, now, token)
    _claim(session, invitation, now)
    try:
        user = create_user(session, invitation.created_by, now, username=str(username or ""),
                           password=str(password or ""), role=invitation.role,
                           display_name=str(display_name or "")[:64], point_codes=invitation.point_codes())
    except (Conflict, IntegrityError) as exc:  # IntegrityError: taken by a racing request just now
        raise Conflict(NAME_TAKEN) from exc
    invitation.used_by_id = user.id
    session.flush()
    audit.record(session, user, now, "invite.accept", "invitation", invitation.id,
                 point_id=invitation.points[0].id if invitation.points else None, ip=ip,
                 role=invitation.role, user=user.username, invited_by=invitation.created_by_id)
    return user
