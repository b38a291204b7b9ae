"""Device clocks that cannot be right, and malformed events in a batch (issue 13, items 2, 7, 15, 19).

Each event of a batch answers for itself; a device time that cannot be when the event happened
neither orders it nor is stored as its time, and the review queue shows what the phone said.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from library_app.db import session_factory
from library_app.models import Card, CirculationEvent, Copy, Loan, ReviewItem

from .test_circulation_api import EVENTS, ev, open_loans, q


def desk(make):
    make.point("P01")
    mama = make.user("mama", "story_mother", points=["P01"])
    librarian = make.user("lib", "librarian")
    book = make.copy(point="P01")
    kid = make.borrower("王小明", point="P01")
    return {"h": make.token(mama), "book": book, "kid": kid, "card": make.card_code(kid), "librarian": librarian}


def send(client, headers, *events):
    r = client.post(EVENTS, json={"events": list(events)}, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["results"]


def registered_long_ago(app):
    """The book and card exist since 1990, so only the server's clock can tell 2001 is wrong."""
    then = datetime(1990, 1, 1, tzinfo=UTC)
    with app.app_context(), session_factory()() as db:
        db.execute(update(Copy).values(created_at=then))
        db.execute(update(Card).values(created_at=then, bound_at=then))
        db.commit()


def review_page(client, make, librarian) -> str:
    make.login(client, librarian)
    r = client.get("/circulation/review")
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def test_a_far_future_clock_is_reviewed_and_the_review_queue_still_opens(app, client, make):
    d = desk(make)
    [r] = send(client, d["h"], {**ev("loan", d["book"], d["card"]), "at": "9999-12-31T23:59:59Z"})
    assert r["status"] == "review" and r["code"] == "clock_future", r
    [(lent_at,)] = q(app, select(Loan.lent_at))
    assert abs(lent_at - datetime.now(UTC)) < timedelta(minutes=1)
    [(occurred,)] = q(app, select(CirculationEvent.occurred_at))
    assert abs(occurred - datetime.now(UTC)) < timedelta(minutes=1)  # stored at the server's time
    page = review_page(client, make, d["librarian"])
    assert "设备时间比服务器时间快太多" in page and "9999-12-31" in page  # what the phone said, for the librarian


def test_a_review_item_already_holding_year_9999_does_not_break_the_queue(app, client, make):
    """Rows written before the fix (device_at 9999 as the phone sent it) still render."""
    d = desk(make)
    send(client, d["h"], {**ev("loan", d["book"], d["card"]), "at": "9999-12-31T23:59:59Z"})
    with app.app_context(), session_factory()() as db:
        item = db.scalar(select(ReviewItem))
        item.details = {**item.details, "device_at": "9999-12-31T23:59:59+00:00"}
        db.commit()
    assert "9999-12-31T23:59:59+00:00" in review_page(client, make, d["librarian"])


def test_a_year_one_event_does_not_block_the_valid_loan_beside_it(app, client, make):
    d = desk(make)
    other = make.copy(point="P01")
    loan = ev("loan", d["book"], d["card"])
    year_one = {**ev("return", other), "at": "0001-01-01T00:00:00"}
    results = send(client, d["h"], loan, year_one)
    assert [r["id"] for r in results] == [loan["id"], year_one["id"]]
    assert results[0]["status"] == "applied" and results[0]["code"] == "lent"
    assert open_loans(app, d["book"]) == [(d["kid"].id,)]
    # the year-1 return is a real scan with a wrong clock: recorded at the server's time, for review
    assert results[1]["status"] == "review" and "复核：设备时间" in results[1]["message"], results[1]
    assert "0001-01-01" in review_page(client, make, d["librarian"])


@pytest.mark.parametrize("bad_at", ["2026-02-30T10:00:00+08:00", "昨天下午", "0001-01-01T00:00:00+25:00", 20261201])
def test_a_malformed_time_is_rejected_alone_with_a_chinese_message(app, client, make, bad_at):
    d = desk(make)
    loan = ev("loan", d["book"], d["card"])
    bad = {**ev("return", make.copy(point="P01")), "at": bad_at}
    results = send(client, d["h"], bad, loan)
    assert results[0]["status"] == "rejected" and results[0]["code"] == "bad_time", results[0]
    assert "时间" in results[0]["message"]
    assert results[1]["status"] == "applied" and open_loans(app, d["book"]) == [(d["kid"].id,)]
    # the answer is kept: sent again, the same
    again = send(client, d["h"], bad, loan)
    assert [r["status"] for r in again] == ["duplicate", "duplicate"] and again[0]["code"] == "bad_time"


def test_a_return_dated_2001_does_not_go_before_a_loan_of_ten_minutes_ago(app, client, make):
    d = desk(make)
    registered_long_ago(app)
    now = datetime.now(UTC)
    loan = ev("loan", d["book"], d["card"], when=now - timedelta(minutes=10), offline=True)
    back = ev("return", d["book"], when=datetime(2001, 1, 1, tzinfo=UTC), offline=True)
    results = send(client, d["h"], loan, back)
    assert results[0]["status"] == "applied" and results[0]["code"] == "lent", results[0]
    assert results[1]["code"] == "clock_past" and results[1]["status"] == "review", results[1]
    assert "没有借出" not in results[1]["message"]
    assert open_loans(app, d["book"]) == []  # the book is back on the shelf
    [(lent_at, returned_at)] = q(app, select(Loan.lent_at, Loan.returned_at))
    assert lent_at == now - timedelta(minutes=10)  # the plausible time is believed
    assert abs(returned_at - datetime.now(UTC)) < timedelta(minutes=1)  # the impossible one is not
    [(device_at,)] = q(app, select(ReviewItem.details["device_at"].as_string()))
    assert device_at.startswith("2001-01-01")


def test_a_return_dated_before_the_book_existed_does_not_go_first_either(app, client, make):
    d = desk(make)  # book and card registered just now
    loan = ev("loan", d["book"], d["card"])
    back = ev("return", d["book"], when=datetime.now(UTC) - timedelta(days=3), offline=True)
    results = send(client, d["h"], loan, back)
    assert results[1]["code"] == "clock_before_copy" and "没有借出" not in results[1]["message"], results[1]
    assert open_loans(app, d["book"]) == []

