"""Circulation: loans, returns, renewals and undo, from scans online and offline syncs.

``apply_events`` is the hot path behind ``POST /api/v1/circulation/events``: a batch of client
events, each applied once (its UUID is stored in ``circulation_events`` in the same
transaction as its effect), in the order they happened. It reads only the columns it needs
with Core statements (no ORM objects, no lazy loads) and flushes nothing it does not write.

Concurrency: on SQLite the caller runs the batch in one ``BEGIN IMMEDIATE`` transaction, so
writers are serialised. On PostgreSQL a batch first locks ``FOR UPDATE`` every copy it names and
then every borrower whose card it names, each set in id order (so two batches never wait for
each other in a circle, and two loans to one child on different copies take turns at the limit
check); only then does it look up which of its event ids are already stored, so a batch racing
its own retry finds the other's events and answers ``duplicate``. Each event then runs in a
real SAVEPOINT: an insert that still hits the unique event id (an event on no known copy) or
the one-open-loan-per-copy index rolls back that event alone, and it is decided again on fresh
data. A deadlock or serialization victim is retried whole by ``circulation.txn.write``.

Where things are: ``statements`` (the prebuilt SQL), ``batch`` (``_Batch``: locks, the one scan
SELECT, the rows every event writes), ``apply`` (``apply_events``: ids, duplicates, order,
SAVEPOINTs), ``actions`` (loan, return, renew), ``undo``, ``lookups`` (card and copy for the scan
screen), ``corrections`` (lost/damaged, review items), ``reads`` (the librarian pages' queries),
``settings`` (the settings read lean for the API).
"""

from __future__ import annotations

from library_app.domain.loans import date_in_words

from .apply import apply_events
from .batch import BatchOutcome, CardRow, CopyRow, Scan
from .corrections import REVIEW_ACTIONS, mark_loan_outcome, resolve_review
from .lookups import card_summary, copy_summary, open_loans_of
from .undo import undo_event

__all__ = ["apply_events", "undo_event", "card_summary", "copy_summary", "open_loans_of", "mark_loan_outcome",
           "resolve_review", "REVIEW_ACTIONS", "BatchOutcome", "CardRow", "CopyRow", "Scan",
           "date_in_words"]
