"""Catalogue records (MARC 21, CNMARC/UNIMARC, Open Library JSON) → the fields of a title.

Pure: bytes or parsed records in, a ``BookRecord`` out. pymarc reads both MARC syntaxes (the
ISO 2709 structure is the same), but its ``.title``/``.author`` helpers assume MARC 21 tags and it
decodes a record whose leader does not say UTF-8 as MARC-8, which garbles Chinese records sent in
UTF-8 or GB18030 by union catalogues (UNIMARC leaves leader/09 blank). So the fields are read here,
tag by tag, and the character set is chosen per source.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import pymarc

from .clc import category_for, clean_class
from .errors import InvalidIsbn
from .isbn import normalize_isbn

SYNTAXES = ("unimarc", "marc21")
ENCODINGS = ("utf-8", "gb18030", "marc-8")


@dataclass(frozen=True)
class BookRecord:
    """One record found for an ISBN, in the title form's fields (text as catalogued)."""

    source: str
    title: str = ""
    author: str = ""
    publisher: str = ""
    year: int | None = None
    pages: int | None = None
    price: str = ""
    clc: str = ""
    summary: str = ""
    isbn: str = ""          # ISBN-13 digits when the record's ISBN is valid
    category: str = ""      # suggested from the 中图法 class
    syntax: str = ""        # unimarc, marc21, openlibrary, local
    raw: str = ""           # the record as received, readable (MARC mnemonic text or JSON)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------ reading ISO 2709

def read_records(data: bytes, encoding: str = "utf-8") -> list[pymarc.Record | None]:
    """The records of an ISO 2709 stream in the given character set (None for an unreadable one).

    ``utf-8`` and ``gb18030`` decode every field in that set whatever the leader says; ``marc-8``
    lets pymarc follow the leader (07/09 ``a`` = UTF-8, else MARC-8), as MARC 21 defines it.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown MARC encoding {encoding!r}")
    out: list[pymarc.Record | None] = []
    for chunk in _split_iso2709(data):
        out.append(_read_one(chunk, encoding))
    return out


def _split_iso2709(data: bytes) -> Iterable[bytes]:
    pos = 0
    size = len(data)
    while pos < size:
        while pos < size and data[pos:pos + 1] in (b"\n", b"\r", b" ", b"\x1a"):
            pos += 1  # line breaks some tools put between records, a DOS end-of-file mark
        if pos >= size:
            return
        head = data[pos:pos + 5]
        if not head.isdigit():
            end = data.find(b"\x1d", pos)
            yield data[pos:(end + 1) if end >= 0 else size]
            if end < 0:
                return
            pos = end + 1
            continue
        length = int(head)
        if length < 24:
            yield data[pos:pos + 24]
            return
        yield data[pos:pos + length]
        pos += length


def _read_one(chunk: bytes, encoding: str) -> pymarc.Record | None:
    if len(chunk) < 24 or not chunk[:5].isdigit():
        return None
    if encoding == "gb18030" and chunk[9:10] == b"a":
        chunk = chunk[:9] + b" " + chunk[10:]  # pymarc reads leader/09 "a" as UTF-8 whatever it is told
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            record = pymarc.Record()
            if encoding == "utf-8":
                record.decode_marc(chunk, to_unicode=True, force_utf8=True, utf8_handling="replace")
            elif encoding == "gb18030":
                record.decode_marc(chunk, to_unicode=True, encoding="gb18030", utf8_handling="replace")
            else:
                record.decode_marc(chunk, to_unicode=True, utf8_handling="replace")
        except Exception:  # noqa: BLE001 - a damaged record, whatever pymarc says about it
            return None
    return record


def guess_encoding(data: bytes, syntax: str = "") -> str:
    """The character set of a MARC file with no one to ask: UTF-8 when every byte decodes as
    UTF-8; else GB18030 for UNIMARC (Chinese library systems export GBK) and MARC-8 for MARC 21
    (whose leader/09 ``a`` still means UTF-8)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    if not syntax:
        first = next((r for r in read_records(data[:200_000], "utf-8") if r is not None), None)
        syntax = detect_syntax(first) if first is not None else "marc21"
    return "gb18030" if syntax == "unimarc" else "marc-8"


def read_marcxml(data: bytes) -> list[pymarc.Record]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(pymarc.parse_xml_to_array(io.BytesIO(data)))


def detect_syntax(record: pymarc.Record) -> str:
    """``unimarc`` when the record has a UNIMARC title (200) and no MARC 21 one (245)."""
    if record.get_fields("245"):
        return "marc21"
    if record.get_fields("200") or record.get_fields("010") or record.get_fields("690"):
        return "unimarc"
    return "marc21"


# ------------------------------------------------------------------ small readers

def _subs(record: pymarc.Record, tags: Iterable[str], codes: str) -> list[str]:
    out: list[str] = []
    for tag in tags:
        for f in record.get_fields(tag):
            if f.is_control_field():
                continue
            for code in codes:
                out.extend(s for s in f.get_subfields(code) if s and s.strip())
    return out


def _first(record: pymarc.Record, tags: Iterable[str], code: str) -> str:
    found = _subs(record, tags, code)
    return found[0] if found else ""


def tidy(text: str | None) -> str:
    """Spaces collapsed, ISBD punctuation at the ends removed (``Title /`` → ``Title``)."""
    text = " ".join(unicodedata.normalize("NFC", text or "").split())
    text = re.sub(r"^[\s\[:;,/=.]+", "", text)
    text = re.sub(r"[\s/:;,=\]]+$", "", text)
    if text.endswith(".") and not re.search(r"\b[A-Z]\.$|\.\.\.$", text):
        text = text[:-1]
    return text.strip()


def parse_isbn(values: Iterable[str]) -> str:
    """The first valid ISBN among ``978-7-5332-4178-4 (精装)``-like values, as 13 digits."""
    for value in values:
        token = re.split(r"[\s(（:：]", unicodedata.normalize("NFKC", value).strip(), maxsplit=1)[0]
        try:
            isbn = normalize_isbn(token)
        except InvalidIsbn:
            continue
        if isbn:
            return isbn
    return ""


def parse_year(text: str | None) -> int | None:
    match = re.search(r"(1[4-9]\d\d|20\d\d)", text or "")
    return int(match.group(1)) if match else None


def parse_pages(text: str | None) -> int | None:
    """``32页``, ``32 p. :``, ``[32] pages``, ``1册 (128页)`` → the number of pages, else None."""
    norm = unicodedata.normalize("NFKC", text or "")
    match = re.search(r"(\d+)\]?\s*(?:页|頁|p\b|p\.|pages?\b)", norm, re.IGNORECASE)
    if match is None:
        match = re.fullmatch(r"\s*\[?(\d+)\]?\s*", norm)
    if match is None:
        return None
    pages = int(match.group(1))
    return pages if 0 < pages < 100000 else None


def parse_price(text: str | None) -> str:
    """``CNY25.00``, ``￥25``, ``$16.99``: kept as written, tidied (the currency matters)."""
    norm = " ".join(unicodedata.normalize("NFKC", text or "").split())
    return re.sub(r"^[(\s]+|[)\s.;:]+$", "", norm) if re.search(r"\d", norm) else ""


def _names(record: pymarc.Record, tags: Iterable[str]) -> list[str]:
    names: list[str] = []
    for tag in tags:
        for f in record.get_fields(tag):
            if f.is_control_field():
                continue
            surname = tidy(" ".join(f.get_subfields("a")))
            given = tidy(" ".join(f.get_subfields("b")))
            name = f"{surname}, {given}" if surname and given else surname or given
            if name and name not in names:
                names.append(name)
    return names


def _join_names(names: list[str]) -> str:
    text = "，".join(names)
    return text if len(text) <= 255 else text[:254] + "…"


# ------------------------------------------------------------------ mappers

def map_unimarc(record: pymarc.Record, source: str) -> BookRecord:
    """CNMARC/UNIMARC: 010 $a ISBN $d price, 200 $a title ($h/$i part) $f/$g responsibility,
    210 (or 214) $c publisher $d date, 215 $a pages, 330 $a summary, 690 $a 中图法, 701/702 names."""
    title_parts = [tidy(t) for t in _subs(record, ["200"], "a")[:1]]
    title_parts += [tidy(t) for t in _subs(record, ["200"], "hi")]
    authors = _names(record, ["700", "701"]) + _names(record, ["702"])
    if not authors:
        authors = [tidy(s) for s in _subs(record, ["200"], "fg")]
    clc = clean_class(_first(record, ["690"], "a"))
    return BookRecord(
        source=source,
        title=" ".join(p for p in title_parts if p),
        author=_join_names([a for a in dict.fromkeys(authors) if a]),
        publisher=tidy(_first(record, ["210", "214"], "c")),
        year=parse_year(_first(record, ["210", "214"], "d")),
        pages=parse_pages(_first(record, ["215"], "a")),
        price=parse_price(_first(record, ["010"], "d")),
        clc=clc,
        summary=" ".join(_subs(record, ["330"], "a")).strip(),
        isbn=parse_isbn(_subs(record, ["010"], "a")),
        category=category_for(clc),
        syntax="unimarc",
        raw=str(record),
    )


def map_marc21(record: pymarc.Record, source: str) -> BookRecord:
    """MARC 21: 020 $a ISBN $c price, 100 (700) names, 245 $a$b title, 260/264 $b publisher
    $c date (else 008/07-10), 300 $a pages, 520 $a summary."""
    title = ""
    for f in record.get_fields("245")[:1]:
        main = tidy(" ".join(f.get_subfields("a")))
        sub = tidy(" ".join(f.get_subfields("b")))
        part = tidy(" ".join(f.get_subfields("n", "p")))
        title = main + (f" : {sub}" if sub else "") + (f". {part}" if part else "")
    authors = _names(record, ["100", "110", "111"]) + _names(record, ["700", "710"])
    if not authors:
        authors = [tidy(s) for s in _subs(record, ["245"], "c")]
    year = parse_year(_first(record, ["264", "260"], "c"))
    if year is None:
        fixed = record.get_fields("008")
        if fixed and fixed[0].data and len(fixed[0].data) >= 11:
            year = parse_year(fixed[0].data[7:11])
    return BookRecord(
        source=source,
        title=title,
        author=_join_names(authors),
        publisher=tidy(_first(record, ["264", "260"], "b")),
        year=year,
        pages=parse_pages(_first(record, ["300"], "a")),
        price=parse_price(_first(record, ["020"], "c")),
        clc="",
        summary=" ".join(_subs(record, ["520"], "a")).strip(),
        isbn=parse_isbn(_subs(record, ["020"], "a")),
        category="",
        syntax="marc21",
        raw=str(record),
    )


def map_record(record: pymarc.Record, source: str, syntax: str = "") -> BookRecord:
    """The mapper of the given syntax, or of the detected one when ``syntax`` is empty."""
    chosen = syntax or detect_syntax(record)
    return map_unimarc(record, source) if chosen == "unimarc" else map_marc21(record, source)


# ------------------------------------------------------------------ Open Library

def _ol_text(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("value")
    return str(value).strip() if isinstance(value, str) else ""


def ol_author_keys(edition: Mapping[str, Any], work: Mapping[str, Any] | None = None) -> list[str]:
    """The author record keys an edition names (``/authors/OL…A``), else its work's."""
    keys = [a.get("key") for a in edition.get("authors") or [] if isinstance(a, Mapping)]
    if not keys and work:
        for entry in work.get("authors") or []:
            author = entry.get("author") if isinstance(entry, Mapping) else None
            if isinstance(author, Mapping):
                keys.append(author.get("key"))
    return [k for k in keys if isinstance(k, str) and k.startswith("/authors/")]


def ol_work_key(edition: Mapping[str, Any]) -> str:
    for w in edition.get("works") or []:
        if isinstance(w, Mapping) and isinstance(w.get("key"), str) and w["key"].startswith("/works/"):
            return str(w["key"])
    return ""


def map_openlibrary(edition: Mapping[str, Any], source: str, author_names: Iterable[str] = (),
                    work: Mapping[str, Any] | None = None) -> BookRecord:
    """An Open Library edition (``/isbn/{isbn}.json``) with its authors' names and its work."""
    title = _ol_text(edition.get("title"))
    subtitle = _ol_text(edition.get("subtitle"))
    publishers = [p for p in edition.get("publishers") or [] if isinstance(p, str)]
    summary = _ol_text(edition.get("description")) or _ol_text((work or {}).get("description"))
    isbns = [str(v) for v in (edition.get("isbn_13") or []) + (edition.get("isbn_10") or [])]
    pages = edition.get("number_of_pages")
    raw = {"edition": edition, "work": work} if work else {"edition": edition}
    return BookRecord(
        source=source,
        title=title + (f" : {subtitle}" if subtitle else ""),
        author=_join_names([n.strip() for n in author_names if n and n.strip()]),
        publisher=tidy(publishers[0]) if publishers else "",
        year=parse_year(_ol_text(edition.get("publish_date"))),
        pages=pages if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0 else None,
        summary=summary,
        isbn=parse_isbn(isbns),
        syntax="openlibrary",
        raw=json.dumps(raw, ensure_ascii=False, sort_keys=True)[:200_000],
    )


def with_source(record: BookRecord, source: str) -> BookRecord:
    return replace(record, source=source)
