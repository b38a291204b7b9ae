"""A pinned app clock reaches the one-tap pages' events (issue 13, item 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from library_app.models import CirculationEvent, Loan, ReviewItem

from .test_circulation_api import q
from .test_circulation_pages import setup, token

# hours ahead of the real clock, as a test pins it: events must take this time, not the real one
PINNED = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)


@pytest.fixture
def app_config():
    return {"FIXED_NOW": PINNED}


def test_a_one_tap_loan_and_return_happen_at_the_pinned_clock(app, client, make):
    mama, book, _child, card = setup(make)
    make.login(client, mama)
    csrf = token(client.get("/scan").get_data(as_text=True))
    client.post("/scan/current", data={"csrf_token": csrf, "card": card})
    client.post("/scan/act", data={"csrf_token": csrf, "copy": book.code, "action": "loan"})
    client.post("/scan/act", data={"csrf_token": csrf, "copy": book.code, "action": "return"})
    assert q(app, select(Loan.lent_at, Loan.returned_at)) == [(PINNED, PINNED)]
    assert q(app, select(CirculationEvent.occurred_at, CirculationEvent.status)) == [
        (PINNED, "applied"), (PINNED, "applied")]
    assert q(app, select(ReviewItem.id)) == []
