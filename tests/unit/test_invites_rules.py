"""Invitation rules (domain/invites.py): who may invite whom for which points, link states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from library_app.domain import invites as inv
from library_app.domain.roles import Role

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
POINTS = {"P01": True, "P02": True, "P03": False}


def plan(inviter: str, role: str, points: list[str], own: list[str] | None = None) -> inv.InvitePlan:
    return inv.plan_invite(inviter_role=inviter, own_points=own or [], role=role, points=points,
                           known_points=POINTS)


def test_an_admin_invites_any_role_but_admin_and_a_librarian_leads_and_story_mothers():
    for role in ("librarian", "point_lead", "story_mother", "viewer"):
        assert plan("admin", role, ["P01"]).role == role
    with pytest.raises(inv.RoleNotInvitable):
        plan("admin", "admin", [])
    assert plan("librarian", "point_lead", ["P02", "p01"]).points == ("P01", "P02")
    for role in ("librarian", "viewer", "admin"):
        with pytest.raises(inv.RoleNotInvitable) as exc:
            plan("librarian", role, ["P01"])
        assert "阅读点负责人" in exc.value.message and exc.value.status == 403


def test_a_point_lead_invites_story_mothers_at_her_own_points_only():
    assert plan("point_lead", "story_mother", ["P01"], own=["P01"]) == inv.InvitePlan(Role.STORY_MOTHER, ("P01",))
    with pytest.raises(inv.PointNotYours) as exc:
        plan("point_lead", "story_mother", ["P01", "P02"], own=["P01"])
    assert "P02" in exc.value.message and exc.value.status == 403
    with pytest.raises(inv.RoleNotInvitable):
        plan("point_lead", "librarian", [], own=["P01"])
    with pytest.raises(inv.RoleNotInvitable):
        plan("point_lead", "point_lead", ["P01"], own=["P01"])


@pytest.mark.parametrize("inviter", ["story_mother", "viewer", "", "kiosk"])
def test_who_is_not_an_inviter_invites_no_one(inviter):
    with pytest.raises(inv.RoleNotInvitable):
        plan(inviter, "story_mother", ["P01"], own=["P01"])


def test_point_bound_roles_need_known_active_points_and_the_others_get_none():
    with pytest.raises(inv.PointRequired):
        plan("admin", "story_mother", [])
    with pytest.raises(inv.PointRequired):
        plan("admin", "point_lead", [" ", ""])
    with pytest.raises(inv.UnknownPoint) as exc:
        plan("admin", "story_mother", ["P09"])
    assert "P09" in exc.value.message
    with pytest.raises(inv.UnknownPoint) as exc:
        plan("admin", "story_mother", ["P03"])
    assert "停用" in exc.value.message
    assert plan("admin", "librarian", ["P01"]).points == ()
    assert plan("admin", "viewer", []).points == ()


def test_grantable_points_are_her_own_active_ones_for_a_point_lead_and_all_active_for_staff():
    active = ["P01", "P02"]
    assert inv.grantable_points("admin", [], active) == ("P01", "P02")
    assert inv.grantable_points("librarian", [], active) == ("P01", "P02")
    assert inv.grantable_points("point_lead", ["P02", "P03"], active) == ("P02",)
    assert inv.grantable_points("story_mother", ["P01"], active) == ()


def test_states_used_before_revoked_before_expired():
    later = NOW + timedelta(hours=72)
    assert inv.invite_state(used_at=None, revoked_at=None, expires_at=later, now=NOW) is inv.InviteState.OPEN
    assert inv.invite_state(used_at=None, revoked_at=None, expires_at=later, now=later) is inv.InviteState.EXPIRED
    assert inv.invite_state(used_at=None, revoked_at=NOW, expires_at=later, now=later) is inv.InviteState.REVOKED
    assert inv.invite_state(used_at=NOW, revoked_at=NOW, expires_at=later, now=later) is inv.InviteState.USED
    assert inv.invite_state(used_at=None, revoked_at=None, expires_at=later, now=NOW,
                            inviter_active=False) is inv.InviteState.REVOKED


def test_only_an_open_link_passes_and_each_other_state_says_why_in_chinese():
    inv.check_open(inv.InviteState.OPEN)
    for state, word in ((inv.InviteState.USED, "用过"), (inv.InviteState.EXPIRED, "过期"),
                        (inv.InviteState.REVOKED, "撤销")):
        with pytest.raises(inv.InviteGone) as exc:
            inv.check_open(state)
        assert exc.value.status == 410 and word in exc.value.message


def test_expiry_is_held_between_an_hour_and_a_month():
    assert inv.expires_at(NOW, 72) == NOW + timedelta(hours=72)
    assert inv.expires_at(NOW, 0) == NOW + timedelta(hours=1)
    assert inv.expires_at(NOW, 10**6) == NOW + timedelta(hours=inv.MAX_HOURS)


def test_a_point_lead_sees_her_own_and_her_points_invitations_and_revokes_what_she_could_make():
    def see(created_by: int, points: list[str]) -> bool:
        return inv.may_see(viewer_role="point_lead", viewer_id=7, own_points=["P01"], created_by_id=created_by,
                           invite_points=points)

    assert see(7, ["P02"]) and see(1, ["P01", "P02"])
    assert not see(1, ["P02"]) and not see(1, [])
    assert inv.may_see(viewer_role="librarian", viewer_id=2, own_points=[], created_by_id=1, invite_points=[])
    assert not inv.may_see(viewer_role="story_mother", viewer_id=3, own_points=["P01"], created_by_id=1,
                           invite_points=["P01"])

    def revoke(role: str, actor: str, created_by: int, points: list[str], own: list[str] = ()) -> bool:
        return inv.may_revoke(actor_role=actor, actor_id=7, own_points=own, created_by_id=created_by,
                              invite_role=role, invite_points=points)

    assert revoke("story_mother", "point_lead", 1, ["P01"], ["P01"])
    assert not revoke("story_mother", "point_lead", 1, ["P01", "P02"], ["P01"])
    assert not revoke("librarian", "point_lead", 1, [], ["P01"])
    assert revoke("viewer", "admin", 1, [])
    assert not revoke("viewer", "librarian", 1, [])
    assert revoke("story_mother", "librarian", 1, ["P02"])
    assert not revoke("story_mother", "story_mother", 7, ["P01"], ["P01"])
