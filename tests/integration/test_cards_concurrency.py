"""Real threads against waitress, on SQLite and PostgreSQL: card numbers never collide and a
pre-printed card binds once even when phones race."""

from __future__ import annotations

from tests.threads import at_once, post_json


def test_concurrent_registrations_get_distinct_cards(app, make, live_server):
    make.point("P01")
    h = make.token(make.user("lib", "librarian"))
    results = at_once(8, lambda i: post_json(live_server.url + "/api/v1/borrowers", h, {
        "name": f"孩子{i}", "point": "P01", "consent": True}))
    assert [status for status, _ in results] == [201] * 8, results
    cards = [body["card"] for _, body in results]
    assert len(set(cards)) == 8


def test_racing_binds_of_one_blank_card_succeed_once(app, make, live_server):
    make.point("P01")
    kids = [make.borrower(f"孩子{i}", card=False) for i in range(6)]
    blank = make.unbound_card()
    h = make.token(make.user("mama", "story_mother", points=["P01"]))
    results = at_once(6, lambda i: post_json(live_server.url + f"/api/v1/cards/{blank.code}/bind", h,
                                        {"borrower": kids[i].id}))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 5, results
    assert all(body["error"]["code"] == "card_already_bound" for status, body in results if status == 409)
