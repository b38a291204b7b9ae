"""Rules about borrowers (小读者) and their cards (借阅证). No Flask, no SQLAlchemy.

- Who may see or act on which child: staff anywhere, a story mother only at her own points,
  a viewer never (no personal data at all).
- What a registration needs (the minimum of product.md, and the guardian's consent: PIPL art. 31).
- When two registrations are likely the same child (same name and guardian phone).
- Which card and borrower states may follow which.
- How a child's personal data is scrubbed from free text and JSON on erasure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import RuleBroken
from .roles import LIBRARIANS, PERSONAL_DATA, is_point_bound
from .statuses import BorrowerStatus, CardStatus

BORROWER_TYPES = {"child": "儿童", "adult": "成人"}
BORROWER_STATUSES: dict[str, str] = {
    BorrowerStatus.ACTIVE: "正常", BorrowerStatus.SUSPENDED: "暂停借阅", BorrowerStatus.LEFT: "已离开"}
CARD_STATUSES: dict[str, str] = {
    CardStatus.ACTIVE: "有效", CardStatus.REVOKED: "已作废", CardStatus.UNBOUND: "未绑定"}
ANONYMOUS_NAME = "（已匿名）"
SCRUBBED = "***"


# ---------------------------------------------------------------- refusals

class ConsentRequired(RuleBroken):
    code = "consent_required"
    message = "登记未满 14 岁儿童的信息需要监护人同意：请先征得监护人同意并勾选“监护人已同意”。"
    status = 422


class InvalidBorrower(RuleBroken):
    code = "invalid_borrower"
    message = "借阅人信息有误，请检查后重试。"
    status = 422


class NotYourPoint(RuleBroken):
    code = "not_your_point"
    message = "这位小读者不属于您负责的阅读点，您不能查看或操作。"
    status = 403


class NoPersonalData(RuleBroken):
    code = "forbidden"
    message = "您的角色不能查看小读者的个人信息。"
    status = 403


class CardRevoked(RuleBroken):
    code = "card_revoked"
    message = "这张借阅证已作废（挂失或换新），不能使用。请使用新证，或请图书管理员补办。"
    status = 409


class CardAlreadyBound(RuleBroken):
    code = "card_already_bound"
    message = "这张借阅证已经绑定给一位小读者，不能再次绑定。"
    status = 409


class CardNotUnbound(RuleBroken):
    code = "card_not_unbound"
    message = "这张借阅证不是空白证，不能绑定。"
    status = 409


class BadTransition(RuleBroken):
    code = "bad_transition"
    message = "不能进行这个状态变更。"
    status = 409


class BorrowerAnonymised(RuleBroken):
    code = "borrower_anonymised"
    message = "该借阅人的信息已匿名化，不能再修改或导出。"
    status = 409


# ---------------------------------------------------------------- who may see which child

def may_see_personal_data(role: str) -> bool:
    return role in PERSONAL_DATA


def check_may_act_on(role: str, own_points: Sequence[str], point_code: str) -> None:
    """Staff act on any child; a story mother or point lead only on children of her points;
    viewers on none."""
    if not may_see_personal_data(role):
        raise NoPersonalData()
    if is_point_bound(role) and point_code not in own_points:
        raise NotYourPoint()


def check_may_register_at(role: str, own_points: Sequence[str], point_code: str) -> None:
    if not may_see_personal_data(role):
        raise NoPersonalData()
    if is_point_bound(role) and point_code not in own_points:
        raise NotYourPoint("您只能在自己负责的阅读点登记小读者。")


def phone_masked_for(role: str) -> bool:
    """Story mothers see guardian phones masked everywhere (138****5678); staff and a point lead
    (who calls her own points' families, the only ones she sees) see them whole."""
    return role not in LIBRARIANS


def history_limit(role: str) -> int | None:
    """A story mother sees the last few loans of a child; staff see the whole history."""
    return 5 if role == "story_mother" else None


# ---------------------------------------------------------------- registration

@dataclass(frozen=True)
class Registration:
    name: str
    type: str
    birth_year: int | None
    guardian_name: str
    guardian_phone: str
    school: str = ""
    grade: str = ""


def _clean(value: object, limit: int, label: str) -> str:
    text = " ".join(str(value or "").split())
    if len(text) > limit:
        raise InvalidBorrower(f"{label}太长了（不超过 {limit} 个字）。")
    return text


def normalise_phone(raw: object) -> str:
    """Digits only, with a leading + kept; a Chinese +86/0086 prefix dropped."""
    text = str(raw or "").strip()
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif text.startswith("+86") or (digits.startswith("86") and len(digits) == 13):
        digits = digits[2:]
    return digits


def check_registration(
    *, name: object, type: object = "child", birth_year: object = None,
    guardian_name: object = "", guardian_phone: object = "", consent: object = False,
    school: object = "", grade: object = "", this_year: int,
) -> Registration:
    """The cleaned fields of a registration, or the first rule it breaks (consent first)."""
    if consent is not True:
        raise ConsentRequired()
    return check_details(name=name, type=type, birth_year=birth_year, guardian_name=guardian_name,
                         guardian_phone=guardian_phone, school=school, grade=grade,
                         this_year=this_year)


def check_details(
    *, name: object, type: object, birth_year: object, guardian_name: object,
    guardian_phone: object, school: object = "", grade: object = "", this_year: int,
) -> Registration:
    clean_name = _clean(name, 64, "姓名")
    if not clean_name:
        raise InvalidBorrower("请填写小读者的姓名。")
    kind = str(type or "child")
    if kind not in BORROWER_TYPES:
        raise InvalidBorrower("借阅人类型只能是儿童或成人。")
    year: int | None = None
    if birth_year not in (None, ""):
        try:
            year = int(str(birth_year).strip())
        except ValueError as exc:
            raise InvalidBorrower("出生年份应为四位数字，例如 2017。") from exc
        if not this_year - 100 <= year <= this_year:
            raise InvalidBorrower(f"出生年份应在 {this_year - 100} 到 {this_year} 之间。")
    phone = normalise_phone(guardian_phone)
    if str(guardian_phone or "").strip() and not 7 <= len(phone) <= 15:
        raise InvalidBorrower("监护人电话应为 7 到 15 位数字，例如 13812345678。")
    return Registration(
        name=clean_name, type=kind, birth_year=year,
        guardian_name=_clean(guardian_name, 64, "监护人姓名"), guardian_phone=phone,
        school=_clean(school, 100, "学校"), grade=_clean(grade, 32, "年级"),
    )


def same_person_key(name: str, phone: str) -> tuple[str, str]:
    return ("".join((name or "").split()).lower(), normalise_phone(phone))


def is_likely_duplicate(name: str, phone: str, other_name: str, other_phone: str) -> bool:
    """Same name and same guardian phone: probably the same child registered twice."""
    mine = same_person_key(name, phone)
    return bool(mine[0]) and bool(mine[1]) and mine == same_person_key(other_name, other_phone)


# ---------------------------------------------------------------- states

CARD_TRANSITIONS: dict[str, frozenset[str]] = {
    CardStatus.UNBOUND: frozenset({CardStatus.ACTIVE}),
    CardStatus.ACTIVE: frozenset({CardStatus.REVOKED}),
    CardStatus.REVOKED: frozenset(),
}
BORROWER_TRANSITIONS: dict[str, frozenset[str]] = {
    BorrowerStatus.ACTIVE: frozenset({BorrowerStatus.SUSPENDED, BorrowerStatus.LEFT}),
    BorrowerStatus.SUSPENDED: frozenset({BorrowerStatus.ACTIVE, BorrowerStatus.LEFT}),
    BorrowerStatus.LEFT: frozenset({BorrowerStatus.ACTIVE}),
}


def check_card_transition(current: str, new: str) -> None:
    if new in CARD_TRANSITIONS.get(current, frozenset()):
        return
    if current == CardStatus.REVOKED:
        raise CardRevoked()
    if new == CardStatus.ACTIVE and current == CardStatus.ACTIVE:
        raise CardAlreadyBound()
    raise BadTransition(f"借阅证不能从“{CARD_STATUSES.get(current, current)}”变为"
                        f"“{CARD_STATUSES.get(new, new)}”。")


def check_borrower_transition(current: str, new: str) -> None:
    if new not in BORROWER_STATUSES:
        raise BadTransition("未知的借阅人状态。")
    if new not in BORROWER_TRANSITIONS.get(current, frozenset()):
        raise BadTransition(f"借阅人状态已经是“{BORROWER_STATUSES.get(current, current)}”。"
                            if current == new else
                            f"借阅人不能从“{BORROWER_STATUSES.get(current, current)}”变为"
                            f"“{BORROWER_STATUSES[new]}”。")


# ---------------------------------------------------------------- erasure

def secrets_of(values: Iterable[str | None]) -> list[str]:
    """The strings to scrub: each non-trivial value, and its JSON-escaped (\\uXXXX) form."""
    found: set[str] = set()
    for value in values:
        text = (value or "").strip()
        if len(text) < 2:
            continue  # a one-character "name" would scrub every text that contains it
        found.add(text)
        found.add(json.dumps(text)[1:-1])
    return sorted(found, key=len, reverse=True)


def scrub_text(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, SCRUBBED)
    return text


def scrub_value(value: Any, secrets: Sequence[str]) -> Any:
    """A JSON value with every secret replaced, recursively (keys too)."""
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, list):
        return [scrub_value(v, secrets) for v in value]
    if isinstance(value, dict):
        return {scrub_text(str(k), secrets): scrub_value(v, secrets) for k, v in value.items()}
    return value


def months_before(year: int, month: int, months: int) -> tuple[int, int]:
    """(year, month) ``months`` before the given month."""
    index = year * 12 + (month - 1) - months
    return index // 12, index % 12 + 1


def csv_safe(value: object) -> str:
    """A cell that a spreadsheet will not run as a formula (ASVS 1.2.10)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
