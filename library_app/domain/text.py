"""Masking and search keys for people's names and phones."""

from __future__ import annotations

import re

MAX_SEARCH = 100  # characters of a search box kept (a name, a card code, a title, an ISBN)


def search_text(q: str | None) -> str:
    """What a search looks for: spaces collapsed, at most MAX_SEARCH characters (a 50,000-
    character query is cut, not sent to the database as a LIKE pattern too long for it)."""
    return " ".join((q or "")[: MAX_SEARCH * 4].split())[:MAX_SEARCH]


def mask_phone(phone: str | None) -> str:
    """138****5678: keep the first three and last four digits of a mobile number."""
    digits = re.sub(r"\D", "", phone or "")
    if not digits:
        return ""
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 8:
        return digits[:1] + "*" * (len(digits) - 3) + digits[-2:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def pinyin_keys(text: str) -> tuple[str, str]:
    """Full pinyin and initials, lower case, no spaces: 猜猜我有多爱你 → (caicaiwoyouduoaini, ccwydan).

    Heteronyms take pypinyin's most common reading; non-Chinese characters are kept as they are.
    """
    from pypinyin import Style, lazy_pinyin

    text = text or ""
    full = "".join(lazy_pinyin(text, errors="default")).lower()
    initials = "".join(
        s[:1] for s in lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default") if s
    ).lower()
    full = re.sub(r"\s+", "", full)
    initials = re.sub(r"\s+", "", initials)
    return full, initials
