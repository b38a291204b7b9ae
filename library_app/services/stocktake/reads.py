"""Stocktakes: what is read back (the counts of a scan's answer, the summary, the results page's
lists, a point's history, the open ones) and who may see them. The writes are in ``recording``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, select
from sqlalchemy.orm import Session

from library_app.domain import stocktake as rules
from library_app.domain.roles import is_staff
from library_app.models import (
    Copy,
    Point,
    Stocktake,
    StocktakeItem,
    StocktakeScan,
    Title,
    User,
    user_points,
)
from library_app.services.errors import Forbidden, NotFound


def _t(model: Any) -> Table:
    return cast(Table, model.__table__)


_copies, _items, _scans, _stocktakes = _t(Copy), _t(StocktakeItem), _t(StocktakeScan), _t(Stocktake)
_points, _titles = _t(Point), _t(Title)


@dataclass(frozen=True)
class Access:
    role: str
    point_ids: frozenset[int]

    def may_scan(self, point_id: int) -> bool:
        return is_staff(self.role) or point_id in self.point_ids


def access_of(session: Session, actor: Any) -> Access:
    ids = session.execute(select(user_points.c.point_id).where(user_points.c.user_id == actor.id)).scalars()
    return Access(role=actor.role, point_ids=frozenset(ids))


# expected: the snapshot (and copies that arrived after it, found); found: the items seen, counted
# on the (partial) indexes of stocktake_items (the truth; a scan's answer reads the same number
# from ``stocktake_tallies``, kept in step by ``recording``).
_FOUND_COUNT = select(func.count()).select_from(_items).where(_items.c.stocktake_id == bindparam("b_st"),
                                                              _items.c.found_at.is_not(None))
_EXPECTED_COUNT = select(func.count()).select_from(_items).where(_items.c.stocktake_id == bindparam("b_st"))


def counts(session: Session, stocktake_id: int) -> dict[str, int]:
    conn = session.connection()
    return {"expected": int(conn.execute(_EXPECTED_COUNT, {"b_st": stocktake_id}).scalar_one()),
            "found": int(conn.execute(_FOUND_COUNT, {"b_st": stocktake_id}).scalar_one())}


def get_stocktake(session: Session, stocktake_id: int) -> Stocktake:
    stocktake = session.get(Stocktake, stocktake_id)
    if stocktake is None:
        raise NotFound("找不到这次盘点。")
    return stocktake


def check_view(session: Session, actor: Any, stocktake: Stocktake) -> None:
    if not is_staff(actor.role) and stocktake.point_id not in access_of(session, actor).point_ids:
        raise Forbidden("只能查看您负责的阅读点的盘点。")


def _missing_filter(stocktake: Stocktake) -> Any:
    base = and_(_items.c.stocktake_id == stocktake.id, _items.c.found_at.is_(None))
    if stocktake.status == "closed":
        return and_(base, _items.c.missing_at.is_not(None))
    return base


def summary(session: Session, stocktake_id: int) -> dict[str, Any]:
    """The contract's answer: counts and the codes of the missing, misplaced and on-loan copies."""
    stocktake = get_stocktake(session, stocktake_id)
    session.refresh(stocktake)
    point = session.get(Point, stocktake.point_id)
    assert point is not None
    missing = session.execute(select(_copies.c.code).join(_items, _items.c.copy_id == _copies.c.id)
                              .where(_missing_filter(stocktake)).order_by(_copies.c.code)).scalars().all()

    def scanned(status: str) -> list[str]:
        return list(session.execute(select(_scans.c.copy_code).where(_scans.c.stocktake_id == stocktake.id,
                                                                     _scans.c.status == status)
                                    .order_by(_scans.c.copy_code)).scalars())

    c = counts(session, stocktake.id)
    return {
        "id": stocktake.id, "point": point.code, "status": stocktake.status,
        "expected": c["expected"], "found": c["found"], "missing": list(missing),
        "elsewhere": scanned("elsewhere"), "on_loan": scanned("on_loan"),
        "unknown": scanned("unknown"),
        "opened_at": stocktake.opened_at.isoformat(),
        "closed_at": stocktake.closed_at.isoformat() if stocktake.closed_at else None,
        "progress": rules.progress(c["found"], c["expected"]),
    }


@dataclass(frozen=True)
class Line:
    code: str
    title: str
    point: str  # where the catalog puts it now
    status: str  # the copy's status now
    when: datetime | None  # scanned (or marked missing) at
    by: str = ""
    where: str = ""


def result_lines(session: Session, stocktake: Stocktake) -> dict[str, list[Line]]:
    """The results page's lists, with titles: missing, misplaced (elsewhere), on loan, unknown."""
    point_name = _points.c.code + " " + _points.c.name
    missing = [Line(r.code, r.title, r.point, r.status, r.missing_at) for r in session.execute(
        select(_copies.c.code, _titles.c.title, point_name.label("point"), _copies.c.status, _items.c.missing_at)
        .join(_items, _items.c.copy_id == _copies.c.id).join(_titles, _titles.c.id == _copies.c.title_id)
        .join(_points, _points.c.id == _copies.c.current_point_id)
        .where(_missing_filter(stocktake)).order_by(_copies.c.code))]
    users = _t(User)
    out: dict[str, list[Line]] = {"missing": missing}
    for status in ("elsewhere", "on_loan", "unknown"):
        rows = session.execute(
            select(_scans.c.copy_code, _titles.c.title, point_name.label("point"), _copies.c.status,
                   _scans.c.scanned_at, users.c.display_name, _scans.c.where)
            .outerjoin(_copies, _copies.c.id == _scans.c.copy_id)
            .outerjoin(_titles, _titles.c.id == _copies.c.title_id)
            .outerjoin(_points, _points.c.id == _copies.c.current_point_id)
            .outerjoin(users, users.c.id == _scans.c.actor_id)
            .where(_scans.c.stocktake_id == stocktake.id, _scans.c.status == status)
            .order_by(_scans.c.copy_code))
        out[status] = [Line(r[0], r[1] or "", r[2] or "", r[3] or "", r[4], r[5] or "", r[6] or "") for r in rows]
    return out


def history(session: Session, point_id: int) -> list[dict[str, Any]]:
    """A point's stocktakes, newest first, with their counts."""
    found = select(func.count()).where(_items.c.stocktake_id == _stocktakes.c.id,
                                       _items.c.found_at.is_not(None)).scalar_subquery()
    expected = select(func.count()).where(_items.c.stocktake_id == _stocktakes.c.id).scalar_subquery()
    missing = select(func.count()).where(_items.c.stocktake_id == _stocktakes.c.id, _items.c.found_at.is_(None),
                                         _items.c.missing_at.is_not(None)).scalar_subquery()
    users = _t(User)
    rows = session.execute(
        select(_stocktakes.c.id, _stocktakes.c.status, _stocktakes.c.opened_at, _stocktakes.c.closed_at,
               expected.label("expected"), found.label("found"), missing.label("missing"),
               users.c.display_name.label("opened_by"))
        .outerjoin(users, users.c.id == _stocktakes.c.opened_by_id)
        .where(_stocktakes.c.point_id == point_id).order_by(_stocktakes.c.opened_at.desc(), _stocktakes.c.id.desc())
    ).mappings().all()
    return [dict(r) for r in rows]


def open_stocktakes(session: Session, point_ids: frozenset[int] | None) -> list[dict[str, Any]]:
    """Stocktakes now open (at these points, or everywhere), for the menu page."""
    q = (select(_stocktakes.c.id, _stocktakes.c.opened_at, _stocktakes.c.expected, _points.c.code, _points.c.name)
         .join(_points, _points.c.id == _stocktakes.c.point_id).where(_stocktakes.c.status == "open")
         .order_by(_points.c.code))
    if point_ids is not None:
        q = q.where(_stocktakes.c.point_id.in_(sorted(point_ids)))
    out = []
    for r in session.execute(q).mappings():
        d = dict(r)
        d.update(counts(session, r["id"]))
        out.append(d)
    return out

