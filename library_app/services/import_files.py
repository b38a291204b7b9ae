"""Reading an uploaded catalog file into rows: CSV (UTF-8, UTF-8 with BOM, GBK), XLSX (streamed,
its declared sizes checked before anything is unpacked) and MARC (ISO 2709 or MARCXML, MARC 21 or
CNMARC/UNIMARC). No database: ``catalog_import`` plans and applies what these return.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from library_app.domain import catalog as rules
from library_app.domain import marc
from library_app.domain.errors import RuleBroken
from library_app.domain.textfiles import BadCsvRow, csv_rows, decode_csv_bytes

MAX_ROWS = 20000


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


