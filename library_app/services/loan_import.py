"""Import past loans from spreadsheet logs (api.md: POST /api/v1/import/loans).

Columns: ``time`` (local time, ``YYYY-MM-DD HH:MM``), ``point``, and where known ``card``,
``copy``, ``title`` (Chinese headers 时间/阅读点/借阅证/图书编码/书名 are accepted too). Each row
becomes one loan, closed at its own time (``source="import"``), counted in the local month of
its time. All or nothing, unless ``partial``: then the good rows go in and the bad ones are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from library_app.domain.codes import parse_code
from library_app.domain.dates import BadDate, parse_local_time
from library_app.domain.errors import InvalidCode
from library_app.domain.reports import local_day
from library_app.domain.settings import LibrarySettings
from library_app.domain.textfiles import BadCsvRow, csv_rows, decode_csv_bytes
from library_app.models import Card, Copy, Loan, Point, Title, User

from . import audit
from .errors import Invalid

MAX_ROWS = 100_000
HEADERS = {
    "time": "time", "时间": "time", "借出时间": "time", "日期时间": "time",
    "point": "point", "阅读点": "point", "点": "point",
    "card": "card", "借阅证": "card", "卡号": "card",
    "copy": "copy", "图书编码": "copy", "馆藏": "copy", "条码": "copy",
    "title": "title", "书名": "title", "书目": "title",
}


class ImportRefused(Invalid):
    code = "invalid_import"
    message = "导入文件无效。"


@dataclass
class ImportResult:
    created: int = 0
    # created rows whose title is not in the catalog: kept with the title as written
    unmatched: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"created": self.created, "unmatched": self.unmatched, "errors": self.errors}


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) or GBK, as Excel and WPS save them on Chinese Windows."""
    if not data.strip():
        raise ImportRefused("文件是空的。")
    if b"\x00" in data[:4096]:
        raise ImportRefused("这不是 CSV 文本文件（请在 Excel 中“另存为 CSV”）。")
    text = decode_csv_bytes(data)
    if text is None:
        raise ImportRefused("无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV。")
    return text


def import_loans(
    session: Session, actor: User | None, now: datetime, data: bytes, settings: LibrarySettings,
    partial: bool = False,
) -> ImportResult:
    """Read the CSV and add one closed loan per good row (nothing at all if a row is bad and
    ``partial`` is false). Returns how many were created and the errors per row."""
    tz = ZoneInfo(settings.timezone)
    rows, unreadable = _read_rows(data)
    points = {p.code.upper(): p for p in session.scalars(select(Point))}
    names = {p.name: p for p in points.values()}
    cards, copies, titles = _named_rows(session, rows)

    result = ImportResult()
    values: list[dict[str, Any]] = []
    for number, row in rows:
        try:
            values.append(_row_values(row, tz, now, points, names, cards, copies, titles))
        except ValueError as exc:
            result.errors.append({"row": number, "message": str(exc)})
    if unreadable:
        result.errors = sorted(result.errors + unreadable, key=lambda e: e["row"])
    if result.errors and not partial:
        return result
    if values:
        session.execute(insert(Loan), values)
        session.flush()
    result.created = len(values)
    result.unmatched = sum(1 for v in values if v["title_text"] is not None)
    audit.record(session, actor, now, "report.import_loans", "loans", "", created=result.created,
                 unmatched=result.unmatched, errors=len(result.errors))
    return result


Row = tuple[int, dict[str, str]]  # (line number in the file, column → cell)


def _read_rows(data: bytes) -> tuple[list[Row], list[dict[str, Any]]]:
    """The file's data rows by column name, and the lines that could not be read; refuses a
    file without the needed columns, without rows, or with too many."""
    reader = csv_rows(decode_csv(data))
    header = next(reader, None)
    if header is None:  # pragma: no cover - decode_csv refuses empty files
        raise ImportRefused("文件是空的。")
    if isinstance(header, BadCsvRow):
        raise ImportRefused(f"第 1 行（列名）：{header.message}")
    columns = [HEADERS.get(h.strip().lower(), HEADERS.get(h.strip(), "")) for h in header]
    if "time" not in columns or "point" not in columns:
        raise ImportRefused("第一行需要列名，至少包括 time（时间）和 point（阅读点）。")
    rows: list[Row] = []
    unreadable: list[dict[str, Any]] = []
    for number, cells in enumerate(reader, start=2):
        if isinstance(cells, BadCsvRow):
            unreadable.append({"row": number, "message": cells.message})
            continue
        if not any(c.strip() for c in cells):
            continue
        rows.append((number, {col: (cells[i].strip() if i < len(cells) else "")
                              for i, col in enumerate(columns) if col}))
        if len(rows) > MAX_ROWS:
            raise ImportRefused(f"一次最多导入 {MAX_ROWS} 行，请分开上传。")
    if not rows and not unreadable:
        raise ImportRefused("文件里没有数据行。")
    return rows, unreadable


def _named_rows(session: Session, rows: list[Row]) -> tuple[dict[str, Card], dict[str, Copy], dict[str, int]]:
    """The cards, copies and titles the rows name, each read in one query (titles: the first of
    a name)."""
    card_codes: set[str] = set()
    copy_codes: set[str] = set()
    title_names: set[str] = set()
    for _n, row in rows:
        for key, bucket in (("card", card_codes), ("copy", copy_codes)):
            if row.get(key):
                try:
                    bucket.add(parse_code(row[key], expect=key).code)  # type: ignore[arg-type]
                except InvalidCode:
                    pass
        if row.get("title"):
            title_names.add(row["title"])
    cards = {c.code: c for c in session.scalars(select(Card).where(Card.code.in_(card_codes)))} \
        if card_codes else {}
    copies = {c.code: c for c in session.scalars(select(Copy).where(Copy.code.in_(copy_codes)))} \
        if copy_codes else {}
    titles: dict[str, int] = {}
    if title_names:
        for tid, name in session.execute(select(Title.id, Title.title).where(
                Title.title.in_(title_names)).order_by(Title.id)):
            titles.setdefault(name, tid)
    return cards, copies, titles


def _row_values(
    row: dict[str, str], tz: ZoneInfo, now: datetime, points: dict[str, Point],
    names: dict[str, Point], cards: dict[str, Card], copies: dict[str, Copy], titles: dict[str, int],
) -> dict[str, Any]:
    if not row.get("time"):
        raise ValueError("缺少借出时间（time）。")
    try:
        at = parse_local_time(row["time"], tz)
    except BadDate as exc:
        raise ValueError(exc.message) from None
    if at > now:
        raise ValueError(f"时间“{row['time']}”还没有到，不能导入将来的借阅。")
    raw_point = row.get("point", "")
    point = points.get(raw_point.upper()) or names.get(raw_point)
    if point is None:
        raise ValueError(f"没有阅读点“{raw_point}”（请填写编号，如 P01）。" if raw_point else "缺少阅读点（point）。")
    values: dict[str, Any] = {
        "point_id": point.id, "lent_at": at, "lent_day": local_day(at, tz), "returned_at": at, "return_point_id": point.id,
        "return_kind": "import", "source": "import", "renewals": 0,
        "copy_id": None, "title_id": None, "title_text": None, "borrower_id": None, "card_id": None,
    }
    if row.get("card"):
        try:
            code = parse_code(row["card"], expect="card").code
        except InvalidCode as exc:
            raise ValueError(f"借阅证“{row['card']}”：{exc.message}") from None
        card = cards.get(code)
        if card is None:
            raise ValueError(f"找不到借阅证 {code}。")
        values["card_id"], values["borrower_id"] = card.id, card.borrower_id
    if row.get("copy"):
        try:
            code = parse_code(row["copy"], expect="copy").code
        except InvalidCode as exc:
            raise ValueError(f"图书编码“{row['copy']}”：{exc.message}") from None
        copy = copies.get(code)
        if copy is None:
            raise ValueError(f"找不到图书 {code}。")
        values["copy_id"], values["title_id"] = copy.id, copy.title_id
    if row.get("title") and values["title_id"] is None:
        # A title not in the catalog (a log from before the system) still counts as a loan,
        # with its title as written (api.md "Loan-log import (change)").
        title_id = titles.get(row["title"])
        if title_id is None:
            values["title_text"] = row["title"][:300]
        values["title_id"] = title_id
    return values
