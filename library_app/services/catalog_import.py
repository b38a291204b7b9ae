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
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from library_app.domain import catalog as rules
from library_app.domain import marc
from library_app.domain.codes import make_code
from library_app.domain.errors import RuleBroken
from library_app.domain.statuses import CopyStatus
from library_app.domain.textfiles import BadCsvRow, csv_rows, decode_csv_bytes
from library_app.models import Copy, Point, Title, User

from . import audit
from .catalog import _max_copy_number, search_keys
from .errors import Invalid

MAX_ROWS = 20000


class ImportRefused(RuleBroken):
    """Nothing was written: at least one row is wrong (all or nothing)."""

    code = "import_failed"
    status = 422

    def __init__(self, errors: list[tuple[int, str]], label: str = "行") -> None:
        first = errors[0]
        more = f"，另有 {len(errors) - 1} 处错误" if len(errors) > 1 else ""
        super().__init__(f"导入没有进行（什么都没有写入）：第 {first[0]} {label}：{first[1]}{more}。")
        self.errors = errors


# ------------------------------------------------------------------ reading files

def decode_text(data: bytes) -> str:
    """UTF-8 with or without a BOM, else GBK (as GB18030, its superset: Excel's 'CSV' in China)."""
    text = decode_csv_bytes(data)
    if text is None:
        raise rules.BadImportFile("文件编码无法识别，请在 Excel 中“另存为 CSV（逗号分隔）”或 UTF-8 CSV 后再上传。")
    return text


def file_kind(data: bytes, filename: str = "") -> str:
    name = (filename or "").lower()
    head = data[:64].lstrip()
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if name.endswith((".mrc", ".marc", ".iso", ".dat")) or re.match(rb"^\d{5}[a-z ]{3}", data[:10]):
        return "marc"
    if head.startswith(b"<?xml") or head.startswith(b"<collection") or head.startswith(b"<record") \
            or name.endswith(".xml"):
        return "marcxml"
    return "csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return str(value.year)
    return str(value)


MAX_COLUMNS = 64  # the template has 10; a header wider than this is read up to here
MAX_UNPACKED = 64 * 1024 * 1024  # the parts of an XLSX, unzipped (20,000 rows fit in a few MB)


def _check_xlsx_archive(data: bytes) -> None:
    """Refuse on what the zip directory declares, before any XML is parsed: the unpacked size
    (a zip bomb) and a DTD in any part (no Excel or WPS file has one)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
            if sum(p.file_size for p in parts) > MAX_UNPACKED:
                raise rules.BadImportFile(
                    f"这个 Excel 文件解压后超过 {MAX_UNPACKED // (1024 * 1024)} MB，请删除多余的工作表、"
                    "行和格式，或另存为 CSV 后再上传。")
            for part in parts:
                if part.filename.endswith((".xml", ".rels", ".vml")):
                    with archive.open(part) as fh:
                        if b"<!DOCTYPE" in fh.read(64 * 1024):
                            raise rules.BadImportFile("这个 Excel 文件含有 DTD 声明，不像是 Excel 或 WPS "
                                                      "保存的文件，请另存为 CSV 后再上传。")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise rules.BadImportFile("这个 Excel 文件无法读取，请另存为 CSV 后再上传。") from exc


def _known_width(header: Sequence[str]) -> int:
    """How many columns to read: up to the last one whose header the import knows."""
    try:
        fields = rules.header_fields(header)
    except rules.BadImportFile:
        return len(header)  # rows_from_table will say what is wrong with the header
    known = [i for i, name in enumerate(fields) if name]
    return max(known) + 1 if known else len(header)


def read_xlsx(data: bytes) -> list[list[str]]:
    """The first sheet of an XLSX as text, streamed (openpyxl read-only): the declared size is
    checked first, and rows are read only as wide as the columns the import knows, so a blank
    cell at XFD1048576 costs nothing (it used to pad every row to 16,384 columns)."""
    from openpyxl import load_workbook

    _check_xlsx_archive(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the same to the user
        raise rules.BadImportFile("这个 Excel 文件无法读取，请另存为 CSV 后再上传。") from exc
    too_many = rules.BadImportFile(
        f"一次最多导入 {MAX_ROWS} 行：这个表格有更多的行（也可能是很远处有空白但带格式的单元格），"
        "请删除多余的行或分成几个文件。")
    try:
        if not wb.worksheets:
            raise rules.BadImportFile("这个 Excel 文件里没有工作表。")
        sheet = wb.worksheets[0]
        declared = sheet.max_row  # from <dimension>, None when the file has none
        if declared is not None and declared > MAX_ROWS + 1:
            raise too_many
        sheet.reset_dimensions()  # a <dimension> smaller than the data must not cut rows off
        header_cells = next(sheet.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS,
                                            values_only=True), ())
        header = [_cell(v) for v in header_cells]
        while header and not header[-1]:
            header.pop()
        table = [header]
        width = max(1, _known_width(header))
        for number, row in enumerate(sheet.iter_rows(min_row=2, max_col=width, values_only=True),
                                     start=2):
            if number > MAX_ROWS + 1:
                raise too_many
            table.append([_cell(v) for v in row])
        return table
    except rules.BadImportFile:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken sheet part (bad XML, an entity, …)
        raise rules.BadImportFile("这个 Excel 文件的内容无法读取，请另存为 CSV 后再上传。") from exc
    finally:
        wb.close()


def read_table(data: bytes, kind: str) -> list[list[str]]:
    """The rows of a CSV or the first sheet of an XLSX, as text."""
    if kind == "xlsx":
        return read_xlsx(data)
    text = decode_text(data)
    if "\x00" in text:
        raise rules.BadImportFile("这不是 CSV 文本文件，请用模板另存为 CSV 后再上传。")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    table: list[list[str]] = []
    for number, row in enumerate(csv_rows(text, delimiter), start=1):
        if isinstance(row, BadCsvRow):
            raise rules.BadImportFile(f"第 {number} 行：{row.message}")
        table.append(row)
        if len(table) > MAX_ROWS + 1:
            raise rules.BadImportFile(f"一次最多导入 {MAX_ROWS} 行，请分成几个文件。")
    return table


def rows_from_table(table: Sequence[Sequence[str]]) -> list[rules.ImportRow]:
    """Data rows keyed by field; ``row`` is the spreadsheet row number (the header is row 1)."""
    if not table:
        raise rules.BadImportFile("文件是空的。")
    fields = rules.header_fields(table[0])
    rows: list[rules.ImportRow] = []
    for index, raw in enumerate(table[1:], start=2):
        if rules.is_blank_row(raw):
            continue
        values: dict[str, str] = {}
        for name, value in zip(fields, raw, strict=False):
            if name:
                values[name] = value
        rows.append(rules.ImportRow(row=index, values=values))
        if len(rows) > MAX_ROWS:
            raise rules.BadImportFile(f"一次最多导入 {MAX_ROWS} 行，请分成几个文件。")
    if not rows:
        raise rules.BadImportFile("文件里只有表头，没有数据行。")
    return rows


# ------------------------------------------------------------------ MARC

MARC_SYNTAXES = ("", "marc21", "unimarc")


def _isbn_as_written(values: list[str]) -> str:
    """The first valid ISBN, else the first one written (so the row reports its check digit)."""
    from library_app.domain.isbn import normalize_isbn

    first = ""
    for candidate in values:
        token = re.split(r"[\s(（]", candidate.strip(), maxsplit=1)[0]
        first = first or token
        try:
            if normalize_isbn(token):
                return token
        except RuleBroken:
            continue
    return first


def _marc_values(record: Any, syntax: str = "") -> dict[str, str]:
    """Title fields from a MARC 21 or CNMARC/UNIMARC record (``syntax`` empty: detected), read by
    the same mappers as the ISBN lookup (domain/marc.py); the 中图法 class suggests the category."""
    chosen = syntax or marc.detect_syntax(record)
    book = marc.map_record(record, "import", chosen)
    tag = "010" if chosen == "unimarc" else "020"
    isbns = [v for f in record.get_fields(tag) for v in f.get_subfields("a") if v and v.strip()]
    return {
        "title": book.title,
        "author": book.author.split("，")[0] if book.author else "",
        "isbn": _isbn_as_written(isbns),
        "publisher": book.publisher,
        "year": str(book.year) if book.year else "",
        "category": book.category,
    }


def rows_from_marc(data: bytes, kind: str, copies: int = 0, point: str = "",
                   syntax: str = "") -> list[rules.ImportRow]:
    """One row per MARC record (``row`` is the record's number, from 1). ``syntax`` ``marc21`` or
    ``unimarc`` overrides the detection (a record with 200 and no 245 is UNIMARC); the character
    set of an ISO 2709 file is UTF-8 when it decodes as such, else GB18030 for UNIMARC (Chinese
    systems) and MARC-8 for MARC 21."""
    if syntax not in MARC_SYNTAXES:
        raise rules.BadImportFile("MARC 格式只能是 marc21 或 unimarc（CNMARC）。")
    records: list[Any] = []
    try:
        if kind == "marcxml":
            records = list(marc.read_marcxml(data))
        else:
            records = marc.read_records(data, marc.guess_encoding(data, syntax))
    except Exception as exc:  # noqa: BLE001 - a broken file, whatever the parser says
        raise rules.BadImportFile(
            "MARC 文件无法读取：请确认是 MARC 21 或 CNMARC/UNIMARC（.mrc/.iso）或 MARCXML 文件。") from exc
    if not records:
        raise rules.BadImportFile("MARC 文件里没有记录。")
    if len(records) > MAX_ROWS:
        raise rules.BadImportFile(f"一次最多导入 {MAX_ROWS} 条记录，请分成几个文件。")
    rows: list[rules.ImportRow] = []
    for number, record in enumerate(records, start=1):
        if record is None:
            row = rules.ImportRow(row=number, values={})
            row.errors = ["这条记录已损坏，无法读取。"]
            rows.append(row)
            continue
        values = _marc_values(record, syntax)
        values["copies"] = str(copies)
        values["point"] = point
        rows.append(rules.ImportRow(row=number, values=values))
    return rows


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
