"""Races that PostgreSQL lets happen and SQLite serialises away (issue 13, items 16-18).

Real threads against a real server (waitress) and a real database, many rounds each: two phones
sending the same batch, two loans to one child on different copies, and two batches taking the
same copies in opposite order. On PostgreSQL each request runs its own transaction, so these are
where row locks, savepoints and retries have to be right; on SQLite they must hold the same way.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from library_app.models import CirculationEvent, Copy, Loan

from .test_circulation_concurrency import at_once, call, loan_event, rows

pytestmark = pytest.mark.postgres


def ret(copy: str, when: datetime | None = None) -> dict:
    return loan_event(copy, "", when, kind="return")


def open_loans(app, borrower_id: int) -> int:
    return rows(app, select(func.count(Loan.id)).where(Loan.borrower_id == borrower_id,
                                                        Loan.returned_at.is_(None)))[0][0]


def test_two_phones_sending_the_same_batch_at_once_get_applied_and_duplicate_never_a_500(app, make, live_server):
    make.point("P01")
    h = make.token(make.user("mama", "story_mother", points=["P01"]))
    books = [make.copy(point="P01") for _ in range(2)]
    kids = [make.borrower(f"小读者{i}", point="P01") for i in range(2)]
    cards = [make.card_code(k) for k in kids]
    failed = 0
    rounds = 35
    for _ in range(rounds):
        batch = [loan_event(books[0].code, cards[0]), loan_event(books[1].code, cards[1])]
        answers = at_once(2, lambda i, batch=batch: call(live_server.url, h, batch))
        failed += sum(1 for status, _ in answers if status != 200)
        if all(status == 200 for status, _ in answers):
            for k in range(len(batch)):
                statuses = sorted(body["results"][k]["status"] for _, body in answers)
                assert statuses == ["applied", "duplicate"], (statuses, answers)
        status, body = call(live_server.url, h, [ret(b.code) for b in books])
        assert status == 200 and [r["code"] for r in body["results"]] == ["returned", "returned"], body
    assert failed == 0, f"{failed} of {2 * rounds} requests failed"
    # each event stored once, each loan once
    assert rows(app, select(func.count(CirculationEvent.id)))[0][0] == rounds * 4
    assert rows(app, select(func.count(Loan.id)))[0][0] == rounds * 2


def test_two_loans_to_one_child_on_different_copies_at_once_keep_the_loan_limit(app, make, live_server):
    make.point("P01")
    h = make.token(make.user("mama", "story_mother", points=["P01"]))
    kid = make.borrower("小读者", point="P01")
    card = make.card_code(kid)
    held = [make.copy(point="P01") for _ in range(2)]
    for b in held:  # two of three already out
        status, body = call(live_server.url, h, [loan_event(b.code, card)])
        assert body["results"][0]["status"] == "applied", body
    racing = [make.copy(point="P01") for _ in range(2)]
    over = 0
    for _ in range(30):
        answers = at_once(2, lambda i: call(live_server.url, h, [loan_event(racing[i].code, card)]))
        assert all(status == 200 for status, _ in answers), answers
        if open_loans(app, kid.id) > 3:
            over += 1
        else:
            codes = sorted(body["results"][0]["code"] for _, body in answers)
            assert codes == ["lent", "limit_reached"], codes
        status, body = call(live_server.url, h, [ret(b.code) for b in racing])
        assert status == 200, body
    assert over == 0, f"{over} of 30 races left the child with 4 books at a limit of 3"


def test_two_batches_taking_the_same_copies_in_opposite_order_both_answer(app, make, live_server):
    make.point("P01")
    h = make.token(make.user("mama", "story_mother", points=["P01"]))
    a, b = make.copy(point="P01"), make.copy(point="P01")
    kids = [make.borrower(f"小读者{i}", point="P01") for i in range(2)]
    cards = [make.card_code(k) for k in kids]
    failed = 0
    for _ in range(20):
        now = datetime.now(UTC)
        first = [loan_event(a.code, cards[0], now), loan_event(b.code, cards[0], now + timedelta(seconds=1))]
        second = [loan_event(b.code, cards[1], now), loan_event(a.code, cards[1], now + timedelta(seconds=1))]
        answers = at_once(2, lambda i, pair=(first, second): call(live_server.url, h, pair[i]))
        failed += sum(1 for status, _ in answers if status != 200)
        if all(status == 200 for status, _ in answers):
            for _, body in answers:
                assert all(r["status"] in ("applied", "duplicate") for r in body["results"]), body
        # one open loan per book, whatever the order
        open_ = rows(app, select(Loan.copy_id).where(Loan.returned_at.is_(None)))
        assert sorted(c for c, in open_) == sorted([a.id, b.id]), open_
    assert failed == 0, f"{failed} of 40 requests failed"


def test_an_event_id_raced_with_an_unknown_copy_is_stored_once_and_answered_duplicate(app, make, live_server):
    """The savepoint must be real: the losing insert of the event id is undone alone."""
    make.point("P01")
    h = make.token(make.user("mama", "story_mother", points=["P01"]))
    failed = 0
    for _ in range(30):
        batch = [{"id": str(uuid.uuid4()), "type": "return", "copy": "B99999", "point": "P01",
                  "at": datetime.now(UTC).isoformat()}]
        answers = at_once(2, lambda i, batch=batch: call(live_server.url, h, batch))
        failed += sum(1 for status, _ in answers if status != 200)
        if all(status == 200 for status, _ in answers):
            assert sorted(body["results"][0]["status"] for _, body in answers) == ["duplicate", "rejected"], answers
    assert failed == 0, f"{failed} of 60 requests failed"
    assert rows(app, select(func.count(CirculationEvent.id)))[0][0] == 30


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_deadlock_victim_is_run_again_by_the_write_layer(app, make):
    """Two writes taking two copies in opposite order: PostgreSQL aborts one; it runs again."""
    from library_app.circulation import txn

    make.point("P01")
    a, b = make.copy(point="P01"), make.copy(point="P01")
    both_hold_one = threading.Barrier(2, timeout=20)
    runs = [0, 0]

    def writer(i: int, first: int, second: int):
        def work(db, now):
            runs[i] += 1
            db.execute(select(Copy.id).where(Copy.id == first).with_for_update()).all()
            if runs[i] == 1:
                both_hold_one.wait()
            db.execute(select(Copy.id).where(Copy.id == second).with_for_update()).all()
            return runs[i]
        return work

    def run(i: int):
        with app.app_context():
            try:
                return txn.write(writer(i, *((a.id, b.id) if i == 0 else (b.id, a.id))))
            except Exception as exc:  # noqa: BLE001 - the answer under test
                return exc

    out = at_once(2, run)
    assert all(isinstance(r, int) for r in out), out  # neither write failed
    assert sorted(out) == [1, 2], out  # the victim was written on its second run
