"""Moving copies between points (调拨), all or nothing, and the list of past transfers.

Flushes, never commits (the request's one commit point does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from library_app.domain import reach
from library_app.domain.codes import parse_code
from library_app.domain.errors import RuleBroken
from library_app.domain.roles import is_point_bound
from library_app.domain.statuses import CopyStatus
from library_app.models import Copy, Point, Transfer, TransferItem, User

from . import audit
from .errors import Invalid
from .paging import PER_PAGE, Page, last_page
from .scope import her_point_ids


def transfer_copies(
    session: Session, actor: User, now: datetime, codes: Sequence[str], to_point: Point,
    notes: str = "",
) -> Transfer:
    """Move copies to another point in one go (their home and current point), all or nothing.

    Every unreadable or unknown code and every copy on loan is named in one refusal.
    """
    if not to_point.active:
        raise Invalid(f"阅读点 {to_point.code} 已停用，不能调入。")
    own = actor.point_codes()
    reach.check_point(actor.role, own, to_point.code, "不能把书调到那里")
    wanted: list[str] = []
    problems: list[str] = []
    for raw in codes:
        if not (raw or "").strip():
            continue
        try:
            code = parse_code(raw, expect="copy").code
        except RuleBroken as exc:
            problems.append(f"“{raw.strip()}”：{exc.message}")
            continue
        if code not in wanted:
            wanted.append(code)
    if not wanted and not problems:
        raise Invalid("请先扫描或输入要调拨的书。")
    copies = {
        c.code: c for c in session.scalars(select(Copy).where(Copy.code.in_(wanted)))
    } if wanted else {}
    for code in wanted:
        copy = copies.get(code)
        if copy is None:
            problems.append(f"{code}：系统里没有这本书。")
        elif copy.status == CopyStatus.ON_LOAN:
            problems.append(f"{code}：正在借出中，归还后才能调拨。")
        elif is_point_bound(actor.role) and copy.current_point.code not in own:
            problems.append(f"{code}：不在您负责的阅读点，不能调拨。")
    if problems:
        raise Invalid("调拨没有进行，请先处理这些书：" + "；".join(problems))
    moving = [copies[c] for c in wanted]
    sources = {c.current_point_id for c in moving}
    transfer = Transfer(
        from_point_id=sources.pop() if len(sources) == 1 else None, to_point_id=to_point.id,
        by_id=actor.id, at=now, notes=(notes or "").strip()[:500],
    )
    for copy in moving:
        transfer.items.append(TransferItem(copy_id=copy.id, from_point_id=copy.current_point_id))
        copy.home_point_id = to_point.id
        copy.current_point_id = to_point.id
    session.add(transfer)
    session.flush()
    audit.record(session, actor, now, "copy.transfer", "transfer", transfer.id,
                 point_id=to_point.id, count=len(moving), codes=wanted[:50])
    return transfer


def list_transfers(session: Session, actor: User, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """Past transfers, newest first; to a point lead only those into or out of her points."""
    where: list[Any] = []
    if is_point_bound(actor.role):
        mine = her_point_ids(actor)
        where.append(or_(Transfer.to_point_id.in_(mine), Transfer.from_point_id.in_(mine),
                         Transfer.id.in_(select(TransferItem.transfer_id)
                                         .where(TransferItem.from_point_id.in_(mine)))))
    total = int(session.scalar(select(func.count(Transfer.id)).where(*where)) or 0)
    page = max(1, min(page, last_page(total, per_page)))
    items = list(session.scalars(
        select(Transfer).where(*where).options(selectinload(Transfer.items), joinedload(Transfer.by))
        .order_by(Transfer.at.desc(), Transfer.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ))
    return Page(items=items, number=page, per_page=per_page, total=total)


def transfer_details(session: Session, transfers: Sequence[Transfer]) -> dict[str, Any]:
    """Points and copies referred to by these transfers, loaded in two queries."""
    point_ids: set[int] = set()
    copy_ids: set[int] = set()
    for t in transfers:
        point_ids.add(t.to_point_id)
        if t.from_point_id:
            point_ids.add(t.from_point_id)
        for item in t.items:
            copy_ids.add(item.copy_id)
            if item.from_point_id:
                point_ids.add(item.from_point_id)
    points = {p.id: p for p in session.scalars(select(Point).where(Point.id.in_(point_ids)))} if point_ids else {}
    copies = {
        c.id: c for c in session.scalars(
            select(Copy).where(Copy.id.in_(copy_ids)).options(joinedload(Copy.title))
        )
    } if copy_ids else {}
    return {"points": points, "copies": copies}
