"""Reading the text files people bring from Excel or WPS on Chinese Windows."""

from __future__ import annotations

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
