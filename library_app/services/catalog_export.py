"""Catalog and copies as CSV (UTF-8 with BOM, for Excel) and XLSX; no formula can sneak in."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from library_app.domain.catalog import SOURCE_NAMES, STATUS_NAMES, spreadsheet_safe
from library_app.domain.isbn import format_isbn
from library_app.domain.statuses import CopyStatus
from library_app.models import Copy, Point, Title

from .xlsx import safe_row

TITLE_HEADER = ["ID", "书名", "作者", "ISBN", "出版社", "出版年", "分类", "年龄段", "备注",
                "馆藏册数", "在馆册数", "拼音"]
COPY_HEADER = ["编码", "书名", "ISBN", "状态", "来源", "所属阅读点", "当前所在阅读点", "入藏时间", "备注"]


def title_rows(session: Session, for_csv: bool) -> Iterator[list[Any]]:
    counts = (
        select(
            Copy.title_id.label("tid"),
            func.count(Copy.id).label("total"),
            func.sum(case((Copy.status == CopyStatus.AVAILABLE, 1), else_=0)).label("avail"),
        )
        .where(Copy.status != CopyStatus.WITHDRAWN)
        .group_by(Copy.title_id)
        .subquery()
    )
    q = (
        select(Title, counts.c.total, counts.c.avail)
        .outerjoin(counts, counts.c.tid == Title.id)
        .order_by(Title.id)
    )
    for t, total, avail in session.execute(q):
        isbn = (format_isbn(t.isbn) if for_csv else t.isbn) or ""
        yield [t.id, t.title, t.author, isbn, t.publisher, t.year if t.year is not None else "",
               t.category, t.age_band, t.notes, int(total or 0), int(avail or 0), t.search_pinyin]


def copy_rows(session: Session, tz: ZoneInfo, for_csv: bool) -> Iterator[list[Any]]:
    home = aliased(Point)
    here = aliased(Point)
    q = (
        select(Copy, Title.title, Title.isbn, home.code, home.name, here.code, here.name)
        .join(Title, Title.id == Copy.title_id)
        .join(home, home.id == Copy.home_point_id)
        .join(here, here.id == Copy.current_point_id)
        .order_by(Copy.code)
    )
    for c, title, isbn, hcode, hname, ccode, cname in session.execute(q):
        isbn_text = (format_isbn(isbn) if for_csv else isbn) or ""
        yield [c.code, title, isbn_text, STATUS_NAMES.get(c.status, c.status),
               SOURCE_NAMES.get(c.source, c.source), f"{hcode} {hname}", f"{ccode} {cname}",
               c.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), c.notes]


def to_csv(header: Sequence[str], rows: Iterator[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(sheet_title: str, header: Sequence[str], rows: Iterator[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title)
    ws.append(safe_row(header))
    for row in rows:
        # Strings are always written as strings; no control character, never a formula.
        ws.append(safe_row(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_titles(session: Session, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(TITLE_HEADER, title_rows(session, True))
    return to_xlsx("书目", TITLE_HEADER, title_rows(session, False))


def export_copies(session: Session, fmt: str, tz: ZoneInfo) -> bytes:
    if fmt == "csv":
        return to_csv(COPY_HEADER, copy_rows(session, tz, True))
    return to_xlsx("馆藏", COPY_HEADER, copy_rows(session, tz, False))


def export_name(what: str, fmt: str, now: datetime, tz: ZoneInfo) -> str:
    return f"{what}-{now.astimezone(tz).strftime('%Y%m%d-%H%M')}.{fmt}"
