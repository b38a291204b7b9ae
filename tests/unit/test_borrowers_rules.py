"""Borrower and card rules with plain values: no app, no database."""

from __future__ import annotations

import json

import pytest

from library_app.domain.borrowers import (
    BadTransition,
    CardAlreadyBound,
    CardRevoked,
    ConsentRequired,
    InvalidBorrower,
    NoPersonalData,
    NotYourPoint,
    check_borrower_transition,
    check_card_transition,
    check_may_act_on,
    check_may_register_at,
    check_registration,
    csv_safe,
    history_limit,
    is_likely_duplicate,
    months_before,
    normalise_phone,
    phone_masked_for,
    scrub_value,
    secrets_of,
)


def reg(**changes):
    fields = {"name": "王小明", "guardian_name": "王大明", "guardian_phone": "138 1234 5678",
              "birth_year": "2017", "consent": True, "this_year": 2026}
    fields.update(changes)
    return check_registration(**fields)


def test_consent_is_required_before_anything_else():
    for consent in (False, None, "true", 1, "on"):
        with pytest.raises(ConsentRequired) as refused:
            reg(consent=consent, name="")
        assert refused.value.status == 422 and "监护人" in refused.value.message
    assert reg().name == "王小明"


def test_registration_is_cleaned_and_checked():
    r = reg(name="  王  小明 ", guardian_phone="+86 138-1234-5678")
    assert (r.name, r.guardian_phone, r.birth_year, r.type) == ("王 小明", "13812345678", 2017, "child")
    assert reg(birth_year="", guardian_phone="").birth_year is None
    for bad in ({"name": "  "}, {"birth_year": "二〇一七"}, {"birth_year": "1900"},
                {"birth_year": "2030"}, {"guardian_phone": "12"}, {"type": "robot"},
                {"name": "很" * 65}):
        with pytest.raises(InvalidBorrower) as refused:
            reg(**bad)
        assert refused.value.message  # a Chinese sentence, not a stack trace
    assert normalise_phone("0086 13812345678") == "13812345678"


def test_story_mothers_act_only_at_their_points_and_viewers_nowhere():
    check_may_act_on("story_mother", ["P01"], "P01")
    check_may_act_on("librarian", [], "P09")
    check_may_act_on("admin", [], "P09")
    with pytest.raises(NotYourPoint) as refused:
        check_may_act_on("story_mother", ["P01"], "P02")
    assert refused.value.status == 403
    with pytest.raises(NotYourPoint):
        check_may_register_at("story_mother", ["P01"], "P02")
    with pytest.raises(NoPersonalData):
        check_may_act_on("viewer", ["P01"], "P01")
    assert phone_masked_for("story_mother") and not phone_masked_for("librarian")
    assert history_limit("story_mother") == 5 and history_limit("admin") is None


def test_duplicates_are_same_name_and_same_guardian_phone():
    assert is_likely_duplicate("王小明", "13812345678", "王 小明", "138-1234-5678")
    assert not is_likely_duplicate("王小明", "13812345678", "王小明", "13900000000")
    assert not is_likely_duplicate("王小明", "", "王小明", "")  # no phone: cannot tell
    assert not is_likely_duplicate("王小明", "13812345678", "王小红", "13812345678")


def test_card_states():
    check_card_transition("unbound", "active")
    check_card_transition("active", "revoked")
    with pytest.raises(CardRevoked):
        check_card_transition("revoked", "active")
    with pytest.raises(CardAlreadyBound):
        check_card_transition("active", "active")
    with pytest.raises(BadTransition):
        check_card_transition("unbound", "revoked")


def test_borrower_states():
    check_borrower_transition("active", "suspended")
    check_borrower_transition("suspended", "active")
    check_borrower_transition("active", "left")
    check_borrower_transition("left", "active")
    for current, new in (("left", "suspended"), ("active", "active"), ("active", "gone")):
        with pytest.raises(BadTransition):
            check_borrower_transition(current, new)


def test_scrubbing_reaches_escaped_json_and_nested_values():
    secrets = secrets_of(["王小明", "13812345678", "", "李"])
    assert "李" not in secrets  # one character would scrub unrelated text
    stored = json.loads(json.dumps({"note": "王小明借书", "list": [{"王小明": "13812345678"}]}))
    assert scrub_value(stored, secrets) == {"note": "***借书", "list": [{"***": "***"}]}
    escaped = json.dumps("王小明")[1:-1]
    assert escaped in secrets and scrub_value(f"x{escaped}y", secrets) == "x***y"


def test_months_before_and_csv_cells():
    assert months_before(2026, 3, 2) == (2026, 1)
    assert months_before(2026, 1, 1) == (2025, 12)
    assert months_before(2026, 5, 24) == (2024, 5)
    assert csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_safe("-1") == "'-1" and csv_safe("王小明") == "王小明" and csv_safe(None) == ""
