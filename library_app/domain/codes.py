"""Copy codes (B…) and card codes (C…): digits ending in a Luhn check digit.

A scanned or typed code may be the bare code or the label URL ``…/s/<code>``, in any
case, with stray whitespace. A wrong check digit is refused, never matched to another item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stdnum import luhn
from stdnum.exceptions import ValidationError

from .errors import BadCheckDigit, InvalidCode, WrongCodeKind

CodeKind = Literal["copy", "card"]
PREFIX: dict[CodeKind, str] = {"copy": "B", "card": "C"}
KIND_BY_PREFIX: dict[str, CodeKind] = {"B": "copy", "C": "card"}
BODY_DIGITS = 6  # B0000017: six digits of sequence and one check digit

_CODE_RE = re.compile(r"^([BC])(\d{2,18})$")
_URL_TAIL_RE = re.compile(r"/s/([^/?#\s]+)/?(?:[?#].*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ScannedCode:
    kind: CodeKind
    code: str


def make_code(kind: CodeKind, number: int) -> str:
    """The code for a sequence number: prefix, zero-padded digits, Luhn check digit."""
    if number < 0:
        raise ValueError("sequence number must not be negative")
    body = str(number).zfill(BODY_DIGITS)
    return PREFIX[kind] + body + luhn.calc_check_digit(body)


def sequence_number(code: str) -> int:
    """The sequence number inside a valid code (without its check digit)."""
    return int(code[1:-1])


def parse_code(raw: str, expect: CodeKind | None = None) -> ScannedCode:
    """Read a code from a scan or keyboard: bare or URL form, any case, spaces tolerated."""
    text = (raw or "").strip()
    match = _URL_TAIL_RE.search(text)
    if match:
        text = match.group(1)
    text = re.sub(r"[\s\-]", "", text).upper()
    m = _CODE_RE.match(text)
    if not m:
        raise InvalidCode(raw=raw)
    prefix, digits = m.groups()
    try:
        luhn.validate(digits)
    except ValidationError as exc:
        raise BadCheckDigit(raw=raw) from exc
    kind = KIND_BY_PREFIX[prefix]
    if expect is not None and kind != expect:
        wanted = "图书标签（B 开头）" if expect == "copy" else "借阅证（C 开头）"
        raise WrongCodeKind(f"这里需要扫描{wanted}。", raw=raw)
    return ScannedCode(kind=kind, code=text)


def qr_content(code: str, public_base_url: str | None) -> str:
    """What a label or card QR holds: the /s/<code> URL when a base URL is set, else the code."""
    base = (public_base_url or "").strip().rstrip("/")
    return f"{base}/s/{code}" if base else code
