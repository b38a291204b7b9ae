"""Rules of the self-service corner (自助借阅角): what a kiosk may show and lend.

No Flask, no SQLAlchemy: the service reads the rows, these functions decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import RuleBroken

KIOSK_ROLE = "kiosk"
TOKEN_PREFIX = "kiosk."          # a kiosk's bearer token starts so; a user's never does
ENROL_CODE_MINUTES = 30          # a one-time enrol code lives this long
ENROL_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a screen
ENROL_CODE_LENGTH = 8

# Kiosk tokens do not expire: a tablet fixed at a point stays enrolled until a librarian
# revokes it (an expiring token would stop the corner on a Sunday with no one to re-enrol it).
# What stands in for expiry is visibility: a kiosk not seen this long is flagged on the kiosks
# page ("长时间未使用，如设备已丢失请撤销"), so a lost or stolen device is noticed and revoked.
LONG_UNUSED = timedelta(days=30)

# The offline cache a kiosk keeps (services.kiosk_offline): refreshed every few minutes while
# online, usable offline this long after it was fetched, then forgotten by the device.
OFFLINE_CACHE_HOURS = 24

# Unknown or revoked cards at one kiosk: after LIMIT of them within WINDOW the kiosk waits WAIT.
CARD_TRY_LIMIT = 5
CARD_TRY_WINDOW = timedelta(minutes=1)
CARD_TRY_WAIT = timedelta(minutes=1)

# Compound surnames (复姓) common enough to meet at a reading point; anything else has a
# one-character surname.
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "端木", "百里", "呼延", "南宫", "西门", "独孤", "申屠", "太史", "钟离",
    "闻人", "万俟", "澹台", "公冶", "濮阳", "淳于", "单于", "仲孙", "宗政", "拓跋", "赫连", "司空",
})


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def given_name(full_name: str) -> str:
    """The name a kiosk may say aloud: the given name only, never the surname.

    A Chinese name's surname is its first character, or its first two for a compound surname
    (欧阳娜娜 → 娜娜); a one- or two-character name whose surname would leave nothing keeps
    its last character. A name written in Latin letters ("Anna Li") keeps its first word.
    """
    name = "".join(full_name.split()) if all(_is_han(c) or c.isspace() for c in full_name) else full_name.strip()
    if not name:
        return ""
    if not _is_han(name[0]):
        return name.split()[0]
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[2:]
    if len(name) >= 2:
        return name[1:]
    return name


# ---------------------------------------------------------------- refusals

class NotYourPoint(RuleBroken):
    code = "not_your_point"
    message = "这台自助借书机只能在它所在的阅读点借还。"
    status = 403


class SelfServiceNotAllowed(RuleBroken):
    code = "self_service_not_allowed"
    message = "你还不能自己借书，请找老师帮忙。"
    status = 403


class OverdueBlocksSelfService(RuleBroken):
    code = "overdue_blocks_self_service"
    message = "你有一本书过了还书日期，请先还书，或找老师帮忙。"
    status = 403


class KioskOnlyLendsAndReturns(RuleBroken):
    code = "kiosk_only_lends_and_returns"
    message = "自助借书机只能借书和还书。"
    status = 403


class TooManyTries(RuleBroken):
    code = "too_many_tries"
    message = "刷错的卡太多了，请等一分钟再试，或找老师帮忙。"
    status = 429


class EnrolCodeInvalid(RuleBroken):
    code = "invalid_enrol_code"
    message = "这个登记码不对、已经用过或已经过期，请向图书管理员要一个新的。"
    status = 400


def check_kiosk_event(*, event_type: str, kiosk_point_id: int, event_point_id: int | None) -> None:
    """A kiosk lends and returns at its own point only."""
    if event_type not in ("loan", "return"):
        raise KioskOnlyLendsAndReturns()
    if event_point_id is None or event_point_id != kiosk_point_id:
        raise NotYourPoint()


def check_child_here(*, kiosk_point_id: int, home_point_id: int | None) -> None:
    """A kiosk reaches only the children of its own point (trust.md, data scope)."""
    if home_point_id != kiosk_point_id:
        raise NotYourPoint("这张借书卡不是这个阅读点的，请找老师帮忙。")


def check_self_service_loan(*, self_service: bool, overdue_count: int, overdue_blocks: bool) -> None:
    if not self_service:
        raise SelfServiceNotAllowed()
    if overdue_blocks and overdue_count > 0:
        raise OverdueBlocksSelfService()


@dataclass(frozen=True)
class CardTries:
    """Unknown cards seen by one kiosk: how many since ``started_at``, and a wait if any."""

    count: int
    started_at: datetime
    blocked_until: datetime | None


def check_not_blocked(tries: CardTries | None, now: datetime) -> None:
    if tries is not None and tries.blocked_until is not None and tries.blocked_until > now:
        seconds = int((tries.blocked_until - now).total_seconds()) + 1
        raise TooManyTries(retry_after=seconds)


def after_unknown_card(tries: CardTries | None, now: datetime) -> CardTries:
    """Count one more unknown card; the LIMIT-th within the window starts a wait."""
    if tries is None or now - tries.started_at > CARD_TRY_WINDOW:
        tries = CardTries(0, now, None)
    count = tries.count + 1
    blocked = now + CARD_TRY_WAIT if count >= CARD_TRY_LIMIT else None
    return CardTries(count, tries.started_at, blocked)


def long_unused(*, enrolled_at: datetime | None, last_seen_at: datetime | None, revoked: bool,
                now: datetime) -> bool:
    """An enrolled, live kiosk that has not been seen for LONG_UNUSED (lost, stolen, unplugged)."""
    if revoked or enrolled_at is None:
        return False
    return now - (last_seen_at or enrolled_at) >= LONG_UNUSED


def offline_loan_review(*, self_service: bool, overdue_count: int, overdue_blocks: bool) -> list[str]:
    """A kiosk loan recorded offline breaks a self-service rule: the child has left with the book,
    so it is lent and sent for review (as domain.loans does for a staff phone's offline loans)
    instead of refused. The reasons, in REVIEW_REASONS' words."""
    try:
        check_self_service_loan(self_service=self_service, overdue_count=overdue_count,
                                overdue_blocks=overdue_blocks)
    except SelfServiceNotAllowed:
        return ["kiosk_self_service_off"]
    except OverdueBlocksSelfService:
        return ["kiosk_overdue"]
    return []


def enrol_code_live(*, expires_at: datetime | None, used: bool, revoked: bool, now: datetime) -> bool:
    return expires_at is not None and expires_at > now and not used and not revoked
