"""Borrowers (小读者): register with consent, find, see (logged), edit, suspend, mark as left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from library_app.domain.borrowers import (
    BorrowerAnonymised,
    NotYourPoint,
    check_borrower_transition,
    check_details,
    check_may_act_on,
    check_may_register_at,
    check_registration,
    history_limit,
    is_likely_duplicate,
)
from library_app.domain.codes import parse_code
from library_app.domain.errors import InvalidCode
from library_app.domain.roles import is_point_bound
from library_app.domain.statuses import BorrowerStatus
from library_app.domain.text import pinyin_keys, search_text
from library_app.models import AuditLog, Borrower, Card, Copy, Loan, Point, Title, User

from . import audit, cards
from .errors import Invalid, NotFound
from .paging import Page
from .points import get_point, working_points

PER_PAGE = 30


# ---------------------------------------------------------------- access

def own_point_codes(actor: User) -> list[str]:
    return actor.point_codes()


def check_access(actor: User, borrower: Borrower) -> None:
    """403 unless this user may see and act on this child (story mothers: own points only)."""
    check_may_act_on(actor.role, own_point_codes(actor), borrower.home_point.code)


def get_borrower(session: Session, actor: User, borrower_id: int) -> Borrower:
    borrower = session.get(Borrower, borrower_id)
    if borrower is None:
        raise NotFound("找不到这位小读者。")
    check_access(actor, borrower)
    return borrower


def points_for_registration(session: Session, actor: User) -> list[Point]:
    """Where this user may register a child: her own points, or every active point for staff."""
    return working_points(session, actor)


# ---------------------------------------------------------------- registration

def find_duplicates(
    session: Session, name: str, phone: str, exclude_id: int | None = None
) -> list[Borrower]:
    """Borrowers who are likely the same person: same name and same guardian phone."""
    clean = "".join((name or "").split())
    if not clean:
        return []
    q = select(Borrower).where(
        func.replace(Borrower.name, " ", "") == clean, Borrower.anonymised_at.is_(None)
    )
    if exclude_id is not None:
        q = q.where(Borrower.id != exclude_id)
    return [b for b in session.scalars(q) if is_likely_duplicate(name, phone, b.name, b.guardian_phone)]


def register_borrower(
    session: Session, actor: User, now: datetime, *, point_code: str, consent: object,
    name: object, type: object = "child", birth_year: object = None, guardian_name: object = "",
    guardian_phone: object = "", school: object = "", grade: object = "",
    card_code: str | None = None,
) -> tuple[Borrower, Card]:
    """Register a child (or adult) at a point with the guardian's consent, and give a card:
    a new one, or the pre-printed ``card_code`` bound to this child (once only)."""
    reg = check_registration(
        name=name, type=type, birth_year=birth_year, guardian_name=guardian_name,
        guardian_phone=guardian_phone, consent=consent, school=school, grade=grade,
        this_year=now.year,
    )
    point = get_point(session, point_code) if point_code else None
    if point is None:
        raise Invalid("请选择小读者所属的阅读点。")
    check_may_register_at(actor.role, own_point_codes(actor), point.code)
    if not point.active:
        raise Invalid(f"阅读点 {point.code} 已停用，不能在这里登记。")
    blank: Card | None = None
    if card_code:
        blank = cards.find_card(session, card_code)
        cards.check_bindable(blank)
    full, initials = pinyin_keys(reg.name)
    borrower = Borrower(
        type=reg.type, name=reg.name, search_pinyin=full[:255], search_initials=initials[:64],
        birth_year=reg.birth_year, school=reg.school, grade=reg.grade,
        guardian_name=reg.guardian_name, guardian_phone=reg.guardian_phone,
        home_point_id=point.id, consent_at=now, consent_by_id=actor.id, status=BorrowerStatus.ACTIVE,
        created_at=now, created_by_id=actor.id,
    )
    session.add(borrower)
    session.flush()
    audit.record(session, actor, now, "borrower.create", "borrower", borrower.id,
                 point_id=point.id, consent_by=actor.username)
    if blank is not None:
        card = cards.bind_card(session, actor, now, blank, borrower)
    else:
        card = cards.new_card(session, now, borrower)
        audit.record(session, actor, now, "card.issue", "borrower", borrower.id,
                     point_id=point.id, card=card.code, revoked=None)
    session.refresh(borrower, ["cards", "home_point"])
    return borrower, card


def update_borrower(
    session: Session, actor: User, now: datetime, borrower: Borrower, *, name: object,
    type: object, birth_year: object, guardian_name: object, guardian_phone: object,
    point_code: str, school: object = "", grade: object = "",
) -> Borrower:
    if borrower.anonymised_at is not None:
        raise BorrowerAnonymised()
    reg = check_details(name=name, type=type, birth_year=birth_year, guardian_name=guardian_name,
                        guardian_phone=guardian_phone, school=school, grade=grade,
                        this_year=now.year)
    point = get_point(session, point_code)
    check_may_register_at(actor.role, own_point_codes(actor), point.code)
    changed = sorted(
        key for key, old, new in (
            ("name", borrower.name, reg.name), ("type", borrower.type, reg.type),
            ("birth_year", borrower.birth_year, reg.birth_year),
            ("guardian_name", borrower.guardian_name, reg.guardian_name),
            ("guardian_phone", borrower.guardian_phone, reg.guardian_phone),
            ("school", borrower.school, reg.school), ("grade", borrower.grade, reg.grade),
            ("point", borrower.home_point_id, point.id),
        ) if old != new
    )
    full, initials = pinyin_keys(reg.name)
    borrower.name, borrower.type, borrower.birth_year = reg.name, reg.type, reg.birth_year
    borrower.search_pinyin, borrower.search_initials = full[:255], initials[:64]
    borrower.guardian_name, borrower.guardian_phone = reg.guardian_name, reg.guardian_phone
    borrower.school, borrower.grade = reg.school, reg.grade
    borrower.home_point_id = point.id
    session.flush()
    session.refresh(borrower, ["home_point"])
    # Which fields changed, never their values: the audit log holds no personal data.
    audit.record(session, actor, now, "borrower.update", "borrower", borrower.id,
                 point_id=point.id, fields=changed)
    return borrower


def set_status(session: Session, actor: User, now: datetime, borrower: Borrower, status: str) -> Borrower:
    """Suspend, reactivate or mark as left (the retention clock starts when a child leaves)."""
    if borrower.anonymised_at is not None:
        raise BorrowerAnonymised()
    check_borrower_transition(borrower.status, status)
    old = borrower.status
    borrower.status = status
    if status == BorrowerStatus.LEFT:
        borrower.left_at = now
    elif status == BorrowerStatus.ACTIVE:
        borrower.left_at = None
    session.flush()
    audit.record(session, actor, now, "borrower.status", "borrower", borrower.id,
                 point_id=borrower.home_point_id, old=old, new=status)
    return borrower


def record_view(session: Session, actor: User, now: datetime, borrower: Borrower, *,
                ip: str = "", via: str = "page") -> None:
    """Every look at a child's page is logged: who, when, which child (trust.md)."""
    audit.record(session, actor, now, "borrower.view", "borrower", borrower.id,
                 point_id=borrower.home_point_id, ip=ip, via=via)


# ---------------------------------------------------------------- search

def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_borrowers(
    session: Session, actor: User, *, q: str = "", point_code: str = "", status: str = "",
    page: int = 1, per_page: int = PER_PAGE,
) -> Page:
    """By name, pinyin (full or initials, of the whole name or the given name alone), card code,
    the last 4 digits of the guardian's phone; filtered by point and status.
    A story mother finds only the children of her own points."""
    query = select(Borrower).where(Borrower.anonymised_at.is_(None))
    if is_point_bound(actor.role):
        own = own_point_codes(actor)
        if point_code and point_code not in own:
            raise NotYourPoint("您只能查看自己负责的阅读点的小读者。")
        query = query.join(Point, Point.id == Borrower.home_point_id).where(
            Point.code.in_([point_code] if point_code else own or ["-"])
        )
    elif point_code:
        query = query.join(Point, Point.id == Borrower.home_point_id).where(Point.code == point_code)
    if status:
        query = query.where(Borrower.status == status)
    text = search_text(q)
    if text:
        conditions = [Borrower.name.contains(text, autoescape=True)]
        compact = text.replace(" ", "").replace("-", "").lower()
        if compact.isdigit() and (len(compact) == 4 or (len(compact) >= 7 and actor.role != "story_mother")):
            # a child without her card: the last 4 digits of a guardian's phone (phones are
            # stored as digits); staff, who see whole numbers, may type the whole number
            conditions.append(Borrower.guardian_phone.endswith(compact, autoescape=True))
        elif compact.isascii():
            conditions.append(Borrower.search_pinyin.startswith(compact, autoescape=True))
            conditions.append(Borrower.search_initials.startswith(compact, autoescape=True))
            if len(compact) >= 2 and compact.isalpha():
                # the given name alone: 王小明 ← "xiaoming" (inside the full pinyin) or "xm"
                # (the initials after a one- or two-character surname)
                conditions.append(Borrower.search_pinyin.contains(compact, autoescape=True))
                escaped = _escape_like(compact)
                conditions.append(Borrower.search_initials.like(f"_{escaped}%", escape="\\"))
                conditions.append(Borrower.search_initials.like(f"__{escaped}%", escape="\\"))
        try:
            code = parse_code(text, expect="card").code
        except InvalidCode:
            code = None
        if code is not None:
            holder = session.scalar(select(Card.borrower_id).where(Card.code == code))
            if holder is not None:
                conditions.append(Borrower.id == holder)
        query = query.where(or_(*conditions))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    items = list(session.scalars(
        query.options(selectinload(Borrower.cards), selectinload(Borrower.home_point))
        .order_by(Borrower.search_pinyin, Borrower.id)
        .offset((page - 1) * per_page).limit(per_page)
    ))
    return Page(items=items, number=page, per_page=per_page, total=int(total))


# ---------------------------------------------------------------- loans on a borrower's page

@dataclass(frozen=True)
class LoanLine:
    id: int
    copy_code: str
    title: str
    point_code: str
    lent_at: datetime
    due_at: datetime | None
    returned_at: datetime | None
    overdue: bool
    renewals: int


@dataclass
class LoansOverview:
    open: list[LoanLine]
    history: list[LoanLine]
    history_total: int
    overdue: int
    total_loans: int


def loans_overview(session: Session, actor: User, now: datetime, borrower: Borrower) -> LoansOverview:
    """Open loans with due dates, the history (last few for a story mother), overdue count."""
    base = (
        select(Loan.id, Copy.code, Title.title, Point.code, Loan.lent_at, Loan.due_at,
               Loan.returned_at, Loan.renewals)
        .outerjoin(Copy, Copy.id == Loan.copy_id)
        .outerjoin(Title, Title.id == Loan.title_id)
        .join(Point, Point.id == Loan.point_id)
        .where(Loan.borrower_id == borrower.id, Loan.undone_at.is_(None))
    )

    def line(row: Any) -> LoanLine:
        due = row[5]
        return LoanLine(
            id=row[0], copy_code=row[1] or "", title=row[2] or "（未知书目）", point_code=row[3],
            lent_at=row[4], due_at=due, returned_at=row[6],
            overdue=row[6] is None and due is not None and due < now, renewals=row[7],
        )

    open_lines = [line(r) for r in session.execute(
        base.where(Loan.returned_at.is_(None)).order_by(Loan.due_at, Loan.id))]
    limit = history_limit(actor.role) or 200
    history = [line(r) for r in session.execute(
        base.where(Loan.returned_at.is_not(None)).order_by(Loan.lent_at.desc(), Loan.id.desc())
        .limit(limit))]
    history_total = session.scalar(
        select(func.count(Loan.id)).where(Loan.borrower_id == borrower.id,
                                          Loan.undone_at.is_(None), Loan.returned_at.is_not(None))
    ) or 0
    return LoansOverview(
        open=open_lines, history=history, history_total=int(history_total),
        overdue=sum(1 for x in open_lines if x.overdue),
        total_loans=len(open_lines) + int(history_total),
    )


ACTION_NAMES = {
    "borrower.view": "查看", "borrower.export": "导出", "borrower.create": "登记",
    "borrower.update": "修改", "borrower.status": "改状态", "borrower.erase": "匿名化",
    "card.issue": "发证", "card.bind": "绑定借阅证",
}


def access_log(session: Session, borrower: Borrower, limit: int = 30) -> list[tuple[datetime, str, str]]:
    """The latest (when, who, what) about this child: views, exports, changes (for admins)."""
    rows = session.execute(
        select(AuditLog.at, func.coalesce(func.nullif(User.display_name, ""), User.username),
               AuditLog.action, AuditLog.details)
        .outerjoin(User, User.id == AuditLog.actor_id)
        .where(AuditLog.target_type == "borrower", AuditLog.target_id == str(borrower.id))
        .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
    ).all()
    out = []
    for at, who, action, details in rows:
        what = ACTION_NAMES.get(action, action)
        via = (details or {}).get("via")
        if action == "borrower.view" and via and via != "page":
            what += {"card": "（借阅证页）", "api": "（接口）", "card_image": "（借阅证图片）",
                     "scan": "（扫借阅证）", "scan_copy": "（扫书）", "copy_page": "（书的页面）",
                     "api_copy": "（接口）", "overdue": "（逾期名单）"}.get(via, "")
        out.append((at, who or "系统", what))
    return out
