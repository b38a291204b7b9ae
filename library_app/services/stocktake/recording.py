"""Stocktakes (盘点), the writes: open one at a point, record scans from any number of phones,
close it. What is read back is in ``reads``.

Every function takes (session, actor, now), flushes and never commits. The rules are in
``domain.stocktake``.

Concurrency: ``record_scans`` and ``close_stocktake`` first lock the stocktake's row
(``FOR UPDATE`` on PostgreSQL; on SQLite the write transaction holds the database lock from
``BEGIN IMMEDIATE``), then read which scan ids are already stored. So two phones sending the
same scan, or the same book at once, take turns: the second is answered ``duplicate``. The
unique scan id and the one-counted-scan-per-copy index stand behind that in the schema.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from library_app.domain import stocktake as rules
from library_app.domain.codes import parse_code
from library_app.domain.errors import RuleBroken
from library_app.domain.events import BadTime, parse_time
from library_app.domain.loans import NotYourPoint
from library_app.domain.roles import is_staff
from library_app.models import AuditLog, Loan, Point, Stocktake, StocktakeTally, User, user_points
from library_app.services.errors import Forbidden, Invalid, NotFound

from .reads import (
    _copies,
    _items,
    _points,
    _scans,
    _stocktakes,
    _t,
    _titles,
    access_of,
    summary,
)

FUTURE_SLACK = timedelta(minutes=5)
RETRIES = 3
_loans = _t(Loan)

_LOCK = select(_stocktakes.c.id).where(_stocktakes.c.id == bindparam("b_id")).with_for_update()
# scans share the stocktake's row (they run side by side; closing waits for them, and they for it)
_SHARE = select(_stocktakes.c.id).where(_stocktakes.c.id == bindparam("b_id")).with_for_update(read=True)
# the stocktake, its point, and whether the actor works there: one row
_HEAD = select(_stocktakes.c.id, _stocktakes.c.point_id, _stocktakes.c.status, _points.c.code,
               exists().where(user_points.c.user_id == bindparam("b_user"),
                              user_points.c.point_id == _stocktakes.c.point_id).label("mine")) \
    .join(_points, _points.c.id == _stocktakes.c.point_id).where(_stocktakes.c.id == bindparam("b_id"))
_KNOWN = select(_scans.c.scan_id).where(_scans.c.scan_id.in_(bindparam("b_ids", expanding=True)))
_KNOWN_ONE = select(_scans.c.scan_id).where(_scans.c.scan_id == bindparam("b_id"))  # prepared once
_COPIES = (
    select(_copies.c.id, _copies.c.code, _copies.c.status, _copies.c.current_point_id,
           (_points.c.code + " " + _points.c.name).label("point"), _titles.c.title,
           exists().where(_loans.c.copy_id == _copies.c.id, _loans.c.returned_at.is_(None)).label("on_loan"),
           exists().where(_items.c.stocktake_id == bindparam("b_st"), _items.c.copy_id == _copies.c.id)
           .label("expected"),
           exists().where(_scans.c.stocktake_id == bindparam("b_st"), _scans.c.copy_id == _copies.c.id,
                          _scans.c.status.in_(rules.COUNTED)).label("counted"))
    .join(_points, _points.c.id == _copies.c.current_point_id)
    .join(_titles, _titles.c.id == _copies.c.title_id)
    .where(_copies.c.code.in_(bindparam("b_codes", expanding=True)))
)
_FOUND = update(_items).where(_items.c.stocktake_id == bindparam("b_st"),
                              _items.c.copy_id.in_(bindparam("b_copies", expanding=True)),
                              _items.c.found_at.is_(None)).values(found_at=bindparam("b_now"))
_tallies = _t(StocktakeTally)


def _add_found(dialect: str) -> Any:
    """Add ``b_n`` to this writer's row of the stocktake's tally (see ``StocktakeTally``)."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect == "postgresql":
        stmt: Any = postgresql.insert(_tallies).values(
            slot=func.pg_backend_pid())  # this connection's own row: no other phone waits on it
    else:
        stmt = sqlite.insert(_tallies).values(slot=0)  # SQLite writers take turns on the lock anyway
    stmt = stmt.values(stocktake_id=bindparam("b_st"), found=bindparam("b_n"))
    return stmt.on_conflict_do_update(index_elements=[_tallies.c.stocktake_id, _tallies.c.slot],
                                      set_={"found": _tallies.c.found + stmt.excluded.found})


_ADD_FOUND = {"postgresql": _add_found("postgresql"), "sqlite": _add_found("sqlite")}
# the found count of a scan's answer: a sum over a few rows, however many books are found
_TALLY = select(func.coalesce(func.sum(_tallies.c.found), 0)).where(_tallies.c.stocktake_id == bindparam("b_st"))
_BACK = update(_copies).where(_copies.c.id.in_(bindparam("b_copies", expanding=True)),
                              _copies.c.status.in_((rules.MISSING, "lost"))).values(status="available")


def _audit(session: Session, actor: Any, now: datetime, action: str, stocktake_id: int, point_id: int,
           ip: str = "", **details: Any) -> None:
    session.add(AuditLog(at=now, actor_id=actor.id, action=action, target_type="stocktake",
                         target_id=str(stocktake_id), point_id=point_id, ip=ip, details=details))


# ---------------------------------------------------------------- open

def open_stocktake(session: Session, actor: User, now: datetime, point_code: str, ip: str = "") -> Stocktake:
    """Open a stocktake at a point and take the snapshot of the copies expected there."""
    code = str(point_code or "").strip().upper()
    if not code:
        raise Invalid("请选择要盘点的阅读点（point）。")
    point = session.scalar(select(Point).where(Point.code == code))
    if point is None:
        raise NotFound(f"没有编号为 {code} 的阅读点。")
    if not is_staff(actor.role) and point.id not in access_of(session, actor).point_ids:
        raise Forbidden("只能在您负责的阅读点开始盘点。")
    if session.bind is not None and session.get_bind().dialect.name == "postgresql":
        # two librarians pressing "开始盘点" at once: the second waits here, then sees the first
        session.execute(select(Point.id).where(Point.id == point.id).with_for_update())
    running = session.scalar(select(Stocktake.id).where(Stocktake.point_id == point.id, Stocktake.status == "open"))
    if running is not None:
        raise rules.StocktakeAlreadyOpen(
            f"阅读点 {point.code} 已经有一次正在进行的盘点（第 {running} 号）：请继续那一次，或先结束它。",
            stocktake=running)
    stocktake = Stocktake(point_id=point.id, status="open", opened_by_id=actor.id, opened_at=now, expected=0)
    session.add(stocktake)
    session.flush()
    snapshot = select(bindparam("b_st"), _copies.c.id, _copies.c.status).where(
        _copies.c.current_point_id == point.id, _copies.c.status.not_in(rules.NOT_EXPECTED))
    session.execute(insert(_items).from_select(["stocktake_id", "copy_id", "status_at_open"], snapshot),
                    {"b_st": stocktake.id})
    stocktake.expected = session.scalar(
        select(func.count()).select_from(_items).where(_items.c.stocktake_id == stocktake.id)) or 0
    session.flush()
    _audit(session, actor, now, "stocktake.open", stocktake.id, point.id, ip, expected=stocktake.expected)
    session.flush()
    return stocktake


# ---------------------------------------------------------------- scans

def _scan_time(value: Any, now: datetime) -> datetime:
    """The device's time of the scan, for the record; a missing or impossible one is the server's."""
    try:
        at = parse_time(value, UTC)  # type: ignore[arg-type]  # kept for the record only
    except BadTime:
        return now
    if at > now + FUTURE_SLACK or at.year < 2000:
        return now
    return at


def _head(session: Session, stocktake_id: int, actor_id: int = 0) -> Any:
    row = session.execute(_HEAD, {"b_id": stocktake_id, "b_user": actor_id}).mappings().first()
    if row is None:
        raise NotFound("找不到这次盘点。")
    return row


def record_scans(session: Session, actor: Any, now: datetime, stocktake_id: int,
                 raw_scans: Any) -> list[dict[str, Any]]:
    """Record a batch of scans; one answer per scan, in the order sent.

    A scan id already stored (a retry after a lost answer, a twin request) is ``duplicate``
    and changes nothing. Scans reaching a stocktake already closed (a phone that was offline)
    are still recorded and still bring a missing copy back.
    """
    if not isinstance(raw_scans, list) or not raw_scans:
        raise rules.BadScan("请求需要 scans 列表，至少一条扫描记录。")
    if len(raw_scans) > rules.MAX_SCANS:
        raise rules.BadScan(f"一次最多发送 {rules.MAX_SCANS} 条扫描记录，请分批上传。")
    parsed: list[tuple[str, str, datetime]] = []
    for n, raw in enumerate(raw_scans, start=1):
        if not isinstance(raw, dict):
            raise rules.BadScan(f"第 {n} 条扫描记录不是 JSON 对象。")
        try:
            scan_id = str(uuid.UUID(str(raw.get("id"))))
        except (ValueError, TypeError, AttributeError) as exc:
            raise rules.BadScan(f"第 {n} 条扫描记录缺少有效的 id（手机生成的 UUID）。") from exc
        code = rules.scan_text(raw.get("copy"), 64)
        if not code:
            raise rules.BadScan(f"第 {n} 条扫描记录缺少书的编码（copy）。")
        parsed.append((scan_id, code, _scan_time(raw.get("at"), now)))

    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    if pg:
        conn.execute(_SHARE, {"b_id": stocktake_id}).all()
    head = _head(session, stocktake_id, actor.id)
    if not is_staff(actor.role) and not head["mine"]:
        raise NotYourPoint(f"您不是阅读点 {head['code']} 的故事妈妈，不能在这里盘点：请联系图书管理员为您添加。")
    if not pg:  # SQLite: this transaction holds the write lock; nobody else is writing
        return _record(conn, actor, now, head, parsed)
    # PostgreSQL: phones scan side by side; the unique scan id and the one-counted-scan-per-copy
    # index decide a race. The loser's writes are undone (savepoint) and the batch is decided
    # again on what the winner committed: its twin scan is then "duplicate".
    for attempt in range(RETRIES):
        savepoint = conn.begin_nested()
        try:
            results = _record(conn, actor, now, head, parsed)
            savepoint.commit()
            return results
        except IntegrityError:
            savepoint.rollback()
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _record(conn: Any, actor: Any, now: datetime, head: Any,
            parsed: list[tuple[str, str, datetime]]) -> list[dict[str, Any]]:
    """Classify a batch on what the database holds, store its scans and their effects, and
    answer each scan with the found count after them."""
    stocktake_id = head["id"]
    seen = _read_facts(conn, stocktake_id, parsed)
    results, rows, effects = _classify(seen, actor, now, head, parsed)
    tally = _store(conn, now, stocktake_id, rows, effects, results)
    for r in results:
        r.setdefault("found", tally)
    if head["status"] == "closed":
        for r in results:
            r["message"] += "（这次盘点已经结束，扫描仍已记录。）"
    return results


@dataclass
class _Seen:
    """What the database says about a batch before it is classified."""

    known: set[str]  # scan ids already stored
    codes: dict[str, str | None]  # as sent → normalised code (None: not a book code)
    refusals: dict[str, str]  # as sent → why it is not a book code
    facts: dict[str, rules.CopyFacts]  # by code
    counted: set[int]  # copy ids this stocktake has counted


def _read_facts(conn: Any, stocktake_id: int, parsed: list[tuple[str, str, datetime]]) -> _Seen:
    ids = sorted({p[0] for p in parsed})
    seen = _Seen(known=set(conn.execute(_KNOWN_ONE, {"b_id": ids[0]}).scalars() if len(ids) == 1
                           else conn.execute(_KNOWN, {"b_ids": ids}).scalars()),
                 codes={}, refusals={}, facts={}, counted=set())
    for _sid, raw_code, _at in parsed:
        if raw_code in seen.codes:
            continue
        try:
            seen.codes[raw_code] = parse_code(raw_code, expect="copy").code
        except RuleBroken as exc:
            seen.codes[raw_code] = None
            seen.refusals[raw_code] = exc.message
    wanted = sorted({c for c in seen.codes.values() if c})
    if wanted:
        for r in conn.execute(_COPIES, {"b_st": stocktake_id, "b_codes": wanted}).mappings():
            seen.facts[r["code"]] = rules.CopyFacts(
                id=r["id"], code=r["code"], status=r["status"], current_point_id=r["current_point_id"],
                current_point=r["point"], title=r["title"] or "", on_loan=bool(r["on_loan"]),
                expected=bool(r["expected"]))
            if r["counted"]:
                seen.counted.add(r["id"])
    return seen


Effect = tuple[rules.CopyFacts | None, rules.Verdict]


def _classify(seen: _Seen, actor: Any, now: datetime, head: Any, parsed: list[tuple[str, str, datetime]]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Effect]]:
    """Each scan's answer, the scan rows to store, and for each row the copy and its verdict."""
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    effects: list[Effect] = []  # one per row
    seen_ids: set[str] = set()
    for scan_id, raw_code, at in parsed:
        if scan_id in seen.known or scan_id in seen_ids:
            results.append({"id": scan_id, "status": "duplicate", "code": "scan_repeated",
                            "message": "这次扫描已经记录过了。"})
            continue
        seen_ids.add(scan_id)
        code = seen.codes[raw_code]
        copy: rules.CopyFacts | None = None
        if code is None:
            verdict = rules.Verdict("unknown", seen.refusals[raw_code])
        else:
            copy = seen.facts.get(code)
            verdict = rules.classify(copy, point_id=head["point_id"],
                                     already_scanned=copy is not None and copy.id in seen.counted)
        if copy is not None and verdict.status in rules.COUNTED:
            seen.counted.add(copy.id)
        effects.append((copy, verdict))
        rows.append({"scan_id": scan_id, "stocktake_id": head["id"], "copy_code": code or raw_code,
                     "copy_id": copy.id if copy else None, "status": verdict.status, "where": verdict.where,
                     "scanned_at": at, "received_at": now, "actor_id": actor.id})
        result: dict[str, Any] = {"id": scan_id, "status": verdict.status, "code": verdict.status,
                                  "message": verdict.message, "copy": code or raw_code}
        if copy is not None:
            result["title"] = copy.title
        if verdict.where:
            result["where"] = verdict.where
        results.append(result)
    return results, rows, effects


def _store(conn: Any, now: datetime, stocktake_id: int, rows: list[dict[str, Any]], effects: list[Effect],
           results: list[dict[str, Any]]) -> int:
    """Store the scan rows and what they change (found items, copies back); the found count."""
    found: list[int] = []
    late: list[tuple[int, str]] = []
    back: list[int] = []
    if rows:
        lost: dict[str, dict[str, str]] = {}
        if conn.dialect.name == "postgresql":
            lost = _insert_scans(conn, rows)
        else:  # SQLite: this transaction holds the write lock, so nothing can have raced it
            conn.execute(insert(_scans), rows)
        by_id = {r["id"]: r for r in results}
        for row, (copy, verdict) in zip(rows, effects, strict=True):
            if row["scan_id"] in lost:  # another phone's scan of this copy (or this very scan) won
                by_id[row["scan_id"]].update(lost[row["scan_id"]])
                by_id[row["scan_id"]].pop("where", None)
                continue
            if copy is not None and verdict.status == "found":
                (late.append((copy.id, copy.status)) if verdict.late else found.append(copy.id))
            if copy is not None and verdict.back:
                back.append(copy.id)
    newly_found = 0
    if found:
        newly_found += conn.execute(_FOUND, {"b_st": stocktake_id, "b_copies": found, "b_now": now}).rowcount
    if late:
        conn.execute(insert(_items), [{"stocktake_id": stocktake_id, "copy_id": cid, "status_at_open": status,
                                       "found_at": now} for cid, status in late])
        newly_found += len(late)
    if back:
        conn.execute(_BACK, {"b_copies": back})
    if newly_found:  # in step with the items, in this transaction (and its savepoint on PostgreSQL)
        conn.execute(_ADD_FOUND[conn.dialect.name], {"b_st": stocktake_id, "b_n": newly_found})
    return int(conn.execute(_TALLY, {"b_st": stocktake_id}).scalar_one())


def _insert_scans(conn: Any, rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """PostgreSQL: store the scans, letting the unique indexes settle a race with another phone
    without an error: a scan whose copy another phone counted meanwhile is stored as
    ``duplicate``; a scan id stored meanwhile (its twin request) is not stored again. Returns
    the answers that changed, by scan id."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    stored = set(conn.execute(pg_insert(_scans).on_conflict_do_nothing().returning(_scans.c.scan_id),
                              rows).scalars())
    changed: dict[str, dict[str, str]] = {}
    again = [dict(r, status="duplicate", where="") for r in rows if r["scan_id"] not in stored]
    if not again:
        return changed
    stored_again = set(conn.execute(pg_insert(_scans).on_conflict_do_nothing().returning(_scans.c.scan_id),
                                    again).scalars())
    for r in again:
        if r["scan_id"] in stored_again:
            changed[r["scan_id"]] = {"status": "duplicate", "code": "duplicate",
                                     "message": "这本书刚才已经由别的手机扫过了，不用再扫。"}
        else:
            changed[r["scan_id"]] = {"status": "duplicate", "code": "scan_repeated",
                                     "message": "这次扫描已经记录过了。"}
    return changed


# ---------------------------------------------------------------- close

def close_stocktake(session: Session, actor: User, now: datetime, stocktake_id: int, ip: str = "") -> dict[str, Any]:
    """Close: the snapshot's copies not found that are still here, neither lent nor withdrawn
    meanwhile, become ``missing``. Nothing else changes and nothing is deleted."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"b_id": stocktake_id}).all()
    head = _head(session, stocktake_id, actor.id)
    if head["status"] != "open":
        raise rules.StocktakeClosed()
    point_id = head["point_id"]
    if not is_staff(actor.role) and not head["mine"]:
        raise Forbidden("只能结束您负责的阅读点的盘点。")
    not_found = select(_items.c.copy_id).where(_items.c.stocktake_id == stocktake_id, _items.c.found_at.is_(None))
    conn.execute(update(_copies).where(_copies.c.id.in_(not_found), _copies.c.current_point_id == point_id,
                                       _copies.c.status.in_(rules.BECOME_MISSING)).values(status=rules.MISSING))
    still_missing = select(_copies.c.id).where(_copies.c.status == rules.MISSING,
                                               _copies.c.current_point_id == point_id)
    marked = conn.execute(update(_items).where(_items.c.stocktake_id == stocktake_id, _items.c.found_at.is_(None),
                                               _items.c.copy_id.in_(still_missing))
                          .values(missing_at=now)).rowcount
    conn.execute(update(_stocktakes).where(_stocktakes.c.id == stocktake_id)
                 .values(status="closed", closed_at=now, closed_by_id=actor.id))
    _audit(session, actor, now, "stocktake.close", stocktake_id, point_id, ip, missing=marked)
    session.flush()
    return summary(session, stocktake_id)


