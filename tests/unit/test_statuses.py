"""The status enums keep the strings the database and the API already hold (issue 14)."""

from __future__ import annotations

import json

from library_app.domain.statuses import BorrowerStatus, CardStatus, CopyStatus, LoanOutcome


def test_the_stored_strings_are_unchanged():
    assert [s.value for s in CopyStatus] == ["available", "on_loan", "lost", "damaged", "withdrawn",
                                             "missing"]
    assert [s.value for s in CardStatus] == ["active", "revoked", "unbound"]
    assert [s.value for s in BorrowerStatus] == ["active", "suspended", "left"]
    assert [s.value for s in LoanOutcome] == ["lost", "damaged"]


def test_a_member_is_its_string_in_comparisons_json_and_text():
    assert CopyStatus("on_loan") is CopyStatus.ON_LOAN and CopyStatus.ON_LOAN == "on_loan"
    assert json.dumps({"status": CardStatus.REVOKED}) == '{"status": "revoked"}'
    assert f"{BorrowerStatus.LEFT}" == "left" and {"lost": 1}[LoanOutcome.LOST] == 1
