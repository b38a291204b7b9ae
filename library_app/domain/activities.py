"""Reading activities (故事会 …), volunteers and the annual report's counting rules.

Pure functions over plain values: no Flask, no SQLAlchemy. The services turn them into
queries; the tests here check the edges (a child who borrowed and attended counted once,
attendance from a count and from cards, local midnight and the new year).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .codes import parse_code
from .dates import MAX_YEAR, MIN_YEAR
from .errors import InvalidCode, RuleBroken
from .reports import Month, month_of
from .roles import LIBRARIANS, is_point_bound, is_staff

ACTIVITY_KINDS_DEFAULT = "story=故事会,reading_club=读书会,parent_child=亲子阅读,other=其他"
VOLUNTEER_KINDS = {
    "story_mother": "故事妈妈", "worker": "工人志愿者", "child": "儿童志愿者",
    "student": "大学生实习", "other": "其他",
}
CORRECTION_HOURS = 24       # a story mother may correct her own activity this long
MAX_MINUTES = 24 * 60       # one activity, one volunteer: at most a day
MAX_PEOPLE = 10_000


class ActivityInvalid(RuleBroken):
    code = "invalid_activity"
    message = "活动记录有误，请检查后重试。"
    status = 422


class VolunteerInvalid(RuleBroken):
    code = "invalid_volunteer"
    message = "志愿者信息有误，请检查后重试。"
    status = 422


class CorrectionClosed(RuleBroken):
    code = "correction_closed"
    message = "活动记录超过 24 小时后只能由图书管理员修改。"
    status = 403


# ---------------------------------------------------------------- kinds (a setting)


def parse_kinds(text: str) -> dict[str, str]:
    """``story=故事会,reading_club=读书会`` → {code: label}, in order. Refuses an empty list,
    a code that is not a short latin word, and repeated codes."""
    kinds: dict[str, str] = {}
    for part in (text or "").replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        code, _, label = part.partition("=")
        code, label = code.strip(), label.strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", code):
            raise ActivityInvalid(f"活动类型编号“{code}”无效：请用小写英文字母、数字和下划线。")
        if code in kinds:
            raise ActivityInvalid(f"活动类型“{code}”重复了。")
        kinds[code] = label or code
    if not kinds:
        raise ActivityInvalid("至少需要一种活动类型。")
    return kinds


# ---------------------------------------------------------------- counting rules


def attendance(count: int | None, cards: Iterable[str]) -> int:
    """Children attending: the count given, or the distinct cards scanned; the larger when both
    (a story mother counts heads and scans only some cards, or the reverse)."""
    distinct = len({c for c in cards if c})
    return max(int(count or 0), distinct)


def children_served(borrowed: Iterable[int], attended: Iterable[int]) -> int:
    """Distinct children served: a child counted once whether she borrowed, attended by card,
    or both (ids of borrowers)."""
    return len(set(borrowed) | set(attended))


def default_volunteer_minutes(activity_minutes: int, preparation_minutes: int) -> int:
    """A volunteer's minutes when none are given: the activity's plus the preparation time."""
    return max(int(activity_minutes), 0) + max(int(preparation_minutes), 0)


def activity_month(started_at: datetime, tz: ZoneInfo) -> Month:
    """The local month an activity belongs to (a session at 00:30 on 1 January Beijing time
    belongs to January of the new year)."""
    return month_of(started_at, tz)


def hours_text(minutes: int) -> str:
    """202662 → '3377.7' (hours with one decimal, as the report writes them)."""
    return f"{minutes / 60:.1f}".rstrip("0").rstrip(".") if minutes % 60 else str(minutes // 60)


def may_correct(role: str, recorded_by_me: bool, created_at: datetime, now: datetime) -> bool:
    """Staff correct any activity at any time (a point lead any at her points: the caller checks
    the point); a story mother her own for 24 hours."""
    if role in LIBRARIANS:
        return True
    return (role == "story_mother" and recorded_by_me
            and now - created_at <= timedelta(hours=CORRECTION_HOURS))


# ---------------------------------------------------------------- an activity's input


@dataclass(frozen=True)
class VolunteerShare:
    volunteer: int | None       # a volunteer's id, or …
    username: str | None        # … a user account's name
    minutes: int | None         # None: the default


@dataclass(frozen=True)
class ActivityInput:
    id: str
    point: str
    kind: str
    started_at: datetime
    minutes: int
    children: int | None
    cards: tuple[str, ...]
    adults: int
    titles: tuple[str, ...]
    volunteers: tuple[VolunteerShare, ...]
    note: str

    @property
    def attendance(self) -> int:
        return attendance(self.children, self.cards)

    def fingerprint(self) -> str:
        """The content, for "the same id with other content" (a retry sends the same)."""
        body = {
            "point": self.point, "kind": self.kind,
            "started_at": self.started_at.astimezone(ZoneInfo("UTC")).isoformat(),
            "minutes": self.minutes, "children": self.children, "cards": sorted(set(self.cards)),
            "adults": self.adults, "titles": list(self.titles),
            "volunteers": [[v.volunteer, v.username, v.minutes] for v in self.volunteers],
            "note": self.note,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _count(value: Any, what: str, *, allow_none: bool = False, upper: int = MAX_PEOPLE) -> int | None:
    if value is None or value == "":
        if allow_none:
            return None
        return 0
    if isinstance(value, bool):
        raise ActivityInvalid(f"{what}需要是整数。")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ActivityInvalid(f"{what}需要是整数。") from exc
    if number != value and not isinstance(value, str):
        raise ActivityInvalid(f"{what}需要是整数。")
    if number < 0 or number > upper:
        raise ActivityInvalid(f"{what}需在 0 到 {upper} 之间。")
    return number


def parse_started_at(value: Any) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ActivityInvalid("请填写活动开始时间（带时区的 ISO 8601 时间）。")
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ActivityInvalid("活动开始时间格式无效，例如 2026-03-14T15:00:00+08:00。") from exc
    if at.tzinfo is None:
        raise ActivityInvalid("活动开始时间需要带时区，例如 2026-03-14T15:00:00+08:00。")
    if not MIN_YEAR <= at.year <= MAX_YEAR:  # a phone whose clock was reset to 1970, or a typo
        raise ActivityInvalid(f"活动开始时间不对：应在 {MIN_YEAR} 年到 {MAX_YEAR} 年之间，请检查手机的日期。")
    return at


def check_activity(data: dict[str, Any], kinds: dict[str, str], now: datetime) -> ActivityInput:
    """An activity's JSON (api.md) checked and normalised; a Chinese message for each fault."""
    raw_id = data.get("id")
    try:
        activity_id = str(uuid.UUID(str(raw_id)))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ActivityInvalid("缺少活动编号（客户端生成的 UUID）。") from exc
    point = str(data.get("point") or "").strip().upper()
    if not point:
        raise ActivityInvalid("请选择阅读点。")
    kind = str(data.get("kind") or "").strip()
    if kind not in kinds:
        raise ActivityInvalid(f"活动类型无效：可选 {'、'.join(kinds.values())}。")
    started_at = parse_started_at(data.get("started_at"))
    if started_at - now > timedelta(days=1):
        raise ActivityInvalid("活动开始时间在未来，请检查手机的日期和时间。")
    minutes = _count(data.get("minutes"), "活动时长（分钟）", upper=MAX_MINUTES)
    if not minutes:
        raise ActivityInvalid("请填写活动时长（分钟），需大于 0。")
    children = _count(data.get("children"), "儿童人数", allow_none=True)
    adults = _count(data.get("adults"), "成人人数") or 0
    cards_raw = data.get("cards") or []
    if not isinstance(cards_raw, list):
        raise ActivityInvalid("借阅证需是列表。")
    cards: list[str] = []
    for raw in cards_raw:
        try:
            parsed = parse_code(str(raw))
        except InvalidCode as exc:
            raise ActivityInvalid(f"借阅证号 {raw} 无效：{exc.message}") from exc
        if parsed.kind != "card":
            raise ActivityInvalid(f"{raw} 不是借阅证号。")
        if parsed.code not in cards:
            cards.append(parsed.code)
    titles_raw = data.get("titles") or []
    if not isinstance(titles_raw, list):
        raise ActivityInvalid("读过的书需是列表。")
    titles = tuple(t for t in (str(x).strip()[:200] for x in titles_raw) if t)
    volunteers_raw = data.get("volunteers") or []
    if not isinstance(volunteers_raw, list):
        raise ActivityInvalid("志愿者需是列表。")
    shares: list[VolunteerShare] = []
    for item in volunteers_raw:
        if not isinstance(item, dict):
            raise ActivityInvalid("每位志愿者需写成 {\"volunteer\": 编号} 或 {\"username\": 用户名}。")
        vid, uname = item.get("volunteer"), item.get("username")
        if vid is not None and (isinstance(vid, bool) or not isinstance(vid, int)):
            raise ActivityInvalid("志愿者编号需是整数。")
        if vid is None and not (isinstance(uname, str) and uname.strip()):
            raise ActivityInvalid("每位志愿者需写明编号或用户名。")
        share_minutes = _count(item.get("minutes"), "志愿服务时长（分钟）", allow_none=True,
                               upper=MAX_MINUTES)
        shares.append(VolunteerShare(vid, None if vid is not None else str(uname).strip(),
                                     share_minutes))
    note = str(data.get("note") or "").strip()[:500]
    return ActivityInput(activity_id, point, kind, started_at, minutes, children, tuple(cards),
                         adults, titles, tuple(shares), note)


def check_volunteer(name: Any, kind: Any, consent: Any) -> tuple[str, str]:
    clean = " ".join(str(name or "").split())
    if not clean:
        raise VolunteerInvalid("请填写志愿者姓名。")
    if len(clean) > 64:
        raise VolunteerInvalid("姓名太长了（最多 64 个字）。")
    kind_code = str(kind or "").strip()
    if kind_code not in VOLUNTEER_KINDS:
        raise VolunteerInvalid(f"志愿者类别无效：可选 {'、'.join(VOLUNTEER_KINDS.values())}。")
    if kind_code == "child" and consent is not True:
        raise VolunteerInvalid("儿童志愿者需要监护人同意，请确认后勾选“监护人已同意”。")
    return clean, kind_code


# ---------------------------------------------------------------- the report's figures


FIGURES = (
    ("loans", "借阅人次"), ("visits", "到访人次"), ("children_served", "服务儿童（人）"),
    ("new_borrowers", "新登记小读者"), ("activities", "阅读活动（场）"),
    ("attendance", "活动儿童参与（人次）"), ("volunteer_participations", "志愿者参与（人次）"),
    ("volunteers", "志愿者（人）"), ("volunteer_minutes", "志愿服务时长（分钟）"),
)


@dataclass
class Figures:
    loans: int = 0
    visits: int = 0
    children_served: int = 0
    new_borrowers: int = 0
    activities: int = 0
    attendance: int = 0
    volunteer_participations: int = 0
    volunteers: int = 0
    volunteer_minutes: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def volunteer_hours(self) -> float:
        return round(self.volunteer_minutes / 60, 1)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name, _ in FIGURES}
        data["volunteer_hours"] = self.volunteer_hours
        return data


def _n(value: int) -> str:
    return f"{value:,}"


def summary_paragraph(year: int, figures: Figures, points: int, org_name: str = "",
                      last_year: Figures | None = None, as_of: date | None = None,
                      last_year_loans_to_date: int | None = None) -> str:
    """The paragraph the manager pastes into the annual report, in its own style:
    "2026 年，共开展故事会等阅读活动 N 场，服务儿童 M 人次……". A pure function of the figures.

    ``as_of``: the year is not over, its figures run to this local date. The paragraph then
    says "今年以来" instead of "全年", compares the loans with last year's to the same date
    (``last_year_loans_to_date``) instead of last year's whole count, and ends with the date,
    so a paragraph pasted in December does not pass for the whole year's."""
    who = f"{org_name}在" if org_name else "在"
    parts = [f"{year} 年，{who} {points} 个阅读点共开展故事会等阅读活动 {_n(figures.activities)} 场，"
             f"服务儿童 {_n(figures.attendance)} 人次"]
    if figures.volunteer_participations:
        parts.append(f"志愿者参与 {_n(figures.volunteer_participations)} 人次"
                     f"（{_n(figures.volunteers)} 人），志愿服务时长 {_n(figures.volunteer_minutes)} 分钟"
                     f"（约 {hours_text(figures.volunteer_minutes)} 小时）")
    parts.append(f"图书借阅 {_n(figures.loans)} 人次")
    text = "，".join(parts)
    text += f"；{'今年以来' if as_of else '全年'}共服务儿童 {_n(figures.children_served)} 人"
    if figures.new_borrowers:
        text += f"，新登记小读者 {_n(figures.new_borrowers)} 人"
    text += "。"
    before = last_year_loans_to_date if as_of else (last_year.loans if last_year is not None else None)
    if before:
        change = figures.loans - before
        pct = round(abs(change) * 100 / before)
        than = "上年同期" if as_of else "上年"
        if change > 0:
            text += f"借阅人次比{than}增长 {pct}%。"
        elif change < 0:
            text += f"借阅人次比{than}减少 {pct}%。"
        else:
            text += f"借阅人次与{than}持平。"
    if as_of:
        text += f"（数据截至 {as_of.year} 年 {as_of.month} 月 {as_of.day} 日）"
    return text


def certificate_number(volunteer_id: int, start: str, end: str, issued: str) -> str:
    """A stable certificate number for a person and a period: ZY-<issue date>-<id>-<check>."""
    digest = hashlib.sha256(f"{volunteer_id}|{start}|{end}".encode()).hexdigest()[:4].upper()
    return f"ZY{issued.replace('-', '')}-{volunteer_id:05d}-{digest}"


class NotYourPoint(RuleBroken):
    code = "not_your_point"
    message = "您只能在自己负责的阅读点记录活动和志愿者。"
    status = 403


class NoNames(RuleBroken):
    code = "forbidden"
    message = "您的角色只能查看汇总报告，不能查看志愿者和活动的明细。"
    status = 403


def check_at_point(role: str, own_points: Iterable[str], point_code: str) -> None:
    """Staff record at any point; a story mother or point lead only at hers; a viewer nothing
    with names."""
    if is_staff(role):
        return
    if not is_point_bound(role):
        raise NoNames()
    if point_code not in set(own_points):
        raise NotYourPoint()
