"""CSV and XLSX downloads of the month report: the same cells in both, each text cell escaped
so that a title or a name beginning with = + - @ cannot run as a formula (ASVS 1.2.10)."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response

from library_app.domain.reports import spreadsheet_safe
from library_app.domain.settings import LibrarySettings
from library_app.services.reports import MonthReport, month_rows
from library_app.services.xlsx import safe_row


def _filename(report: MonthReport, ext: str) -> str:
    point = f"-{report.point.code}" if report.point is not None else ""
    return f"monthly-report-{report.month}{point}.{ext}"


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def safe_rows(report: MonthReport, settings: LibrarySettings) -> list[list[Any]]:
    rows = month_rows(report, settings.org_name, ZoneInfo(settings.timezone))
    return [[spreadsheet_safe(cell) for cell in row] for row in rows]


def csv_bytes(report: MonthReport, settings: LibrarySettings) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(safe_rows(report, settings))
    # UTF-8 with a BOM: Excel on Chinese Windows then opens the Chinese text correctly.
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(report: MonthReport, settings: LibrarySettings) -> bytes:
    """The workbook, written as a stream (openpyxl's write-only mode: no cell objects kept)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"{report.month} 月度报告")
    ws.column_dimensions["A"].width = 28
    for col in "BCDEFG":
        ws.column_dimensions[col].width = 14
    bold = Font(bold=True)
    previous_blank = True
    rows = month_rows(report, settings.org_name, ZoneInfo(settings.timezone))
    for row in (safe_row(r) for r in rows):  # no control character, never a formula
        if row and previous_blank:  # the first row of each section is its header
            cells = []
            for value in row:
                cell = WriteOnlyCell(ws, value=value)
                cell.font = bold
                cells.append(cell)
            ws.append(cells)
        else:
            ws.append(row)
        previous_blank = not row
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_response(report: MonthReport, settings: LibrarySettings) -> Response:
    return _download(csv_bytes(report, settings), "text/csv; charset=utf-8", _filename(report, "csv"))


def xlsx_response(report: MonthReport, settings: LibrarySettings) -> Response:
    return _download(
        xlsx_bytes(report, settings),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _filename(report, "xlsx"),
    )
