"""Reading the text files people bring from Excel or WPS on Chinese Windows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

# UTF-8 with or without a BOM, else GBK (read as GB18030, its superset): what "CSV" means in China.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


def decode_csv_bytes(data: bytes) -> str | None:
    """The file's text, or None when it is in none of the encodings above."""
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


class BadCsvRow(list[str]):
    """A row the csv module could not read (a cell over its field limit, a stray quote): no
    cells, and ``message`` says why, in Chinese. The rows after it are read as usual."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


def csv_rows(text: str, delimiter: str = ",") -> Iterator[list[str]]:
    """The rows of a CSV text, one list of cells each; a row that cannot be read comes as a
    :class:`BadCsvRow` in its place, so the import reports it as that row's error.

    The csv module's field limit (131,072 characters) stays: no cell of a catalog or a loan log
    is that long.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                limit = csv.field_size_limit()
                yield BadCsvRow(f"有一个单元格超过 {limit:,} 个字符，无法读取这一行。")
            else:
                yield BadCsvRow("CSV 格式有误（引号不配对或有空字符），请在 Excel 中重新“另存为 CSV”。")
            continue
        yield row
