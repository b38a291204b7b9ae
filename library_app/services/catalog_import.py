"""Catalog import: CSV (UTF-8, UTF-8 with BOM, GBK), XLSX and MARC (ISO 2709 or MARCXML, in
MARC 21 or CNMARC/UNIMARC, detected or given), checked row by row before anything is written, all or nothing.

The web pages show a preview first: the uploaded file waits in the instance folder under a random
token (tied to the user who uploaded it) until the librarian confirms or it expires.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from library_app.domain import catalog as rules
from library_app.domain.codes import make_code
from library_app.domain.errors import RuleBroken
from library_app.domain.statuses import CopyStatus
from library_app.models import Copy, Point, Title, User

from . import audit
from .catalog import _max_copy_number, search_keys
from .errors import Invalid
from .import_files import (
    file_kind,
    read_table,
    rows_from_marc,
    rows_from_table,
)


class ImportRefused(RuleBroken):
    """Nothing was written: at least one row is wrong (all or nothing)."""

    code = "import_failed"
    status = 422

    def __init__(self, errors: list[tuple[int, str]], label: str = "行") -> None:
        first = errors[0]
        more = f"，另有 {len(errors) - 1} 处错误" if len(errors) > 1 else ""
        super().__init__(f"导入没有进行（什么都没有写入）：第 {first[0]} {label}：{first[1]}{more}。")
        self.errors = errors


# ------------------------------------------------------------------ plan and apply

@dataclass
class ImportPlan:
    kind: str
    rows: list[rules.ImportRow]
    label: str = "行"  # "行" for spreadsheets, "条记录" for MARC

    @property
    def errors(self) -> list[tuple[int, str]]:
        return [(r.row, "；".join(r.errors)) for r in self.rows if r.errors]

    @property
    def good_rows(self) -> list[rules.ImportRow]:
        return [r for r in self.rows if not r.errors]

    @property
    def new_titles(self) -> int:
        return sum(1 for r in self.good_rows if r.existing_title_id is None and r.same_as_row is None)

    @property
    def new_copies(self) -> int:
        return sum(r.copies for r in self.good_rows)


@dataclass
class ImportResult:
    created: int = 0
    copies_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    first_code: str = ""
    last_code: str = ""


def _isbn_hint(value: str) -> str | None:
    if re.fullmatch(r"\d(\.\d+)?E\+?\d+", (value or "").strip(), re.IGNORECASE):
        return ("ISBN 被 Excel 显示成了科学计数法（" + value.strip() + "），数字已经丢失："
                "请把 ISBN 列设为“文本”格式、重新填写后再保存。")
    return None


def plan_import(session: Session, kind: str, rows: list[rules.ImportRow], now: datetime) -> ImportPlan:
    """Check every row and decide what each will do; writes nothing."""
    points = {p.code for p in session.scalars(select(Point).where(Point.active.is_(True)))}
    for row in rows:
        if row.errors:  # unreadable MARC record
            continue
        hint = _isbn_hint(row.values.get("isbn", ""))
        rules.check_import_row(row, now.year, points)
        if hint:
            row.errors = [hint if "ISBN" in e else e for e in row.errors]
    isbns = {r.fields.isbn for r in rows if r.fields and r.fields.isbn and not r.errors}
    existing: dict[str, int] = {}
    if isbns:
        for isbn_list in _chunks(sorted(isbns), 500):
            for tid, isbn in session.execute(select(Title.id, Title.isbn).where(Title.isbn.in_(isbn_list))):
                if isbn:
                    existing.setdefault(isbn, tid)
    first_row: dict[str, int] = {}
    for row in rows:
        if row.errors or row.fields is None or not row.fields.isbn:
            continue
        isbn = row.fields.isbn
        if isbn in existing:
            row.existing_title_id = existing[isbn]
        elif isbn in first_row:
            row.same_as_row = first_row[isbn]
        else:
            first_row[isbn] = row.row
    label = "条记录" if kind in ("marc", "marcxml") else "行"
    return ImportPlan(kind=kind, rows=rows, label=label)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def apply_import(
    session: Session, actor: User | None, now: datetime, plan: ImportPlan, partial: bool = False,
) -> ImportResult:
    """Write the plan: all rows, or nothing when any row is wrong (unless ``partial``)."""
    errors = plan.errors
    if errors and not partial:
        raise ImportRefused(errors, plan.label)
    good = plan.good_rows
    if not good:
        raise ImportRefused(errors or [(0, "没有可导入的行")], plan.label)
    point_ids = {p.code: p.id for p in session.scalars(select(Point))}
    for attempt in range(5):
        try:
            with session.begin_nested():
                result = _write(session, now, good, point_ids)
            break
        except IntegrityError:  # another writer took the same copy codes: try again
            if attempt == 4:
                raise
    result.errors = errors
    audit.record(session, actor, now, "title.import", "import", plan.kind, created=result.created,
                 copies=result.copies_created, skipped=len(errors))
    return result


def _write(session: Session, now: datetime, rows: list[rules.ImportRow],
           point_ids: dict[str, int]) -> ImportResult:
    result = ImportResult()
    by_row: dict[int, Title] = {}
    for row in rows:
        assert row.fields is not None
        if row.existing_title_id is not None:
            title = session.get(Title, row.existing_title_id)
            assert title is not None
        elif row.same_as_row is not None:
            title = by_row[row.same_as_row]
        else:
            f = row.fields
            pinyin, initials = search_keys(f.title)
            title = Title(title=f.title, isbn=f.isbn, author=f.author, publisher=f.publisher,
                          year=f.year, category=f.category, age_band=f.age_band, notes=f.notes,
                          search_pinyin=pinyin, search_initials=initials, created_at=now,
                          updated_at=now)
            session.add(title)
            result.created += 1
        by_row[row.row] = title
    session.flush()
    number = _max_copy_number(session)
    copies: list[Copy] = []
    for row in rows:
        if not row.copies:
            continue
        pid = point_ids[row.point]
        for _ in range(row.copies):
            number += 1
            copies.append(Copy(code=make_code("copy", number), title_id=by_row[row.row].id,
                               home_point_id=pid, current_point_id=pid, status=CopyStatus.AVAILABLE,
                               source="purchase", created_at=now))
    session.add_all(copies)
    session.flush()
    result.copies_created = len(copies)
    if copies:
        result.first_code, result.last_code = copies[0].code, copies[-1].code
    return result


def read_upload(session: Session, data: bytes, filename: str, now: datetime, copies: int = 0,
                point: str = "", marc_syntax: str = "") -> ImportPlan:
    """Read any supported file into a checked plan (nothing written)."""
    if not data:
        raise rules.BadImportFile("没有收到文件，或文件是空的。")
    kind = file_kind(data, filename)
    if kind in ("marc", "marcxml"):
        rows = rows_from_marc(data, kind, copies=copies, point=point, syntax=marc_syntax)
    else:
        rows = rows_from_table(read_table(data, kind))
    return plan_import(session, kind, rows, now)


def import_titles(
    session: Session, actor: User | None, now: datetime, data: bytes, filename: str = "",
    partial: bool = False, copies: int = 0, point: str = "", marc_syntax: str = "",
) -> ImportResult:
    """Read, check and write in one go (API and command line)."""
    plan = read_upload(session, data, filename, now, copies=copies, point=point,
                       marc_syntax=marc_syntax)
    return apply_import(session, actor, now, plan, partial=partial)


def template_csv() -> bytes:
    """The import template: the header row, UTF-8 with a BOM so Excel shows the Chinese."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([c[0] for c in rules.TEMPLATE_COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# ------------------------------------------------------------------ staging for the preview

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
STAGE_HOURS = 24


def _stage_dir(instance_path: str) -> Path:
    path = Path(instance_path) / "catalog-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stage_upload(instance_path: str, user_id: int, data: bytes, filename: str,
                 options: dict[str, Any]) -> str:
    """Keep an uploaded file until the preview is confirmed; returns its token."""
    folder = _stage_dir(instance_path)
    cutoff = time.time() - STAGE_HOURS * 3600
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    token = secrets.token_urlsafe(24)
    (folder / f"{token}.bin").write_bytes(data)
    meta = {"user_id": user_id, "filename": filename[:200], "options": options}
    (folder / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return token


def load_staged(instance_path: str, token: str, user_id: int) -> tuple[bytes, dict[str, Any]]:
    if not _TOKEN_RE.match(token or ""):
        raise Invalid("导入已过期，请重新上传文件。")
    folder = _stage_dir(instance_path)
    try:
        meta = json.loads((folder / f"{token}.json").read_text(encoding="utf-8"))
        data = (folder / f"{token}.bin").read_bytes()
    except (OSError, ValueError) as exc:
        raise Invalid("导入已过期或已完成，请重新上传文件。") from exc
    if meta.get("user_id") != user_id:
        raise Invalid("导入已过期，请重新上传文件。")
    return data, meta


def discard_staged(instance_path: str, token: str) -> None:
    if not _TOKEN_RE.match(token or ""):
        return
    folder = _stage_dir(instance_path)
    for suffix in (".bin", ".json"):
        try:
            (folder / f"{token}{suffix}").unlink()
        except OSError:
            pass
