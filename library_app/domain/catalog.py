"""Catalog rules with no Flask and no database: title fields, copy status changes, import
columns, spreadsheet-safe cells, and how labels sit on an A4 sheet."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RuleBroken
from .isbn import normalize_isbn
from .statuses import CopyStatus

# The same values as models.catalog (a test keeps them equal); the domain imports no SQLAlchemy.
AGE_BANDS = ("0-3", "3-6", "6-9", "9-12", "12+")
CATEGORIES = ("绘本", "桥梁书", "科普", "文学", "历史", "艺术", "漫画", "工具书", "其他")
COPY_SOURCES = ("purchase", "donation")
STATUS_NAMES: dict[str, str] = {
    CopyStatus.AVAILABLE: "在馆可借", CopyStatus.ON_LOAN: "借出中", CopyStatus.LOST: "遗失",
    CopyStatus.DAMAGED: "损坏", CopyStatus.WITHDRAWN: "已剔除", CopyStatus.MISSING: "缺失",
}
SOURCE_NAMES = {"purchase": "采购", "donation": "捐赠"}
MAX_COPIES_AT_ONCE = 200


class InvalidTitle(RuleBroken):
    code = "invalid_title"
    message = "书目信息有误，请检查后重试。"


class CopyActionNotAllowed(RuleBroken):
    code = "copy_action_not_allowed"
    message = "这本书当前的状态不能进行这个操作。"
    status = 409


# ------------------------------------------------------------------ titles

@dataclass(frozen=True)
class TitleFields:
    title: str
    isbn: str | None = None
    author: str = ""
    publisher: str = ""
    year: int | None = None
    category: str = ""
    age_band: str = ""
    notes: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(value)).split())


def parse_year(value: Any, this_year: int) -> int | None:
    """2019, "2019", "2019年", "2019-05" → 2019; empty → None; nonsense → InvalidTitle."""
    text = _text(value)
    if not text:
        return None
    m = re.fullmatch(r"(\d{4})\s*[年\-./]?\s*(?:\d{1,2}\s*[月\-./]?\s*(?:\d{1,2}\s*日?)?)?", text)
    if m is None and re.fullmatch(r"\d{4}\.0", text):  # a year read back from a spreadsheet float
        m = re.match(r"(\d{4})", text)
    if not m:
        raise InvalidTitle(f"出版年“{text}”无法识别，请填写四位数字，如 2019。")
    year = int(m.group(1))
    if not 1400 <= year <= this_year + 1:
        raise InvalidTitle(f"出版年 {year} 不合理，请检查。")
    return year


def parse_age_band(value: Any) -> str:
    """"3-6", "3～6岁", "3到6", "12岁以上" → one of AGE_BANDS; empty → ""."""
    text = _text(value).replace(" ", "")
    if not text:
        return ""
    text = re.sub(r"[~～到至—–]", "-", text).replace("岁", "")
    if re.fullmatch(r"12(\+|以上|及以上)", text):
        return "12+"
    if text in AGE_BANDS:
        return text
    raise InvalidTitle(f"年龄段“{_text(value)}”无效，可填：{'、'.join(AGE_BANDS)}。")


def title_problems(data: Mapping[str, Any], this_year: int) -> tuple[TitleFields | None, list[RuleBroken]]:
    """The tidied fields, or every problem found (for import rows, which report them all)."""
    problems: list[RuleBroken] = []

    def check(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except RuleBroken as exc:
            problems.append(exc)
            return None

    title = _text(data.get("title"))
    if not title:
        problems.append(InvalidTitle("请填写书名。"))
    elif len(title) > 255:
        problems.append(InvalidTitle("书名太长了（最多 255 个字）。"))
    isbn = check(normalize_isbn, None if data.get("isbn") is None else str(data.get("isbn")))
    author = _text(data.get("author"))
    publisher = _text(data.get("publisher"))
    for label, value in (("作者", author), ("出版社", publisher)):
        if len(value) > 255:
            problems.append(InvalidTitle(f"{label}太长了（最多 255 个字）。"))
    year = check(parse_year, data.get("year"), this_year)
    category = _text(data.get("category"))
    if len(category) > 32:
        problems.append(InvalidTitle("分类太长了（最多 32 个字）。"))
    age_band = check(parse_age_band, data.get("age_band"))
    notes = str(data.get("notes") or "").strip()
    if len(notes) > 2000:
        problems.append(InvalidTitle("备注太长了（最多 2000 个字）。"))
    if problems:
        return None, problems
    return TitleFields(title=title, isbn=isbn, author=author, publisher=publisher, year=year,
                       category=category, age_band=age_band or "", notes=notes), []


def clean_title_fields(data: Mapping[str, Any], this_year: int) -> TitleFields:
    """Check and tidy what a person typed for a title. Raises the first problem
    (InvalidTitle, or InvalidIsbn with code ``invalid_isbn``)."""
    fields, problems = title_problems(data, this_year)
    if problems:
        raise problems[0]
    assert fields is not None
    return fields


def parse_copy_count(value: Any, *, allow_zero: bool = True) -> int:
    text = _text(value)
    if not text:
        return 0 if allow_zero else 1
    if not re.fullmatch(r"\d{1,6}", text):
        raise InvalidTitle(f"册数“{text}”应为整数。")
    n = int(text)
    if n > MAX_COPIES_AT_ONCE:
        raise InvalidTitle(f"一次最多添加 {MAX_COPIES_AT_ONCE} 册。")
    if n == 0 and not allow_zero:
        raise InvalidTitle("册数至少为 1。")
    return n


# ------------------------------------------------------------------ copy status changes

@dataclass(frozen=True)
class CopyAction:
    name: str
    label: str
    allowed_from: tuple[CopyStatus, ...]
    to: CopyStatus
    done: str  # what the page says afterwards


COPY_ACTIONS: dict[str, CopyAction] = {
    a.name: a
    for a in (
        CopyAction("lost", "标记遗失",
                   (CopyStatus.AVAILABLE, CopyStatus.ON_LOAN, CopyStatus.DAMAGED, CopyStatus.MISSING),
                   CopyStatus.LOST, "已标记为遗失。"),
        CopyAction("damaged", "标记损坏", (CopyStatus.AVAILABLE,), CopyStatus.DAMAGED, "已标记为损坏。"),
        CopyAction("found", "已找到", (CopyStatus.LOST, CopyStatus.MISSING), CopyStatus.AVAILABLE,
                   "已找到，恢复为在馆可借。"),
        CopyAction("repaired", "恢复可借", (CopyStatus.DAMAGED, CopyStatus.WITHDRAWN), CopyStatus.AVAILABLE,
                   "已恢复为在馆可借。"),
        CopyAction("withdraw", "剔除",
                   (CopyStatus.AVAILABLE, CopyStatus.DAMAGED, CopyStatus.LOST, CopyStatus.MISSING),
                   CopyStatus.WITHDRAWN, "已剔除，不再外借。"),
    )
}


def copy_action(action: str, status: str) -> CopyAction:
    """The change ``action`` makes to a copy with ``status``, or CopyActionNotAllowed saying why."""
    act = COPY_ACTIONS.get(action)
    if act is None:
        raise CopyActionNotAllowed("没有这个操作。")
    if status not in act.allowed_from:
        now = STATUS_NAMES.get(status, status)
        if status == CopyStatus.ON_LOAN:
            raise CopyActionNotAllowed(f"这本书正在借出中，不能{act.label}：请先归还，再操作。")
        raise CopyActionNotAllowed(f"这本书现在是“{now}”，不能{act.label}。")
    return act


def actions_for(status: str) -> list[CopyAction]:
    """The status changes offered on a copy's page, in a fixed order."""
    return [a for a in COPY_ACTIONS.values() if status in a.allowed_from]


# ------------------------------------------------------------------ import columns

# Column name as people write it (Chinese from our template, or English) → field.
COLUMN_ALIASES: dict[str, str] = {}
for _field, _names in {
    "title": ("书名", "题名", "标题", "title", "name"),
    "author": ("作者", "著者", "author", "authors"),
    "isbn": ("isbn", "isbn号", "书号", "isbn13", "isbn-13", "isbn10"),
    "publisher": ("出版社", "出版者", "publisher"),
    "year": ("出版年", "出版年份", "年份", "出版时间", "year"),
    "category": ("分类", "类别", "category"),
    "age_band": ("年龄段", "适读年龄", "适合年龄", "age band", "age_band", "ageband", "age"),
    "copies": ("册数", "数量", "复本数", "copies", "count"),
    "point": ("阅读点", "阅读点编号", "馆藏地", "point"),
    "notes": ("备注", "notes", "note"),
}.items():
    for _name in _names:
        COLUMN_ALIASES[_name] = _field

# The template's header row and what each column means (shown on the import page).
TEMPLATE_COLUMNS: list[tuple[str, str, str]] = [
    ("书名", "必填", "猜猜我有多爱你"),
    ("作者", "可空", "山姆·麦克布雷尼"),
    ("ISBN", "可空；10 位或 13 位，可带横线，校验位会核对", "978-7-5332-4178-0"),
    ("出版社", "可空", "明天出版社"),
    ("出版年", "可空；四位数字", "2013"),
    ("分类", "可空；如 " + "、".join(CATEGORIES[:5]), "绘本"),
    ("年龄段", "可空；" + "、".join(AGE_BANDS), "3-6"),
    ("册数", "可空，默认 0；要同时建多少册馆藏", "2"),
    ("阅读点", "有册数时必填；阅读点编号，如 P01", "P01"),
    ("备注", "可空", ""),
]


class BadImportFile(RuleBroken):
    code = "bad_import_file"
    message = "无法读取这个文件，请用模板另存为 CSV 后再上传。"


def header_fields(header: Sequence[str]) -> list[str | None]:
    """Map a header row to field names (None for a column we ignore). Needs a title column."""
    fields: list[str | None] = []
    for name in header:
        key = _text(name).lower().lstrip("\ufeff").strip("*＊ ")
        key = re.sub(r"[（(].*?[)）]", "", key).strip()
        fields.append(COLUMN_ALIASES.get(key))
    if "title" not in fields:
        raise BadImportFile("第 1 行应是表头，并且要有“书名”一列（可下载模板对照）。")
    seen = [f for f in fields if f]
    dupes = {f for f in seen if seen.count(f) > 1}
    if dupes:
        raise BadImportFile("表头中有重复的列：" + "、".join(sorted(dupes)) + "。")
    return fields


@dataclass
class ImportRow:
    """One data row of an import: its line number in the file, the values, and any problems."""

    row: int
    values: dict[str, str]
    fields: TitleFields | None = None
    copies: int = 0
    point: str = ""
    errors: list[str] = field(default_factory=list)
    # Filled in when planning: an existing title this row adds copies to
    existing_title_id: int | None = None
    same_as_row: int | None = None


def check_import_row(row: ImportRow, this_year: int, point_codes: Iterable[str]) -> ImportRow:
    """Validate one row in place (every problem, not just the first)."""
    v = row.values
    errors: list[str] = []
    row.fields, problems = title_problems(v, this_year)
    errors.extend(p.message for p in problems)
    try:
        row.copies = parse_copy_count(v.get("copies"))
    except RuleBroken as exc:
        errors.append(exc.message)
    point = _text(v.get("point")).upper()
    row.point = point
    if point and point not in set(point_codes):
        errors.append(f"没有编号为 {point} 的阅读点。")
    elif row.copies and not point:
        errors.append("要建馆藏（册数大于 0）时，请填写阅读点编号。")
    row.errors = errors
    return row


def is_blank_row(values: Iterable[str]) -> bool:
    return all(not _text(v) for v in values)


# ------------------------------------------------------------------ exports

_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (ASVS 1.2.10): text beginning with
    = + - @ (or a tab / carriage return) gets a leading apostrophe. Numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_DANGEROUS_START):
        return "'" + value
    return value


# ------------------------------------------------------------------ labels

@dataclass(frozen=True)
class LabelLayout:
    """A label sheet on A4 (210 × 297 mm), all sizes in millimetres."""

    key: str
    name: str
    cols: int
    rows: int
    width: float
    height: float
    top: float
    left: float
    gap_x: float = 0.0
    gap_y: float = 0.0

    @property
    def per_sheet(self) -> int:
        return self.cols * self.rows


LAYOUTS: dict[str, LabelLayout] = {
    # 3 × 8, 70 × 37 mm: full width, 0.5 mm top and bottom
    "3x8": LabelLayout("3x8", "A4 3×8（70 × 37 mm，24 张）", 3, 8, 70.0, 37.0, 0.5, 0.0),
    # 4 × 10, 48.5 × 25.4 mm: 8 mm sides, 21.5 mm top and bottom
    "4x10": LabelLayout("4x10", "A4 4×10（48.5 × 25.4 mm，40 张）", 4, 10, 48.5, 25.4, 21.5, 8.0),
}


def place_labels(count: int, layout: LabelLayout, start: int = 1) -> list[list[int | None]]:
    """Sheets of cells, row by row; each cell holds an item index or None (skipped or empty).

    ``start`` (1-based) is the first free position on the first sheet, to reuse a partly used one.
    """
    per = layout.per_sheet
    if not 1 <= start <= per:
        raise RuleBroken(f"起始位置应在 1 到 {per} 之间。")
    if count <= 0:
        return []
    skip = start - 1
    total = skip + count
    sheets: list[list[int | None]] = []
    for s in range(math.ceil(total / per)):
        cells: list[int | None] = []
        for pos in range(per):
            i = s * per + pos - skip
            cells.append(i if 0 <= i < count else None)
        sheets.append(cells)
    return sheets


def short_title(title: str, limit: int = 16) -> str:
    """A title that fits a label: whole when short, else cut with an ellipsis."""
    text = _text(title)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ fields from a catalogue record

RECORD_FIELDS = ("pages", "price", "clc", "summary", "record_source", "raw_record")
MAX_RAW_RECORD = 200_000


def clean_record_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Pages, price, 中图法 class, summary and the record's source and raw text, as typed or filled
    from an ISBN lookup (套录); only the keys present in ``data``. Raises InvalidTitle."""
    out: dict[str, Any] = {}
    if "pages" in data:
        text = _text(data.get("pages")).replace("页", "").strip()
        if not text:
            out["pages"] = None
        elif not re.fullmatch(r"\d{1,5}", text) or int(text) == 0:
            raise InvalidTitle(f"页数“{text}”应为正整数。")
        else:
            out["pages"] = int(text)
    for key, label, limit in (("price", "定价", 32), ("clc", "中图法分类号", 32),
                              ("record_source", "记录来源", 64)):
        if key in data:
            raw_value = data.get(key)
            # a source's name is kept as the settings spell it (no NFKC: 全角括号 stay)
            value = " ".join(str(raw_value or "").split()) if key == "record_source" else _text(raw_value)
            if len(value) > limit:
                raise InvalidTitle(f"{label}太长了（最多 {limit} 个字）。")
            out[key] = value.upper() if key == "clc" else value
    if "summary" in data:
        summary = str(data.get("summary") or "").strip()
        if len(summary) > 4000:
            raise InvalidTitle("内容简介太长了（最多 4000 个字）。")
        out["summary"] = summary
    if "raw_record" in data:
        raw = str(data.get("raw_record") or "")
        if len(raw) > MAX_RAW_RECORD:
            raise InvalidTitle("原始记录太长了。")
        out["raw_record"] = raw
    return out
