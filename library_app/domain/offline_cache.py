"""What a phone may keep for offline scanning (trust.md: codes, titles and masked names only).

No Flask, no SQLAlchemy: which points a user may cache, and how a child's name is masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import RuleBroken
from .roles import is_point_bound, is_staff


class PointNotYours(RuleBroken):
    code = "not_your_point"
    message = "您只能下载自己负责的阅读点的离线数据。"
    status = 403


class NoPointToCache(RuleBroken):
    code = "no_point"
    message = "您还没有被分配阅读点，请联系图书管理员。"
    status = 422


def mask_name(name: str | None) -> str:
    """王小明 → 王*明, 王明 → 王*, 欧阳小明 → 欧**明; enough to confirm the child, not to identify her.

    Latin names keep their first and last letters: Anna → A**a.
    """
    text = "".join((name or "").split())
    if not text:
        return ""
    if len(text) == 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def points_to_cache(
    role: str, assigned: Sequence[str], requested: Iterable[str], all_active: Sequence[str]
) -> list[str]:
    """The point codes whose cache this user gets.

    A story mother gets her own points (all of them when she asks for none) and is refused any
    other; staff get what they ask for, or every active point.
    """
    wanted = sorted({code.strip().upper() for code in requested if code and code.strip()})
    if is_point_bound(role):
        if not wanted:
            if not assigned:
                raise NoPointToCache()
            return sorted(assigned)
        outside = [code for code in wanted if code not in assigned]
        if outside:
            raise PointNotYours(f"阅读点 {'、'.join(outside)} 不是您负责的，不能下载它的离线数据。")
        return wanted
    if is_staff(role):
        return wanted or sorted(all_active)
    raise PointNotYours("您的角色不能使用离线扫码。")
