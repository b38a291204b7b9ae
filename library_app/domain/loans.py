"""Loan rules: limits, due dates, renewals, implicit returns, who may act where, undo.

Pure functions over plain values (no Flask, no SQLAlchemy). The service reads the state
(copy, its open loan, the card and its borrower), asks a ``plan_*`` function what to do,
and writes what the plan says. Every refusal is an error named after the rule it breaks,
with a Chinese message that says what to do next.

Online and offline events differ in one way: an offline event describes something that
already happened (the child left with the book). Where the rule is about the borrower or
the copy (limit, suspended, revoked card, withdrawn copy), an offline loan is applied and
sent for review instead of refused, so no physical book goes untracked. Rules about
identity and authority (unknown codes, unbound cards, somebody else's point) refuse
always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from .errors import RuleBroken
from .roles import STAFF
from .settings import LibrarySettings
from .statuses import BorrowerStatus, CardStatus, CopyStatus

WEEKDAYS = "一二三四五六日"


# ---------------------------------------------------------------- errors

class UnknownCopy(RuleBroken):
    code = "unknown_copy"
    message = "没有这本书的记录：请核对标签编码；新书请先交给图书管理员登记。"
    status = 404


class UnknownCard(RuleBroken):
    code = "unknown_card"
    message = "没有这张借阅证的记录：请核对卡上的编码，或请图书管理员查一下。"
    status = 404


class UnknownPoint(RuleBroken):
    code = "unknown_point"
    message = "没有这个阅读点：请在扫码页重新选择阅读点。"
    status = 422


class PointInactive(RuleBroken):
    code = "point_inactive"
    message = "这个阅读点已停用，不能在这里借还；请选择其他阅读点。"


class NotYourPoint(RuleBroken):
    code = "not_your_point"
    message = "您不是这个阅读点的故事妈妈，不能在这里借还；请选择您负责的阅读点，或请图书管理员为您添加。"
    status = 403


class CardRevoked(RuleBroken):
    code = "card_revoked"
    message = "这张借阅证已挂失作废：请使用新借阅证；没有新卡请联系图书管理员补办。"


class CardUnbound(RuleBroken):
    code = "card_unbound"
    message = "这张借阅证还没有绑定小读者：请先在“小读者”页面为孩子登记并绑定这张卡。"


class BorrowerSuspended(RuleBroken):
    code = "borrower_suspended"
    message = "这位小读者的借阅已暂停，暂时不能借书；请联系图书管理员。"


class BorrowerLeft(RuleBroken):
    code = "borrower_left"
    message = "这位小读者已登记为离开，不能借书；如果孩子回来了，请图书管理员恢复。"


class LoanLimitReached(RuleBroken):
    code = "limit_reached"
    message = "已达到借书上限：请先归还一本再借。"


class CopyWithdrawn(RuleBroken):
    code = "copy_withdrawn"
    message = "这本书已注销，不能借出：请把书交给图书管理员。"


class CopyDamaged(RuleBroken):
    code = "copy_damaged"
    message = "这本书登记为损坏，不能借出：请把书交给图书管理员处理。"


class NotOnLoan(RuleBroken):
    code = "not_on_loan"
    message = "这本书现在没有借出，不能续借；要借出请先扫借阅证。"


class RenewalLimitReached(RuleBroken):
    code = "renew_limit"
    message = "已经续借过，不能再续借：请先归还，需要时再重新借出。"


class NothingToUndo(RuleBroken):
    code = "nothing_to_undo"
    message = "没有可以撤销的操作。"
    status = 409


class UndoExpired(RuleBroken):
    code = "undo_expired"
    message = "已超过可撤销的时间：请联系图书管理员更正。"
    status = 409


class NotYourEvent(RuleBroken):
    code = "not_your_event"
    message = "只能撤销您自己的操作：请联系图书管理员更正。"
    status = 403


class UndoBlocked(RuleBroken):
    code = "undo_blocked"
    message = "这本书之后又有了新的借还记录，不能撤销：请联系图书管理员更正。"
    status = 409


# ---------------------------------------------------------------- rules and state

@dataclass(frozen=True)
class LoanRules:
    """The circulation part of the settings (a librarian can change them)."""

    loan_limit: int = 3
    loan_days: int = 14
    max_renewals: int = 1
    undo_minutes: int = 10
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_settings(cls, s: LibrarySettings) -> LoanRules:
        return cls(loan_limit=s.loan_limit, loan_days=s.loan_days, max_renewals=s.max_renewals,
                   undo_minutes=s.undo_minutes, timezone=s.timezone)

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.timezone)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class CopyState:
    code: str
    status: str  # available / on_loan / lost / damaged / withdrawn
    title: str = ""


@dataclass(frozen=True)
class OpenLoan:
    id: int
    borrower_id: int | None
    lent_at: datetime
    due_at: datetime | None
    renewals: int = 0
    point_id: int | None = None
    borrower_name: str = ""


@dataclass(frozen=True)
class CardState:
    code: str
    status: str  # active / revoked / unbound
    borrower_id: int | None
    borrower_status: str = BorrowerStatus.ACTIVE  # active / suspended / left
    borrower_name: str = ""


REVIEW_REASONS: dict[str, str] = {
    "over_limit": "离线借出时超过了借书上限",
    "card_revoked": "离线借出时用了已挂失的借阅证",
    "borrower_suspended": "离线借给了已暂停借阅的小读者",
    "borrower_left": "离线借给了已登记离开的小读者",
    "copy_withdrawn": "离线借出了已注销的书",
    "copy_damaged": "离线借出了登记为损坏的书",
    "clash_other_point": "同一本书在两个阅读点离线先后借出",
    "loan_before_later_loan": "离线借出的时间早于这本书后来的一次借出",
    "return_crosses_loan": "离线归还的时间早于这本书后来的一次借出",
    "clock_future": "设备时间比服务器时间快太多，已按服务器收到的时间记录",
    "clock_past": "设备时间早于两个月前，手机时间可能被重置过，已按服务器收到的时间记录",
    "clock_before_card": "设备时间早于借阅证绑定的时间",
    "clock_before_copy": "设备时间早于这本书登记的时间",
    # the self-service kiosk offline (domain.kiosk.offline_loan_review; services.circulation.apply)
    "kiosk_self_service_off": "自助借书机离线借出时，这位小读者不能自助借书（设置可能刚被关掉）",
    "kiosk_overdue": "自助借书机离线借出时，这位小读者有过期未还的书",
    "kiosk_refused": "自助借书机离线借出的书没能记成借阅，但书已经被孩子拿走了：请找回这本书或补登记",
}


@dataclass(frozen=True)
class LoanPlan:
    """What a loan event does. ``action``:

    - ``lend``: open a loan (after closing ``open_loan`` as an implicit return if ``close_open``);
    - ``already_lent``: the copy is already on loan to this borrower: nothing changes;
    - ``backdate``: the event happened before the copy's current loan began (an offline
      phone syncing late): record it as a closed loan that ended when the later one began.
    """

    action: Literal["lend", "already_lent", "backdate"]
    close_open: bool = False
    due_at: datetime | None = None
    review: tuple[str, ...] = ()
    found: bool = False  # the copy was registered lost and is here again


@dataclass(frozen=True)
class ReturnPlan:
    action: Literal["return", "not_on_loan", "crosses_later_loan"]
    review: tuple[str, ...] = ()
    found: bool = False
    set_available: bool = False


@dataclass(frozen=True)
class RenewPlan:
    due_at: datetime
    renewals: int


@dataclass
class Verdict:
    """Collects review reasons while checking an offline event."""

    offline: bool
    review: list[str] = field(default_factory=list)

    def refuse_or_review(self, error: RuleBroken, reason: str) -> None:
        if not self.offline:
            raise error
        self.review.append(reason)


# ---------------------------------------------------------------- points

def check_point(*, role: str, point_id: int | None, point_active: bool, my_point_ids: frozenset[int],
                point_code: str = "") -> None:
    """A librarian or admin acts at any active point; a story mother only at her own."""
    if point_id is None:
        raise UnknownPoint(f"没有编号为 {point_code} 的阅读点：请在扫码页重新选择阅读点。" if point_code else None)
    if role not in STAFF and point_id not in my_point_ids:
        raise NotYourPoint(
            f"您不是阅读点 {point_code} 的故事妈妈，不能在这里借还；请选择您负责的阅读点，或请图书管理员为您添加。"
            if point_code else None)
    if not point_active:
        raise PointInactive()


# ---------------------------------------------------------------- dates

def end_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)


def due_date(lent_at: datetime, rules: LoanRules) -> datetime:
    """Due at the end of the local day ``loan_days`` after the loan (so the date is what counts)."""
    local_day = lent_at.astimezone(rules.tz).date()
    return end_of_local_day(local_day + timedelta(days=rules.loan_days), rules.tz)


def days_overdue(due_at: datetime | None, now: datetime, tz: ZoneInfo) -> int:
    """Whole local days past the due date (0 if not overdue)."""
    if due_at is None or now <= due_at:
        return 0
    return max(1, (now.astimezone(tz).date() - due_at.astimezone(tz).date()).days)


def date_in_words(when: datetime, tz: ZoneInfo) -> str:
    d = when.astimezone(tz)
    return f"{d.month}月{d.day}日（星期{WEEKDAYS[d.weekday()]}）"


def due_in_words(due_at: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    """“12月13日（星期六），还有 14 天” / “今天” / “已逾期 3 天”."""
    if due_at is None:
        return ""
    days = (due_at.astimezone(tz).date() - now.astimezone(tz).date()).days
    words = date_in_words(due_at, tz)
    if days > 1:
        return f"{words}，还有 {days} 天"
    if days == 1:
        return f"{words}，就是明天"
    if days == 0:
        return f"{words}，就是今天"
    return f"{words}，已逾期 {-days} 天"


# ---------------------------------------------------------------- plans

def check_card(card: CardState | None, verdict: Verdict) -> CardState:
    if card is None:
        raise UnknownCard()
    if card.status == CardStatus.REVOKED:
        if card.borrower_id is None:
            raise CardRevoked()
        verdict.refuse_or_review(CardRevoked(), "card_revoked")
    elif card.borrower_id is None or card.status == CardStatus.UNBOUND:
        raise CardUnbound()
    if card.borrower_status == BorrowerStatus.SUSPENDED:
        verdict.refuse_or_review(BorrowerSuspended(), "borrower_suspended")
    elif card.borrower_status == BorrowerStatus.LEFT:
        verdict.refuse_or_review(BorrowerLeft(), "borrower_left")
    return card


def plan_loan(*, copy: CopyState | None, card: CardState | None, open_loan: OpenLoan | None,
              open_count: int, at: datetime, point_id: int, rules: LoanRules,
              offline: bool = False) -> LoanPlan:
    """Decide what a loan of ``copy`` to ``card``'s borrower at time ``at`` does."""
    if copy is None:
        raise UnknownCopy()
    verdict = Verdict(offline)
    card = check_card(card, verdict)
    if open_loan is not None and open_loan.borrower_id == card.borrower_id:
        # A double tap, or the camera seeing the code twice: never lend twice, never return it.
        return LoanPlan("already_lent")
    if copy.status == CopyStatus.WITHDRAWN:
        verdict.refuse_or_review(CopyWithdrawn(), "copy_withdrawn")
    elif copy.status == CopyStatus.DAMAGED:
        verdict.refuse_or_review(CopyDamaged(), "copy_damaged")
    if open_loan is not None and open_loan.lent_at > at:
        return LoanPlan("backdate", review=tuple(verdict.review) + ("loan_before_later_loan",))
    if open_count >= rules.loan_limit:
        name = card.borrower_name or "这位小读者"
        verdict.refuse_or_review(
            LoanLimitReached(f"{name}已借 {open_count} 本，达到上限 {rules.loan_limit} 本：请先归还一本再借。"),
            "over_limit")
    close_open = open_loan is not None
    if close_open and offline and open_loan is not None and open_loan.point_id not in (None, point_id):
        verdict.review.append("clash_other_point")
    return LoanPlan("lend", close_open=close_open, due_at=due_date(at, rules),
                    review=tuple(verdict.review), found=copy.status == CopyStatus.LOST)


def plan_return(*, copy: CopyState | None, open_loan: OpenLoan | None, at: datetime) -> ReturnPlan:
    """A return: close the open loan; a copy not on loan is simply here (and available)."""
    if copy is None:
        raise UnknownCopy()
    if open_loan is None:
        return ReturnPlan("not_on_loan", found=copy.status == CopyStatus.LOST,
                          set_available=copy.status in (CopyStatus.ON_LOAN, CopyStatus.LOST))
    if open_loan.lent_at > at:
        # The return happened before the current loan began: it belongs to an earlier loan.
        # Closing the current one would say a child returned a book she still has.
        return ReturnPlan("crosses_later_loan", review=("return_crosses_loan",))
    return ReturnPlan("return")


def plan_renew(*, copy: CopyState | None, open_loan: OpenLoan | None, at: datetime,
               rules: LoanRules) -> RenewPlan:
    """Renew: the new due date counts ``loan_days`` from today or from the due date, whichever is later."""
    if copy is None:
        raise UnknownCopy()
    if open_loan is None or open_loan.lent_at > at:
        raise NotOnLoan()
    if open_loan.renewals >= rules.max_renewals:
        if rules.max_renewals == 0:
            raise RenewalLimitReached("这里的规则不允许续借：请先归还，需要时再重新借出。")
        raise RenewalLimitReached(
            f"已经续借过 {open_loan.renewals} 次，最多 {rules.max_renewals} 次：请先归还，需要时再重新借出。")
    tz = rules.tz
    base = at.astimezone(tz).date()
    if open_loan.due_at is not None:
        base = max(base, open_loan.due_at.astimezone(tz).date())
    return RenewPlan(due_at=end_of_local_day(base + timedelta(days=rules.loan_days), tz),
                     renewals=open_loan.renewals + 1)


def check_undo(*, event_type: str, event_status: str, event_actor_id: int | None,
               received_at: datetime, undone_at: datetime | None, actor_id: int, role: str,
               now: datetime, rules: LoanRules) -> None:
    """A story mother may undo her own loan or return within ``undo_minutes``; staff anyone's."""
    if undone_at is not None:
        raise NothingToUndo("这次操作已经撤销过了。")
    if event_status not in ("applied", "review"):
        raise NothingToUndo("这次操作没有改变任何记录，不需要撤销。")
    if event_type not in ("loan", "return"):
        raise NothingToUndo("只能撤销借出或归还；续借请联系图书管理员更正。")
    if role not in STAFF and event_actor_id != actor_id:
        raise NotYourEvent()
    if now - received_at > timedelta(minutes=rules.undo_minutes):
        raise UndoExpired(f"只能在 {rules.undo_minutes} 分钟内撤销：请联系图书管理员更正。")


def remaining(open_count: int, rules: LoanRules) -> int:
    return max(0, rules.loan_limit - open_count)
