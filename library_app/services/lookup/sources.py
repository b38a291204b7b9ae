"""The lookup sources kept by the settings page (table lookup_sources), in their order.

Each change is in the audit log, without the password. A password left empty when a source is
edited keeps the one stored (it is never shown back, so the form cannot hold it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from library_app.domain.lookup import LookupSource, parse_source
from library_app.models import LookupSourceRow, User

from .. import audit
from ..errors import NotFound

COLUMNS = ("name", "kind", "host", "port", "database", "syntax", "encoding", "user", "password",
           "url", "enabled")


def list_rows(session: Session) -> list[LookupSourceRow]:
    return list(session.scalars(select(LookupSourceRow).order_by(LookupSourceRow.position,
                                                                 LookupSourceRow.id)))


def get_row(session: Session, source_id: int) -> LookupSourceRow:
    row = session.get(LookupSourceRow, source_id)
    if row is None:
        raise NotFound("找不到这个套录来源。")
    return row


def _apply(row: LookupSourceRow, source: LookupSource) -> None:
    for name in COLUMNS:
        setattr(row, name, getattr(source, name))


def _details(source: LookupSource) -> dict[str, Any]:
    data = source.public()
    return {k: v for k, v in data.items() if v not in ("", None)}


def add_source(session: Session, actor: User | None, now: datetime, data: dict[str, Any]) -> LookupSourceRow:
    source = parse_source(data)
    last = session.scalar(select(func.max(LookupSourceRow.position))) or 0
    row = LookupSourceRow(position=last + 1, updated_at=now)
    _apply(row, source)
    session.add(row)
    session.flush()
    audit.record(session, actor, now, "lookup_source.add", "lookup_source", row.id, **_details(source))
    return row


def update_source(session: Session, actor: User | None, now: datetime, row: LookupSourceRow,
                  data: dict[str, Any], clear_password: bool = False) -> LookupSourceRow:
    wanted = dict(data)
    if not wanted.get("password") and not clear_password:
        wanted["password"] = row.password
    source = parse_source(wanted)
    _apply(row, source)
    row.updated_at = now
    session.flush()
    audit.record(session, actor, now, "lookup_source.update", "lookup_source", row.id,
                 password_changed=bool(data.get("password")) or clear_password, **_details(source))
    return row


def delete_source(session: Session, actor: User | None, now: datetime, row: LookupSourceRow) -> None:
    audit.record(session, actor, now, "lookup_source.delete", "lookup_source", row.id, name=row.name)
    session.delete(row)
    session.flush()


def move_source(session: Session, actor: User | None, now: datetime, row: LookupSourceRow, step: int) -> None:
    """One place up (step -1) or down (+1) in the order the lookup lists the records."""
    rows = list_rows(session)
    index = next(i for i, r in enumerate(rows) if r.id == row.id)
    other = index + (1 if step > 0 else -1)
    if not 0 <= other < len(rows):
        return
    rows[index], rows[other] = rows[other], rows[index]
    for position, r in enumerate(rows, start=1):
        r.position = position
    session.flush()
    audit.record(session, actor, now, "lookup_source.move", "lookup_source", row.id,
                 order=[r.name for r in rows])
