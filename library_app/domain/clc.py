"""The Chinese Library Classification (中图法) class of a record → a suggested category.

Catalogue records from Chinese union catalogues carry the 中图法 class (CNMARC 690 $a, e.g.
``I287.8``). The categories of this library are the children's-library ones of
domain/catalog.CATEGORIES; this table maps the classes to them, the longest matching prefix first.
Picture books are 儿童图画故事: I287.8 for Chinese ones, and ``.85`` under each country's fiction for
translated ones (I561.85 British, I712.85 American, I313.85 Japanese …).
"""

from __future__ import annotations

import re
import unicodedata

# (class prefix, category), checked longest prefix first; letters are the main classes.
CLC_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("A", "其他"),      # 马列主义、毛泽东思想
    ("B", "其他"),      # 哲学、宗教（含心理学）
    ("C", "其他"),      # 社会科学总论
    ("D", "其他"),      # 政治、法律
    ("E", "历史"),      # 军事
    ("F", "其他"),      # 经济
    ("G", "其他"),      # 文化、科学、教育、体育
    ("H", "其他"),      # 语言、文字
    ("H0", "工具书"),
    ("H16", "工具书"),  # 汉语字典、词典
    ("H316", "工具书"),  # 英语词典
    ("I", "文学"),      # 文学
    ("I287.8", "绘本"),  # 中国儿童图画故事
    ("J", "艺术"),      # 艺术
    ("J218.2", "漫画"),  # 连环画
    ("J228", "漫画"),    # 漫画
    ("J238", "漫画"),    # 外国漫画、连环画
    ("K", "历史"),      # 历史、地理
    ("N", "科普"), ("O", "科普"), ("P", "科普"), ("Q", "科普"), ("R", "科普"), ("S", "科普"),
    ("T", "科普"), ("U", "科普"), ("V", "科普"), ("X", "科普"),  # 自然科学与技术
    ("Z", "工具书"),    # 综合性图书（百科全书、辞典）
)

_BY_LENGTH = sorted(CLC_CATEGORIES, key=lambda pair: len(pair[0]), reverse=True)
_FOREIGN_PICTURE_BOOK = re.compile(r"^I\d{3}\.85")
_CLASS_RE = re.compile(r"^[A-Z][A-Z0-9.\-/:=()\"<>+]*$")


def clean_class(raw: str | None) -> str:
    """``i287.8 `` → ``I287.8``; the first class when several are given (``I287.8;J238``)."""
    text = unicodedata.normalize("NFKC", raw or "").strip().upper()
    text = re.split(r"[\s;,，；]+", text, maxsplit=1)[0] if text else ""
    return text if _CLASS_RE.match(text) else ""


def category_for(clc: str | None) -> str:
    """The category suggested by a 中图法 class, or "" when the class is missing or unknown."""
    text = clean_class(clc)
    if not text:
        return ""
    if _FOREIGN_PICTURE_BOOK.match(text):
        return "绘本"
    for prefix, category in _BY_LENGTH:
        if text.startswith(prefix):
            return category
    return ""
