"""Invitations (邀请): who may invite whom for which points, and what state a link is in.

product.md "Community-run points": anyone who may add accounts invites a new user by a link or
QR (single use, expiring); the new user chooses her own password, so no password is ever passed
on by hand. No Flask, no SQLAlchemy: the service reads the rows, these functions decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .errors import RuleBroken
from .roles import INVITABLE, INVITERS, POINT_BOUND, ROLE_NAMES, STAFF, Role

DEFAULT_HOURS = 72   # a link lives three days unless the config says otherwise (INVITE_HOURS)
MAX_HOURS = 24 * 30
TOKEN_BYTES = 32     # secrets.token_urlsafe(32): 43 characters, 256 bits
MAX_TOKEN_LENGTH = 128  # anything longer is not one of ours (refused before it is hashed)


class InviteState(StrEnum):
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


STATE_NAMES: dict[str, str] = {
    InviteState.OPEN: "可使用", InviteState.USED: "已使用",
    InviteState.EXPIRED: "已过期", InviteState.REVOKED: "已撤销",
}


def invite_state(*, used_at: datetime | None, revoked_at: datetime | None, expires_at: datetime,
                 now: datetime, inviter_active: bool = True) -> InviteState:
    """Used wins over revoked and expired (it happened first), revoked over expired. Disabling
    the inviter's account revokes the links she made and no one used yet."""
    if used_at is not None:
        return InviteState.USED
    if revoked_at is not None or not inviter_active:
        return InviteState.REVOKED
    if now >= expires_at:
        return InviteState.EXPIRED
    return InviteState.OPEN


def expires_at(now: datetime, hours: int) -> datetime:
    return now + timedelta(hours=max(1, min(int(hours), MAX_HOURS)))


# ---------------------------------------------------------------- refusals

class RoleNotInvitable(RuleBroken):
    code = "role_not_invitable"
    message = "您不能邀请这个角色的账号。"
    status = 403


class PointNotYours(RuleBroken):
    code = "not_your_point"
    message = "您只能为自己负责的阅读点发邀请。"
    status = 403


class PointRequired(RuleBroken):
    code = "point_required"
    message = "请至少选择一个阅读点：故事妈妈和阅读点负责人只在指定的阅读点工作。"
    status = 422


class UnknownPoint(RuleBroken):
    code = "unknown_point"
    message = "没有这个阅读点。"
    status = 422


class InviteUnknown(RuleBroken):
    code = "invite_unknown"
    message = "找不到这个邀请链接。请检查链接是否完整（在微信里可以长按复制整条链接），或请邀请您的人重新发一个。"
    status = 404


class InviteGone(RuleBroken):
    """The link was right but can no longer be used (410 Gone)."""

    code = "invite_gone"
    message = "这个邀请链接已经不能使用了，请联系邀请您的人重新发一个。"
    status = 410


GONE_MESSAGES: dict[str, str] = {
    InviteState.USED: "这个邀请链接已经用过了：每个链接只能创建一个账号。如果账号是您自己创建的，请直接登录；"
                      "否则请联系邀请您的人重新发一个。",
    InviteState.EXPIRED: "这个邀请链接已经过期了。请联系邀请您的人重新发一个。",
    InviteState.REVOKED: "这个邀请链接已被邀请人撤销。请联系邀请您的人重新发一个。",
}


def check_open(state: InviteState) -> None:
    if state is not InviteState.OPEN:
        raise InviteGone(GONE_MESSAGES[state], state=state.value)


# ---------------------------------------------------------------- who may invite whom

@dataclass(frozen=True)
class InvitePlan:
    """A checked invitation: the role and the points (codes, sorted) the new account gets."""

    role: Role
    points: tuple[str, ...]


def normalise_codes(codes: Iterable[object]) -> tuple[str, ...]:
    return tuple(sorted({str(c).strip().upper() for c in codes if str(c or "").strip()}))


def invitable_roles(inviter_role: str) -> tuple[Role, ...]:
    return INVITABLE.get(inviter_role, ())


def grantable_points(inviter_role: str, own_points: Iterable[str], active_points: Iterable[str]) -> tuple[str, ...]:
    """The points this inviter may put on an invitation: her own (a point lead) or any active one."""
    active = normalise_codes(active_points)
    if inviter_role in STAFF:
        return active
    if inviter_role == Role.POINT_LEAD:
        own = set(normalise_codes(own_points))
        return tuple(c for c in active if c in own)
    return ()


def plan_invite(*, inviter_role: str, own_points: Iterable[str], role: object, points: Iterable[object],
                known_points: dict[str, bool]) -> InvitePlan:
    """May this inviter invite this role for these points? ``known_points`` maps every point
    code to whether it is active. Roles not bound to points (librarian, viewer) get none."""
    if inviter_role not in INVITERS:
        raise RoleNotInvitable("您不能邀请新账号。")
    wanted_role = str(role or "").strip()
    allowed = invitable_roles(inviter_role)
    if wanted_role not in allowed:
        names = "、".join(ROLE_NAMES[r] for r in allowed)
        raise RoleNotInvitable(f"您只能邀请这些角色的账号：{names}。", role=wanted_role)
    plan_role = Role(wanted_role)
    if plan_role not in POINT_BOUND:
        return InvitePlan(plan_role, ())
    codes = normalise_codes(points)
    if not codes:
        raise PointRequired()
    unknown = [c for c in codes if c not in known_points]
    if unknown:
        raise UnknownPoint("没有这些阅读点：" + "、".join(unknown) + "。")
    inactive = [c for c in codes if not known_points[c]]
    if inactive:
        raise UnknownPoint("这些阅读点已停用，不能邀请人去那里：" + "、".join(inactive) + "。")
    if inviter_role == Role.POINT_LEAD:
        own = set(normalise_codes(own_points))
        foreign = [c for c in codes if c not in own]
        if foreign:
            raise PointNotYours("您只能为自己负责的阅读点发邀请，" + "、".join(foreign) + " 不是您的阅读点。")
    return InvitePlan(plan_role, codes)


def may_see(*, viewer_role: str, viewer_id: int, own_points: Iterable[str], created_by_id: int | None,
            invite_points: Iterable[str]) -> bool:
    """Admins and librarians see every invitation; a point lead those she made and those for
    any of her points."""
    if viewer_role in STAFF:
        return True
    if viewer_role != Role.POINT_LEAD:
        return False
    return created_by_id == viewer_id or bool(set(normalise_codes(own_points)) & set(normalise_codes(invite_points)))


def may_revoke(*, actor_role: str, actor_id: int, own_points: Iterable[str], created_by_id: int | None,
               invite_role: str, invite_points: Iterable[str]) -> bool:
    """What she made, or what she could have made herself (the same role, points within hers)."""
    if actor_role not in INVITERS:
        return False
    if created_by_id == actor_id:
        return True
    if invite_role not in invitable_roles(actor_role):
        return False
    if actor_role in STAFF:
        return True
    codes = set(normalise_codes(invite_points))
    return bool(codes) and codes <= set(normalise_codes(own_points))
