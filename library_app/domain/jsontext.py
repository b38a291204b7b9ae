"""Reading JSON that comes from outside: what the standard library accepts but nothing after
it can handle is refused here, once, with a Chinese reason (issue 13, item 8).

- a lone surrogate (``"\\ud800"``): valid JSON escapes, but not text: no database, hash or
  encoder takes it;
- nesting deeper than ``MAX_DEPTH`` (50,000 levels is a RecursionError in the parser);
- integers outside a signed 64-bit column (``2**63`` is an OverflowError in the driver);
- ``NaN`` / ``Infinity`` (not JSON at all);
- control characters other than tab, newline and carriage return: no name or note needs them
  and a spreadsheet cannot hold them (openpyxl's ILLEGAL_CHARACTERS_RE).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
INT_MAX = 2**63 - 1
# The characters XML 1.0 (so XLSX) cannot hold: C0 controls but tab, newline, carriage return.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class BadJsonText(ValueError):
    """Refused JSON; ``message`` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _int(text: str) -> int:
    value = int(text)
    if not -INT_MAX - 1 <= value <= INT_MAX:
        raise BadJsonText("数字太大了（超出范围）。")
    return value


def _constant(name: str) -> Any:
    raise BadJsonText(f"JSON 里不能有 {name}。")


def check_text(value: str) -> None:
    """Refuse a lone surrogate or a control character in one string."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadJsonText("文字里有无效的字符（孤立的代理项 \\ud800 之类）。") from None
    if CONTROL_RE.search(value):
        raise BadJsonText("文字里有不可见的控制字符，请删除后重试。")


def check_value(data: Any) -> Any:
    """Walk the parsed value (without recursion) and refuse what :mod:`json` let through."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadJsonText(f"JSON 嵌套太深（最多 {MAX_DEPTH} 层）。")
            if isinstance(value, dict):
                for key, item in value.items():
                    check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
    return data


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """:func:`json.loads` with the refusals above; every refusal is a ValueError."""
    kwargs.setdefault("parse_int", _int)
    kwargs.setdefault("parse_constant", _constant)
    try:
        data = json.loads(text, **kwargs)
    except RecursionError:
        raise BadJsonText(f"JSON 嵌套太深（最多 {MAX_DEPTH} 层）。") from None
    except BadJsonText:
        raise
    except UnicodeDecodeError:
        raise BadJsonText("请求内容不是 UTF-8 编码的 JSON。") from None
    except ValueError as exc:  # json.JSONDecodeError, int() of 5,000 digits
        raise BadJsonText("请求内容不是有效的 JSON。") from exc
    return check_value(data)
