"""The states a copy, a card, a borrower and an ended loan can be in.

StrEnums: each member *is* its string, so the database columns, the API and the templates keep
the same values ("available", "on_loan", ...) and a value read back from the database compares
equal to its member. The Chinese names and the transitions allowed between states live beside
the rules that own them (``domain.catalog``, ``domain.borrowers``).
"""

from __future__ import annotations

from enum import StrEnum


class CopyStatus(StrEnum):
    AVAILABLE = "available"
    ON_LOAN = "on_loan"
    LOST = "lost"
    DAMAGED = "damaged"
    WITHDRAWN = "withdrawn"
    MISSING = "missing"  # not found at a stocktake


class CardStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    UNBOUND = "unbound"  # pre-printed, not yet given to a child


class BorrowerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LEFT = "left"


class LoanOutcome(StrEnum):
    """How a loan ended badly (``Loan.outcome``; "" when it ended with the book back)."""

    LOST = "lost"
    DAMAGED = "damaged"
