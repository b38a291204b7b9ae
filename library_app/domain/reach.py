"""What a point-bound user may touch (product.md, Community-run points): a point lead has a
librarian's powers at her own points only, and edits in the shared catalog only the titles she
added. Staff reach every point; the role checks on routes come first (``access.roles``)."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import RuleBroken
from .roles import Role, is_point_bound, is_staff


class PointNotHers(RuleBroken):
    code = "not_your_point"
    message = "这个阅读点不是您负责的，您不能在这里操作。"
    status = 403


class TitleNotHers(RuleBroken):
    code = "not_your_title"
    message = "这个书目不是您添加的，只有图书管理员能修改它。可以给它添加您阅读点的馆藏。"
    status = 403


def check_point(role: str, own_points: Iterable[str], point_code: str, what: str = "") -> None:
    """Staff anywhere; a point lead or story mother only at her points."""
    if is_point_bound(role) and point_code not in set(own_points):
        raise PointNotHers(f"阅读点 {point_code} 不是您负责的，{what or '您不能在这里操作'}。")


def may_edit_title(role: str, actor_id: int, added_by_id: int | None) -> bool:
    """Staff edit every title; a point lead the titles she added (added_by_id is None for the
    titles added before anyone was bound to points: those stay the librarians')."""
    if is_staff(role):
        return True
    return role == Role.POINT_LEAD and added_by_id is not None and added_by_id == actor_id


def check_may_edit_title(role: str, actor_id: int, added_by_id: int | None) -> None:
    if not may_edit_title(role, actor_id, added_by_id):
        raise TitleNotHers()


def report_point(role: str, own_points: list[str], requested: str | None) -> str | None:
    """Which point a report shows: what was asked (None: the whole organisation) for staff and
    viewers; for a point lead one of her points, her first one when she asked for none."""
    wanted = (requested or "").strip().upper() or None
    if not is_point_bound(role):
        return wanted
    if wanted is None:
        if not own_points:
            raise PointNotHers("您还没有负责的阅读点，请管理员先把阅读点分配给您。")
        return sorted(own_points)[0]
    check_point(role, own_points, wanted, "不能查看它的报告")
    return wanted


def borrower_visibility(role: str, my_points: Iterable[str], home_point: str) -> str:
    """How much of a child a user may see: "full" (name, card, details), "masked" (王*明, no
    card, no id) or "none".

    Staff see everyone; a story mother or a point lead sees in full the children who live at one
    of her points (trust.md: she reaches only her points' children), any other child only
    masked, even one who borrowed at her point (she may still take the book back); a viewer
    (aggregate reports only) sees no one.
    """
    if is_staff(role):
        return "full"
    if is_point_bound(role):
        return "full" if home_point and home_point in set(my_points) else "masked"
    return "none"
