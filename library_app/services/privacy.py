"""A child's data on request (PIPL art. 45, 47): export it, erase it, and anonymise who left.

Erasure anonymises the borrower row (name, birth year, school, guardian gone), revokes the card
and scrubs the child's name and guardian's name and phone from every other table's text and JSON
(audit details, circulation messages, review notes, …). Loans keep their rows and their
borrower id, so every report counts the same before and after.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, cast, or_, select, update
from sqlalchemy.orm import Session

from library_app.domain.borrowers import (
    ANONYMOUS_NAME,
    BORROWER_STATUSES,
    BORROWER_TYPES,
    CARD_STATUSES,
    BorrowerAnonymised,
    csv_safe,
    months_before,
    scrub_text,
    scrub_value,
    secrets_of,
)
from library_app.domain.statuses import BorrowerStatus, CardStatus
from library_app.models import AuditLog, Base, Borrower, Copy, Loan, Point, Title, User

from . import audit

# Tables whose text belongs to someone else (staff accounts) or is not free text.
_NOT_SCRUBBED = {"users", "api_tokens", "borrowers", "alembic_version"}
_MATCHES_PER_QUERY = 200


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


# ---------------------------------------------------------------- export

def export_data(session: Session, actor: User, now: datetime, borrower: Borrower, fmt: str) -> dict[str, Any]:
    """Everything the system holds about one child, and a log line saying who exported it."""
    if borrower.anonymised_at is not None:
        raise BorrowerAnonymised()
    consent_by = session.get(User, borrower.consent_by_id) if borrower.consent_by_id else None
    loans = session.execute(
        select(Loan, Copy.code, Title.title, Point.code)
        .outerjoin(Copy, Copy.id == Loan.copy_id)
        .outerjoin(Title, Title.id == Loan.title_id)
        .join(Point, Point.id == Loan.point_id)
        .where(Loan.borrower_id == borrower.id, Loan.undone_at.is_(None))
        .order_by(Loan.lent_at)
    ).all()
    views = session.execute(
        select(AuditLog.at, AuditLog.action, User.username)
        .outerjoin(User, User.id == AuditLog.actor_id)
        .where(AuditLog.target_type == "borrower", AuditLog.target_id == str(borrower.id))
        .order_by(AuditLog.at, AuditLog.id)
    ).all()
    data = {
        "exported_at": now.isoformat(),
        "borrower": {
            "id": borrower.id, "type": borrower.type, "name": borrower.name,
            "birth_year": borrower.birth_year, "school": borrower.school, "grade": borrower.grade,
            "guardian_name": borrower.guardian_name, "guardian_phone": borrower.guardian_phone,
            "point": borrower.home_point.code, "status": borrower.status,
            "consent_at": _iso(borrower.consent_at),
            "consent_by": consent_by.username if consent_by else None,
            "created_at": _iso(borrower.created_at), "left_at": _iso(borrower.left_at),
        },
        "cards": [
            {"code": c.code, "status": c.status, "bound_at": _iso(c.bound_at),
             "revoked_at": _iso(c.revoked_at)} for c in borrower.cards
        ],
        "loans": [
            {"copy": copy_code, "title": title, "point": point, "lent_at": _iso(loan.lent_at),
             "due_at": _iso(loan.due_at), "returned_at": _iso(loan.returned_at),
             "renewals": loan.renewals}
            for loan, copy_code, title, point in loans
        ],
        "access_log": [
            {"at": _iso(at), "action": action, "by": username} for at, action, username in views
        ],
    }
    audit.record(session, actor, now, "borrower.export", "borrower", borrower.id,
                 point_id=borrower.home_point_id, format=fmt)
    return data


_PROFILE_LABELS = [
    ("id", "编号"), ("type", "类型"), ("name", "姓名"), ("birth_year", "出生年份"),
    ("school", "学校"), ("grade", "年级"), ("guardian_name", "监护人"),
    ("guardian_phone", "监护人电话"), ("point", "阅读点"), ("status", "状态"),
    ("consent_at", "监护人同意时间"), ("consent_by", "同意记录人"), ("created_at", "登记时间"),
    ("left_at", "离开时间"),
]


def export_csv(data: dict[str, Any]) -> str:
    """The export as one CSV (UTF-8 with BOM so Excel reads the Chinese): profile, cards, loans."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)

    def row(*cells: object) -> None:
        w.writerow([csv_safe(c) for c in cells])

    person = dict(data["borrower"])
    person["type"] = BORROWER_TYPES.get(person["type"], person["type"])
    person["status"] = BORROWER_STATUSES.get(person["status"], person["status"])
    row("项目", "内容")
    for key, label in _PROFILE_LABELS:
        row(label, person.get(key))
    row()
    row("借阅证", "状态", "绑定时间", "作废时间")
    for c in data["cards"]:
        row(c["code"], CARD_STATUSES.get(c["status"], c["status"]), c["bound_at"], c["revoked_at"])
    row()
    row("图书编码", "书名", "阅读点", "借出时间", "应还日期", "归还时间", "续借次数")
    for loan in data["loans"]:
        row(loan["copy"], loan["title"], loan["point"], loan["lent_at"], loan["due_at"],
            loan["returned_at"], loan["renewals"])
    row()
    row("访问时间", "操作", "操作人")
    for entry in data["access_log"]:
        row(entry["at"], entry["action"], entry["by"])
    return out.getvalue()


# ---------------------------------------------------------------- erasure

def _text_columns(table: Any) -> list[Any]:
    return [c for c in table.columns if isinstance(c.type, (String, Text, JSON))
            or isinstance(getattr(c.type, "impl", None), (String, Text, JSON))]


def _rows_matching(session: Session, pk: list[Any], columns: list[Any],
                   secrets: Sequence[str]) -> list[Any]:
    """Rows of one table where some text column holds a secret: one SQL query when the secrets
    are few (one erasure), one streamed pass with a regular expression when they are many
    (anonymise-left of hundreds: a WHERE with thousands of LIKEs would mean many scans)."""
    query = select(*pk, *columns)
    if len(columns) * len(secrets) <= _MATCHES_PER_QUERY:
        matches = [cast(col, Text).contains(secret, autoescape=True)
                   for col in columns for secret in secrets]
        return list(session.execute(query.where(or_(*matches))).all())
    pattern = re.compile("|".join(re.escape(s) for s in secrets))

    def holds(value: Any) -> bool:
        if isinstance(value, str):
            return pattern.search(value) is not None
        if isinstance(value, (dict, list)):
            return (pattern.search(json.dumps(value, ensure_ascii=False)) is not None
                    or pattern.search(json.dumps(value)) is not None)
        return False

    return [row for row in session.execute(query.execution_options(yield_per=5000))
            if any(holds(v) for v in row[len(pk):])]


def scrub_everywhere(session: Session, secrets: Sequence[str]) -> int:
    """Replace each secret in every text and JSON column of every table but the excluded ones.
    Returns the number of rows changed."""
    if not secrets:
        return 0
    changed = 0
    for table in Base.metadata.sorted_tables:
        if table.name in _NOT_SCRUBBED:
            continue
        columns = _text_columns(table)
        pk = list(table.primary_key.columns)
        if not columns or not pk:
            continue
        for found in _rows_matching(session, pk, columns, secrets):
            keys = found[:len(pk)]
            values = {}
            for col, value in zip(columns, found[len(pk):], strict=True):
                if value is None:
                    continue
                new = scrub_value(value, secrets) if isinstance(value, (dict, list)) \
                    else scrub_text(str(value), secrets) if isinstance(value, str) else value
                if new != value:
                    values[col.name] = new
            if values:
                session.execute(
                    update(table).where(*[c == k for c, k in zip(pk, keys, strict=True)])
                    .values(**values)
                )
                changed += 1
    return changed


def erase_borrowers(
    session: Session, actor: User | None, now: datetime, borrowers: Sequence[Borrower], reason: str,
) -> list[int]:
    """Anonymise these borrowers; their loans stay (with the borrower id) so counts stay right."""
    todo = [b for b in borrowers if b.anonymised_at is None]
    secrets = secrets_of(
        value for b in todo for value in (b.name, b.guardian_name, b.guardian_phone, b.school)
    )
    for b in todo:
        b.name = ANONYMOUS_NAME
        b.search_pinyin = b.search_initials = ""
        b.birth_year = None
        b.school = b.grade = ""
        b.guardian_name = b.guardian_phone = ""
        if b.status != BorrowerStatus.LEFT:
            b.status = BorrowerStatus.LEFT
            b.left_at = b.left_at or now
        b.anonymised_at = now
        for card in b.cards:
            if card.status == CardStatus.ACTIVE:
                card.status = CardStatus.REVOKED
                card.revoked_at = now
    session.flush()
    scrub_everywhere(session, secrets)
    for b in todo:
        audit.record(session, actor, now, "borrower.erase", "borrower", b.id,
                     point_id=b.home_point_id, reason=reason)
    session.flush()
    return [b.id for b in todo]


def erase_borrower(session: Session, actor: User, now: datetime, borrower: Borrower) -> None:
    """Erasure on request (PIPL art. 47): the child becomes 已匿名 everywhere."""
    if borrower.anonymised_at is not None:
        raise BorrowerAnonymised("该借阅人的信息已经匿名化了。")
    erase_borrowers(session, actor, now, [borrower], "request")


def retention_cutoff(now: datetime, months: int) -> datetime:
    year, month = months_before(now.year, now.month, months)
    day = min(now.day, calendar.monthrange(year, month)[1])
    return now.replace(year=year, month=month, day=day)


def anonymise_left(session: Session, now: datetime, months: int, *, dry_run: bool = False) -> list[int]:
    """Anonymise every borrower who left more than ``months`` months before ``now``."""
    if months < 0:
        raise ValueError("months must not be negative")
    cutoff = retention_cutoff(now, months)
    due = list(session.scalars(
        select(Borrower).where(Borrower.status == BorrowerStatus.LEFT, Borrower.anonymised_at.is_(None),
                               Borrower.left_at.is_not(None), Borrower.left_at < cutoff)
        .order_by(Borrower.id)
    ))
    if dry_run or not due:
        return [b.id for b in due]
    return erase_borrowers(session, None, now, due, f"left>{months}m")
