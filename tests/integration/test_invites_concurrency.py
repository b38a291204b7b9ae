"""Real threads against waitress, on SQLite and PostgreSQL: one invitation link accepted by
several phones at once makes exactly one account."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import func, select

from library_app.db import session_factory
from library_app.models import Invitation, User
from tests.threads import at_once, post_json

PASSWORD = "sea-turtle-lamp-42"


def test_racing_accepts_of_one_link_make_exactly_one_account(app, make, live_server, monkeypatch):
    from library_app.services import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    make.point("P01")
    h = make.token(make.user("lib", "librarian"))
    status, made = post_json(live_server.url + "/api/v1/invites", h, {"role": "story_mother", "points": ["P01"]})
    assert status == 201, made
    results = at_once(6, lambda i: post_json(live_server.url + f"/api/v1/invites/{made['token']}/accept", {},
                                        {"username": f"mama{i}", "password": PASSWORD, "display_name": f"妈妈{i}"}))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [410] * 5, results
    winner = next(body for status, body in results if status == 201)
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(func.count(User.id)).where(User.role == "story_mother")) == 1
        used_by = db.scalar(select(User.username).join(Invitation, Invitation.used_by_id == User.id))
    assert used_by == winner["username"]


def test_racing_accepts_of_two_links_with_one_name_make_one_account(app, make, live_server, monkeypatch):
    from library_app.services import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    make.point("P01")
    h = make.token(make.user("lib", "librarian"))
    tokens = [post_json(live_server.url + "/api/v1/invites", h, {"role": "story_mother", "points": ["P01"]})[1]["token"]
              for _ in range(4)]
    results = at_once(4, lambda i: post_json(live_server.url + f"/api/v1/invites/{tokens[i]}/accept", {},
                                        {"username": "wangli", "password": PASSWORD}))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 3, results
