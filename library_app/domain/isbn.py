"""ISBN: checked with python-stdnum and stored as ISBN-13 digits.

Many donated books have no ISBN, so an empty value is allowed (None). Anything typed, pasted or
scanned is tolerated the way people write it: hyphens, spaces, full-width digits, an "ISBN"
prefix, a lower-case x. A wrong check digit or length is refused, never "corrected".
"""

from __future__ import annotations

import re
import unicodedata

from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import ValidationError

from .errors import InvalidIsbn

_NOISE_RE = re.compile(r"[\s\-‐‑‒–—_.:：]+")
_PREFIX_RE = re.compile(r"^(ISBN(-1[03])?)", re.IGNORECASE)
_ISBNISH_RE = re.compile(r"^(97[89])?\d{9}[\dX]$")


def clean(raw: str | None) -> str:
    """The characters that matter: digits and X, upper case, no prefix or separators."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    text = _PREFIX_RE.sub("", text.replace(" ", ""))
    return _NOISE_RE.sub("", text).upper()


def normalize_isbn(raw: str | None) -> str | None:
    """ISBN-10 or ISBN-13 in any common spelling → 13 digits; empty → None.

    Raises InvalidIsbn (code ``invalid_isbn``) for a wrong check digit, length or characters.
    """
    text = clean(raw)
    if not text:
        return None
    try:
        compact = stdnum_isbn.validate(text)
    except ValidationError as exc:
        raise InvalidIsbn(raw=raw) from exc
    if len(compact) == 10:
        return str(stdnum_isbn.to_isbn13(compact))
    return str(compact)


def looks_like_isbn(text: str | None) -> bool:
    """True when a search box holds what is meant as an ISBN (10 or 13 characters of digits)."""
    return bool(_ISBNISH_RE.match(clean(text)))


def format_isbn(isbn13: str | None) -> str:
    """978-7-5332-4178-4 for display; the bare digits when the ranges are unknown."""
    if not isbn13:
        return ""
    try:
        return str(stdnum_isbn.format(isbn13))
    except ValidationError:
        return isbn13
