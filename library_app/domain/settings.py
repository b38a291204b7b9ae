"""The organisation's settings: names, defaults and validation (no storage here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import RuleBroken


class InvalidSetting(RuleBroken):
    code = "invalid_setting"
    message = "设置值无效。"


@dataclass(frozen=True)
class LibrarySettings:
    org_name: str = "故事会点借阅"
    timezone: str = "Asia/Shanghai"
    public_base_url: str = ""
    loan_limit: int = 3          # open loans per borrower
    loan_days: int = 14          # loan period
    max_renewals: int = 1
    undo_minutes: int = 10       # a story mother may undo her own last action this long
    count_metric: str = "loans"  # "loans" or "visits" (one child, one point, one day)
    default_year_target: int = 12000
    retention_months: int = 24   # anonymise children who left this long ago
    show_school_fields: bool = False
    # Reading activities: the kinds offered (code=label, …) and the preparation minutes added to
    # each volunteer's time by default (domain/activities.py).
    activity_kinds: str = "story=故事会,reading_club=读书会,parent_child=亲子阅读,other=其他"
    volunteer_prep_minutes: int = 30

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_loopback_url(url: str) -> bool:
    """http://127.0.0.1:5000 or http://localhost: an address only this computer can open."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def validated(base: LibrarySettings, changes: dict[str, Any]) -> LibrarySettings:
    """A new settings value with ``changes`` applied, each checked; unknown keys refused."""
    known = {f.name: f for f in fields(LibrarySettings)}
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in known:
            raise InvalidSetting(f"未知设置项：{key}")
        default = getattr(LibrarySettings(), key)
        if isinstance(default, bool):
            clean[key] = bool(value)
        elif isinstance(default, int):
            try:
                number = int(value)
            except (TypeError, ValueError) as exc:
                raise InvalidSetting(f"{key} 需要是整数。") from exc
            if number < 0 or (key in ("loan_limit", "loan_days", "default_year_target") and number < 1):
                raise InvalidSetting(f"{key} 的值太小。")
            clean[key] = number
        else:
            clean[key] = str(value or "").strip()
    result = replace(base, **clean)
    if result.count_metric not in ("loans", "visits"):
        raise InvalidSetting("统计口径只能是“借出次数”或“到访人次”。")
    try:
        ZoneInfo(result.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSetting("时区无效，例如 Asia/Shanghai。") from exc
    from .activities import parse_kinds

    parse_kinds(result.activity_kinds)  # refuses an empty or malformed list
    base_url = result.public_base_url
    if base_url and not base_url.startswith(("http://", "https://")):
        raise InvalidSetting("公开网址需以 http:// 或 https:// 开头。")
    return result
