"""One place commits (db.end_request): an answer below 400 saves the request's writes, a 4xx or
5xx answer, an exception or ``discard_changes`` saves none, ``commit_now`` saves what must stay,
and a commit that fails is answered in its own words (issue 14)."""

from __future__ import annotations

import sqlite3

import pytest
from flask import abort, jsonify, redirect
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from library_app.access import public
from library_app.db import after_commit, commit_now, discard_changes, get_session, session_factory
from library_app.models import Point
from library_app.security import csrf_exempt
from library_app.services.errors import Invalid

done: list[str] = []


def _add(code: str) -> None:
    get_session().add(Point(code=code, name=code))
    get_session().flush()


def _route(app, name, view):
    app.add_url_rule(f"/test-commit/{name}", f"test_commit_{name}", csrf_exempt(public(view)),
                     methods=["POST"])


@pytest.fixture
def routes(app):
    def ok():
        _add("OK")
        after_commit(lambda: done.append("ok"))
        return jsonify(ok=True)

    def redirected():
        _add("RD")
        return redirect("/home")

    def refused():
        _add("RF")
        after_commit(lambda: done.append("refused"))
        return jsonify(error="no"), 422

    def raised():
        _add("RS")
        raise Invalid("不行。")

    def aborted():
        _add("AB")
        abort(409)

    def discarded():
        _add("DC")
        discard_changes()
        return redirect("/home")

    def kept():
        _add("KP")
        commit_now("a count that stays")
        _add("K2")
        return jsonify(error="not found"), 404

    def disk_full():
        _add("DF")
        session = get_session()

        def full() -> None:
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))

        session.commit = full  # type: ignore[method-assign]
        return jsonify(ok=True)

    for view in (ok, redirected, refused, raised, aborted, discarded, kept, disk_full):
        _route(app, view.__name__, view)
    done.clear()
    return app


def _codes(app) -> set[str]:
    with app.app_context(), session_factory(write=False)() as db:
        return set(db.scalars(select(Point.code)))


def test_an_answer_below_400_commits_and_runs_the_after_commit_steps(routes, client):
    assert client.post("/test-commit/ok").status_code == 200
    assert client.post("/test-commit/redirected").status_code == 302
    assert _codes(routes) == {"OK", "RD"} and done == ["ok"]


@pytest.mark.parametrize("name, status", [("refused", 422), ("raised", 422), ("aborted", 409),
                                          ("discarded", 302)])
def test_a_refusal_saves_nothing(routes, client, name, status):
    r = client.post(f"/test-commit/{name}")
    assert r.status_code == status
    assert _codes(routes) == set() and done == []


def test_commit_now_keeps_what_must_stay_and_the_rest_is_rolled_back(routes, client):
    assert client.post("/test-commit/kept").status_code == 404
    assert _codes(routes) == {"KP"}


def test_a_commit_that_fails_is_answered_in_its_own_words(routes, client):
    r = client.post("/test-commit/disk_full", headers={"Accept": "application/json"})
    assert r.status_code == 503
    error = r.get_json()["error"]
    assert error["code"] == "disk_full" and "存储空间已满" in error["message"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # the after_request hooks still ran
    assert _codes(routes) == set()
