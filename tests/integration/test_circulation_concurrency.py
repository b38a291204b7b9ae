"""Real threads against a real server (waitress), on SQLite and PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from library_app.db import session_factory
from library_app.models import Card, CirculationEvent, Copy, Loan, ReviewItem
from tests.threads import at_once, post_json


def call(url: str, headers: dict[str, str], events: list[dict]) -> tuple[int, dict]:
    return post_json(url + "/api/v1/circulation/events", headers, {"events": events})


def loan_event(copy: str, card: str, when: datetime | None = None, kind: str = "loan") -> dict:
    e = {"id": str(uuid.uuid4()), "type": kind, "copy": copy, "point": "P01",
         "at": (when or datetime.now(UTC)).isoformat()}
    if kind == "loan":
        e["card"] = card
    return e


def rows(app, stmt):
    with app.app_context(), session_factory()() as db:
        return db.execute(stmt).all()


def snapshot(app) -> tuple:
    return (
        rows(app, select(Loan.id, Loan.copy_id, Loan.borrower_id, Loan.lent_at, Loan.due_at, Loan.renewals,
                         Loan.returned_at, Loan.return_kind).order_by(Loan.id)),
        rows(app, select(Copy.id, Copy.status, Copy.current_point_id).order_by(Copy.id)),
        rows(app, select(CirculationEvent.event_id, CirculationEvent.status).order_by(CirculationEvent.id)),
        rows(app, select(ReviewItem.id, ReviewItem.reason).order_by(ReviewItem.id)),
    )


def setup(make, children: int = 1):
    make.point("P01")
    mama = make.user("mama", "story_mother", points=["P01"])
    book = make.copy(point="P01")
    kids = [make.borrower(f"小读者{i}", point="P01") for i in range(children)]
    return make.token(mama), book, [make.card_code(k) for k in kids], kids


def test_twenty_double_taps_of_one_copy_to_one_child_make_one_loan(app, make, live_server):
    h, book, [card], [kid] = setup(make)
    answers = at_once(20, lambda i: call(live_server.url, h, [loan_event(book.code, card)]))
    assert all(status == 200 for status, _ in answers), answers
    results = [body["results"][0] for _, body in answers]
    assert sorted(r["status"] for r in results) == ["applied"] + ["duplicate"] * 19
    assert {r["code"] for r in results if r["status"] == "duplicate"} == {"already_lent"}
    loans = rows(app, select(Loan.borrower_id, Loan.returned_at))
    assert loans == [(kid.id, None)]


def test_twenty_children_one_copy_leave_one_open_loan_and_a_consistent_history(app, make, live_server):
    h, book, cards, kids = setup(make, children=20)
    answers = at_once(20, lambda i: call(live_server.url, h, [loan_event(book.code, cards[i])]))
    assert all(status == 200 for status, _ in answers), answers
    results = [body["results"][0] for _, body in answers]
    assert all(r["status"] == "applied" for r in results), results
    assert sorted(r["code"] for r in results) == ["implicit_return"] * 19 + ["lent"]
    loans = rows(app, select(Loan.id, Loan.borrower_id, Loan.lent_at, Loan.returned_at, Loan.return_kind,
                             Loan.return_event_id, Loan.event_id).order_by(Loan.lent_at, Loan.id))
    assert len(loans) == 20 and len({loan[1] for loan in loans}) == 20
    open_ = [loan for loan in loans if loan[3] is None]
    assert len(open_) == 1 and open_[0] == loans[-1]
    # each loan was closed by the one after it, at the moment that one began
    for earlier, later in zip(loans, loans[1:], strict=False):
        assert earlier[4] == "implicit" and earlier[5] == later[6] and earlier[3] == later[2]
    assert rows(app, select(Copy.status)) == [("on_loan",)]


def test_replaying_a_batch_three_times_changes_nothing_after_the_first(app, make, live_server):
    make.point("P01")
    mama = make.user("mama", "story_mother", points=["P01"])
    h = make.token(mama)
    books = [make.copy(point="P01") for _ in range(3)]
    kids = [make.borrower(n, point="P01") for n in ("甲", "乙")]
    cards = [make.card_code(k) for k in kids]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    with app.app_context(), session_factory()() as db:
        db.execute(update(Copy).values(created_at=t0 - timedelta(days=9)))
        db.execute(update(Card).values(bound_at=t0 - timedelta(days=9)))
        db.commit()
    batch = [
        loan_event(books[0].code, cards[0], t0),
        loan_event(books[1].code, cards[0], t0 + timedelta(minutes=1)),
        loan_event(books[2].code, cards[1], t0 + timedelta(minutes=2)),
        loan_event(books[1].code, "", t0 + timedelta(minutes=3), kind="return"),
        loan_event(books[2].code, "", t0 + timedelta(minutes=4), kind="renew"),
        loan_event(books[1].code, cards[1], t0 + timedelta(minutes=5)),
    ]
    status, first = call(live_server.url, h, batch)
    assert status == 200 and [r["status"] for r in first["results"]] == ["applied"] * 6
    after_first = snapshot(app)
    replays = at_once(3, lambda i: call(live_server.url, h, batch))
    for status, body in replays:
        assert status == 200 and [r["status"] for r in body["results"]] == ["duplicate"] * 6
    assert snapshot(app) == after_first


def test_an_out_of_order_offline_batch_from_two_phones_ends_right(app, make, live_server):
    make.point("P01")
    mama = make.user("mama", "story_mother", points=["P01"])
    h = make.token(mama)
    book, book2 = make.copy(point="P01"), make.copy(point="P01")
    a, b = make.borrower("甲", point="P01"), make.borrower("乙", point="P01")
    t0 = datetime.now(UTC) - timedelta(hours=2)
    with app.app_context(), session_factory()() as db:
        db.execute(update(Copy).values(created_at=t0 - timedelta(days=9)))
        db.execute(update(Card).values(bound_at=t0 - timedelta(days=9)))
        db.commit()
    phone1 = [  # sent newest first: applied in the order they happened
        loan_event(book.code, make.card_code(b), t0 + timedelta(minutes=50)),
        loan_event(book.code, "", t0 + timedelta(minutes=20), kind="return"),
        loan_event(book2.code, make.card_code(a), t0 + timedelta(minutes=10)),
        loan_event(book.code, make.card_code(a), t0),
    ]
    phone2 = [loan_event(book2.code, "", t0 + timedelta(minutes=30), kind="return")]
    answers = at_once(2, lambda i: call(live_server.url, h, [phone1, phone2][i]))
    assert all(status == 200 for status, _ in answers)
    assert [r["id"] for r in answers[0][1]["results"]] == [e["id"] for e in phone1]
    loans = rows(app, select(Loan.copy_id, Loan.borrower_id, Loan.lent_at, Loan.returned_at)
                 .order_by(Loan.copy_id, Loan.lent_at))
    by_copy = {book.id: [], book2.id: []}
    for copy_id, borrower, lent, returned in loans:
        by_copy[copy_id].append((borrower, lent, returned))
    assert by_copy[book.id] == [(a.id, t0, t0 + timedelta(minutes=20)), (b.id, t0 + timedelta(minutes=50), None)]
    # phone 2's return may arrive before or after phone 1's loan of book2: either way it ends returned
    # (before: not on loan then, and the later-synced loan stays open for review of the crossing)
    statuses = dict(rows(app, select(Copy.id, Copy.status)))
    assert statuses[book.id] == "on_loan"
    assert len(by_copy[book2.id]) == 1 and by_copy[book2.id][0][:2] == (a.id, t0 + timedelta(minutes=10))
