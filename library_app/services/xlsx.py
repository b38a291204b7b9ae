"""The one place where a value becomes an XLSX cell, for every spreadsheet the app writes
(catalog and copies, month reports, …).

- Characters XML 1.0 cannot hold (C0 controls but tab, newline, CR: openpyxl's
  ILLEGAL_CHARACTERS_RE) are removed: one ESC in a title made openpyxl raise
  IllegalCharacterError and the download answer 500 (issue 13, item 6).
- Then text beginning with = + - @ (or tab / CR) is escaped so it is never run as a formula
  (ASVS 1.2.10); removing first means "\\x1b=cmd" cannot become a formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from library_app.domain.catalog import spreadsheet_safe


def safe_cell(value: Any) -> Any:
    """A value openpyxl will write, as text when it is text, never as a formula."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return spreadsheet_safe(value)


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
