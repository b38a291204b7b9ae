"""ISBN lookup sources (套录来源): what each is, checked; and the forms of an ISBN to search by.

A source is a Z39.50 server (host, port, database, record syntax, character set, optional account)
or a web source (Open Library's JSON API). They come from the settings page or from the
LIBRARY_LOOKUP_SOURCES setting (a JSON list); both go through ``parse_source``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import ValidationError

from .errors import RuleBroken
from .marc import ENCODINGS, SYNTAXES

KINDS = ("z3950", "openlibrary")
DEFAULT_TIMEOUT = 6.0
MAX_TIMEOUT = 60.0
LOCAL_NAME = "本馆书目"

KIND_NAMES = {"z3950": "Z39.50", "openlibrary": "Open Library（网络）"}
SYNTAX_NAMES = {"unimarc": "CNMARC / UNIMARC", "marc21": "MARC 21"}
ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GB18030（GBK）", "marc-8": "MARC-8"}

# Offered on the settings page as starting points (the account is the organisation's own).
EXAMPLES: tuple[dict[str, Any], ...] = (
    {"name": "国家图书馆联合编目（OLCC）", "kind": "z3950", "host": "202.96.31.28", "port": 9991,
     "database": "UCS01U", "syntax": "unimarc", "encoding": "utf-8",
     "note": "成员馆账号：向国家图书馆联合编目中心申请。"},
    {"name": "美国国会图书馆", "kind": "z3950", "host": "lx2.loc.gov", "port": 210,
     "database": "LCDB", "syntax": "marc21", "encoding": "utf-8", "note": "公开，无需账号；外文书。"},
    {"name": "Open Library", "kind": "openlibrary", "url": "https://openlibrary.org",
     "note": "公开；外文书较多。"},
)


class InvalidSource(RuleBroken):
    code = "invalid_source"
    message = "套录来源设置有误。"


@dataclass(frozen=True)
class LookupSource:
    name: str
    kind: str
    host: str = ""
    port: int = 210
    database: str = ""
    syntax: str = "unimarc"
    encoding: str = "utf-8"
    user: str = ""
    password: str = ""
    url: str = ""
    enabled: bool = True

    def public(self) -> dict[str, Any]:
        """What may be shown back: everything but the password (only whether there is one)."""
        data = asdict(self)
        data.pop("password")
        data["has_password"] = bool(self.password)
        return data


def _text(data: Mapping[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise InvalidSource(f"{key} 太长了（最多 {limit} 个字符）。")
    return text


def parse_source(data: Mapping[str, Any]) -> LookupSource:
    """A source from a settings form or a JSON object; Chinese messages for what is wrong."""
    if not isinstance(data, Mapping):
        raise InvalidSource("每个套录来源应是一个 JSON 对象。")
    kind = _text(data, "type", 20) or _text(data, "kind", 20)
    if kind not in KINDS:
        raise InvalidSource("来源类型只能是 z3950 或 openlibrary。")
    name = _text(data, "name", 64) or KIND_NAMES[kind]
    enabled = data.get("enabled", True) not in (False, "0", "false", "off", "")
    if kind == "openlibrary":
        url = (_text(data, "url", 200) or "https://openlibrary.org").rstrip("/")
        if not re.match(r"^https?://[^\s/]+", url):
            raise InvalidSource("网址需以 http:// 或 https:// 开头，如 https://openlibrary.org。")
        return LookupSource(name=name, kind=kind, url=url, enabled=enabled)
    host = _text(data, "host", 200)
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        raise InvalidSource(f"“{name}”的服务器地址无效（如 202.96.31.28 或 lx2.loc.gov）。")
    try:
        port = int(str(data.get("port") if data.get("port") not in (None, "") else 210))
    except ValueError as exc:
        raise InvalidSource(f"“{name}”的端口应是 1 到 65535 之间的整数。") from exc
    if not 1 <= port <= 65535:
        raise InvalidSource(f"“{name}”的端口应是 1 到 65535 之间的整数。")
    database = _text(data, "database", 100)
    if not database or not re.fullmatch(r"[A-Za-z0-9_.\-]+", database):
        raise InvalidSource(f"“{name}”需要数据库名（如 UCS01U、LCDB），只能有字母、数字、点、横线。")
    syntax = (_text(data, "syntax", 20) or "unimarc").lower().replace(" ", "")
    syntax = {"cnmarc": "unimarc", "usmarc": "marc21", "marc": "marc21"}.get(syntax, syntax)
    if syntax not in SYNTAXES:
        raise InvalidSource(f"“{name}”的记录格式只能是 CNMARC/UNIMARC 或 MARC 21。")
    encoding = (_text(data, "encoding", 20) or "utf-8").lower().replace("_", "-")
    encoding = {"utf8": "utf-8", "gbk": "gb18030", "gb2312": "gb18030", "marc8": "marc-8"}.get(encoding, encoding)
    if encoding not in ENCODINGS:
        raise InvalidSource(f"“{name}”的字符集只能是 UTF-8、GB18030 或 MARC-8。")
    return LookupSource(name=name, kind=kind, host=host, port=port, database=database,
                        syntax=syntax, encoding=encoding, user=_text(data, "user", 100),
                        password=_text(data, "password", 100), enabled=enabled)


def parse_sources(items: Any) -> list[LookupSource]:
    if not isinstance(items, list):
        raise InvalidSource("LIBRARY_LOOKUP_SOURCES 应是 JSON 列表。")
    return [parse_source(item) for item in items]


def parse_timeout(value: Any) -> float:
    """Seconds for the whole lookup; default 6, between 0.5 and 60."""
    if value in (None, ""):
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidSource("LIBRARY_LOOKUP_TIMEOUT 应是秒数，如 6。") from exc
    if not math.isfinite(seconds) or not 0.5 <= seconds <= MAX_TIMEOUT:
        raise InvalidSource(f"查询超时应在 0.5 到 {MAX_TIMEOUT:g} 秒之间。")
    return seconds


def search_forms(isbn13: str) -> list[str]:
    """The spellings a catalogue may store an ISBN under: 13 and 10 digits, each hyphenated as
    printed (``978-7-5332-4178-4``, ``7-5332-4178-2``); no duplicates, the 13 digits first."""
    forms = [isbn13]
    try:
        forms.append(stdnum_isbn.format(isbn13))
        ten = stdnum_isbn.to_isbn10(isbn13)
    except ValidationError:
        ten = ""
    if ten:
        forms.append(ten)
        try:
            forms.append(stdnum_isbn.format(ten))
        except ValidationError:
            pass
    return list(dict.fromkeys(f for f in forms if f))
