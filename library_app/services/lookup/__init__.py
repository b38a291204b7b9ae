"""Cataloguing from an ISBN (套录): the local catalog first, then every configured source at once.

``lookup_isbn`` asks the Z39.50 servers and web sources in parallel threads and returns when all
have answered or the deadline passes, whichever is first: a source that accepts the connection and
never answers is reported as ``timeout`` and left behind (its own socket timeout ends the thread
soon after). The records come back in the configured order of their sources.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from library_app.domain import marc
from library_app.domain.clc import category_for
from library_app.domain.errors import InvalidIsbn
from library_app.domain.isbn import normalize_isbn
from library_app.domain.lookup import (
    DEFAULT_TIMEOUT,
    LOCAL_NAME,
    InvalidSource,
    LookupSource,
    parse_source,
    parse_sources,
    parse_timeout,
    search_forms,
)
from library_app.models import LookupSourceRow, Title, User

from . import openlibrary, z3950

MAX_RECORDS_PER_SOURCE = 5
# What "测试连接" searches for: a Chinese picture book (CNMARC sources) and an American one
SAMPLE_CNMARC = "9787533241780"  # 猜猜我有多爱你, 明天出版社
SAMPLE_MARC21 = "9780064430173"  # Goodnight Moon, HarperCollins


@dataclass
class SourceOutcome:
    name: str
    status: str  # found, not_found, timeout, error
    ms: int
    message: str = ""
    records: list[marc.BookRecord] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status, "ms": self.ms}
        if self.message:
            data["message"] = self.message
        return data


@dataclass
class LookupResult:
    isbn: str
    records: list[marc.BookRecord]
    sources: list[SourceOutcome]
    local_title_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        records = []
        for r in self.records:
            data = r.as_json()
            if r.syntax == "local" and self.local_title_id is not None:
                data["title_id"] = self.local_title_id
            records.append(data)
        return {"isbn": self.isbn, "records": records, "sources": [s.as_json() for s in self.sources]}


# ------------------------------------------------------------------ asking one source

def ask_source(source: LookupSource, isbn13: str, deadline: float,
               clock: Callable[[], float] = time.monotonic) -> tuple[str, list[marc.BookRecord], str]:
    """(status, records, message) from one source; may block until about ``deadline``."""
    remaining = max(0.05, deadline - clock())
    if source.kind == "openlibrary":
        try:
            record = openlibrary.fetch(source.url, isbn13, source.name, deadline, clock)
        except openlibrary.SourceTimeout:
            return "timeout", [], "没有在限定时间内回应"
        except openlibrary.SourceError as exc:
            return "error", [], str(exc)
        return ("found", [record], "") if record else ("not_found", [], "")
    target = z3950.Target(host=source.host, port=source.port, database=source.database,
                          syntax=source.syntax, user=source.user, password=source.password)
    try:
        raw = z3950.search(target, z3950.isbn_query(search_forms(isbn13)), remaining,
                           limit=MAX_RECORDS_PER_SOURCE)
    except z3950.Z3950Error as exc:
        return ("timeout" if exc.timeout else "error"), [], str(exc)
    records: list[marc.BookRecord] = []
    for data in raw:
        for rec in marc.read_records(data, source.encoding):
            if rec is not None:
                records.append(marc.map_record(rec, source.name, source.syntax))
    records = [r for r in records if r.title]
    return ("found", records, "") if records else ("not_found", [], "")


def ask_sources(sources: list[LookupSource], isbn13: str, start: float, deadline: float,
                clock: Callable[[], float] = time.monotonic) -> list[SourceOutcome]:
    """Every source asked at once, one thread each; back when all have answered or at
    ``deadline``, whichever is first (the ones still out are ``timeout``), in the given order."""
    results: dict[int, SourceOutcome] = {}
    lock = threading.Lock()
    all_done = threading.Event()
    closed = False

    def run(index: int, source: LookupSource) -> None:
        began = clock()
        try:
            status, records, message = ask_source(source, isbn13, deadline, clock)
        except Exception as exc:  # noqa: BLE001 - one broken source never breaks the lookup
            status, records, message = "error", [], f"{type(exc).__name__}: {exc}"
        ms = int((clock() - began) * 1000)
        with lock:
            if closed:  # answered after the lookup was given back: already reported as timeout
                return
            results[index] = SourceOutcome(source.name, status, ms, message, records)
            if len(results) == len(sources):
                all_done.set()

    for index, source in enumerate(sources):
        threading.Thread(target=run, args=(index, source), daemon=True,
                         name=f"isbn-lookup-{index}").start()
    if sources:
        all_done.wait(max(0.0, deadline - clock()))
    with lock:
        closed = True
        finished = dict(results)
    waited = int((clock() - start) * 1000)
    return [finished.get(i) or SourceOutcome(s.name, "timeout", waited, "没有在限定时间内回应")
            for i, s in enumerate(sources)]


def _local_record(title: Title) -> marc.BookRecord:
    return marc.BookRecord(
        source=LOCAL_NAME, title=title.title, author=title.author, publisher=title.publisher,
        year=title.year, pages=title.pages, price=title.price, clc=title.clc, summary=title.summary,
        isbn=title.isbn or "", category=title.category or category_for(title.clc), syntax="local",
    )


# ------------------------------------------------------------------ the chain

def lookup_isbn(
    session: Session, actor: User | None, now: datetime, raw_isbn: str,
    sources: list[LookupSource], timeout: float = DEFAULT_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
) -> LookupResult:
    """Every record found for an ISBN, and each source's outcome, within ``timeout`` seconds."""
    isbn13 = normalize_isbn(raw_isbn)
    if not isbn13:
        raise InvalidIsbn(raw=raw_isbn)
    start = clock()
    deadline = start + timeout
    outcomes: list[SourceOutcome] = []
    local = session.scalar(select(Title).where(Title.isbn == isbn13).order_by(Title.id).limit(1))
    local_ms = int((clock() - start) * 1000)
    outcomes.append(SourceOutcome(LOCAL_NAME, "found" if local else "not_found", local_ms,
                                  records=[_local_record(local)] if local else []))

    outcomes.extend(ask_sources([s for s in sources if s.enabled], isbn13, start, deadline, clock))
    records = [r for o in outcomes for r in o.records]
    return LookupResult(isbn=isbn13, records=records, sources=outcomes,
                        local_title_id=local.id if local else None)


# ------------------------------------------------------------------ where the sources come from

def configured_sources(session: Session, config: Mapping[str, Any] | None) -> list[LookupSource]:
    """The settings page's sources in their order; when it has none, LIBRARY_LOOKUP_SOURCES."""
    rows = list(session.scalars(select(LookupSourceRow).order_by(LookupSourceRow.position,
                                                                 LookupSourceRow.id)))
    if rows:
        return [source_of(r) for r in rows]
    value = (config or {}).get("LOOKUP_SOURCES")
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidSource("LIBRARY_LOOKUP_SOURCES 不是有效的 JSON。") from exc
    return parse_sources(value)


def configured_timeout(config: Mapping[str, Any] | None) -> float:
    return parse_timeout((config or {}).get("LOOKUP_TIMEOUT"))


def source_of(row: LookupSourceRow) -> LookupSource:
    return parse_source({
        "name": row.name, "type": row.kind, "host": row.host, "port": row.port,
        "database": row.database, "syntax": row.syntax, "encoding": row.encoding,
        "user": row.user, "password": row.password, "url": row.url, "enabled": row.enabled,
    })


def test_source(source: LookupSource, timeout: float,
                clock: Callable[[], float] = time.monotonic) -> tuple[bool, int, str]:
    """The settings page's "测试连接": (reachable, ms, what happened, in Chinese)."""
    began = clock()
    sample = SAMPLE_CNMARC if source.syntax == "unimarc" and source.kind == "z3950" else SAMPLE_MARC21
    [outcome] = ask_sources([source], sample, began, began + timeout, clock)
    ms = int((clock() - began) * 1000)
    if outcome.status in ("found", "not_found"):
        return True, ms, f"连接成功（{ms} 毫秒）" + ("，示例查询找到了记录。" if outcome.records else "。")
    if outcome.status == "timeout":
        return False, ms, f"连接超时：{timeout:g} 秒内没有回应。"
    return False, ms, f"连接失败：{outcome.message}"
