"""Login throttling (issue 13 item 4, api.md "Accounts (additions)"): per account and per
address, loose for a shared address, never one account for another, page and token one count,
counted in the database so every process shares it, and racing attempts cannot pass it.

The accounts here get a cheap argon2 hash (and the unknown-user dummy hash too): these tests are
about counting, and the real parameters cost ~1-2 s a check on the test machine.
test_auth.py::test_passwords_are_argon2id keeps the real ones honest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from library_app.db import session_factory
from library_app.models import User
from tests.builders import CHEAP
from tests.integration.test_auth import csrf_from

PASSWORD = "sea-turtle-lamp-42"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("cheap_hashes")  # every test here checks passwords


@pytest.fixture
def app_config():
    """The app's clock pinned: a slow machine must not let a 15-second wait run out mid-test."""
    return {"FIXED_NOW": NOW}


def user(app, make, name: str, role: str = "story_mother") -> User:
    u = make.user(name, role)
    with app.app_context(), session_factory()() as db:
        db.get(User, u.id).password_hash = CHEAP.hash(PASSWORD)
        db.commit()
    return u


def page_login(client, name: str, password: str, addr: str = "192.0.2.10"):
    env = {"REMOTE_ADDR": addr}
    token = csrf_from(client.get("/login", environ_base=env).data)
    return client.post("/login", data={"csrf_token": token, "username": name, "password": password},
                       environ_base=env)


def token_login(client, name: str, password: str, addr: str = "192.0.2.10"):
    return client.post("/api/v1/auth/token", json={"username": name, "password": password},
                       environ_base={"REMOTE_ADDR": addr})


def _race(app, calls) -> list[int]:
    """Run the calls at once, each in its own thread with its own client."""
    start = threading.Barrier(len(calls))
    codes: list[int] = [0] * len(calls)

    def run(i: int) -> None:
        client = app.test_client()
        start.wait()
        codes[i] = calls[i](client).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return codes


def test_concurrent_guesses_at_one_account_do_not_get_past_its_count(app, make):
    user(app, make, "mama")
    codes = _race(app, [lambda c, i=i: token_login(c, "mama", "wrong-guess", addr=f"198.51.100.{i}")
                        for i in range(40)])
    assert codes.count(401) == 5, codes  # five guesses checked, however they race
    assert codes.count(429) == 35, codes


def test_concurrent_guesses_from_one_address_do_not_get_past_its_count(app, make):
    app.config["LOGIN_ADDRESS_LIMITS"] = ((20, 60),)
    codes = _race(app, [lambda c, i=i: token_login(c, f"guess{i}", "wrong-guess", addr="203.0.113.7")
                        for i in range(30)])
    assert codes.count(401) == 20 and codes.count(429) == 10, codes


def test_a_shared_address_with_30_users_failing_still_lets_another_user_in(app, client, make):
    """A story mothers' Wi-Fi or a carrier's address: thirty people mistyping in one minute."""
    user(app, make, "mama")
    for i in range(30):
        r = page_login(client, f"mother{i}", "mistyped-pass", addr="100.64.0.1")
        assert r.status_code == 200 and "用户名或密码不正确" in r.get_data(as_text=True), i
    ok = page_login(client, "mama", PASSWORD, addr="100.64.0.1")
    assert ok.status_code == 302 and ok.headers["Location"] == "/home"


def test_one_accounts_failures_never_throttle_another_account(app, make):
    user(app, make, "lib", "librarian")
    user(app, make, "mama")
    guesser, mama = app.test_client(), app.test_client()
    codes = [page_login(guesser, "lib", "wrong-guess").status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
    refused = page_login(guesser, "lib", PASSWORD)  # even the right password waits its turn
    assert refused.status_code == 429 and "秒后再试" in refused.get_data(as_text=True)
    # the same address, another account: not slowed at all
    assert page_login(mama, "mama", PASSWORD).status_code == 302
    assert token_login(app.test_client(), "mama", PASSWORD).status_code == 200


def test_page_login_and_token_endpoint_share_one_count(app, client, make):
    user(app, make, "mama")
    assert [page_login(client, "mama", "wrong-guess", addr=f"10.1.0.{i}").status_code
            for i in range(3)] == [200] * 3
    assert [token_login(client, "mama", "wrong-guess", addr=f"10.2.0.{i}").status_code
            for i in range(2)] == [401] * 2
    r = token_login(client, "mama", PASSWORD, addr="10.3.0.1")
    assert r.status_code == 429
    body = r.get_json()["error"]
    assert body["code"] == "too_many_requests" and "秒后再试" in body["message"]
    assert int(r.headers["Retry-After"]) == body["retry_after"] > 0
    assert page_login(client, "mama", PASSWORD, addr="10.3.0.2").status_code == 429


def test_the_wait_is_short_and_a_correct_login_after_it_starts_afresh(app, client, make):
    """An attacker with many addresses can slow an account down, never lock it for long."""
    user(app, make, "mama")
    now = NOW
    waits = []
    for i in range(20):  # twenty guesses from twenty addresses, each as soon as it is let in
        r = token_login(client, "mama", "wrong-guess", addr=f"10.9.0.{i}")
        while r.status_code == 429:
            waits.append(int(r.headers["Retry-After"]))
            now += timedelta(seconds=waits[-1])
            app.config["FIXED_NOW"] = now
            r = token_login(client, "mama", "wrong-guess", addr=f"10.9.0.{i}")
        assert r.status_code == 401
    assert waits and max(waits) <= 60, waits  # never more than a minute
    assert now - NOW < timedelta(minutes=20)
    assert token_login(client, "mama", PASSWORD).status_code == 429  # the last guess's wait
    app.config["FIXED_NOW"] = now + timedelta(seconds=61)
    assert token_login(client, "mama", PASSWORD).status_code == 200
    # counted afresh: five more mistakes before any wait
    assert [token_login(client, "mama", "x-wrong-x").status_code for _ in range(5)] == [401] * 5


def test_another_process_of_the_deployment_sees_the_same_counts(app, client, make, db_url, tmp_path):
    user(app, make, "mama")
    # one clock for both processes: the other one may take longer to start than the wait lasts
    now = app.config["FIXED_NOW"]
    assert [token_login(client, "mama", "wrong-guess", addr=f"10.4.0.{i}").status_code
            for i in range(5)] == [401] * 5
    script = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from library_app import create_app\n"
        "app = create_app({'TESTING': True, 'DATABASE_URL': sys.argv[1], 'SECRET_KEY': 'other',\n"
        "                  'FIXED_NOW': datetime.fromisoformat(sys.argv[3])})\n"
        "r = app.test_client().post('/api/v1/auth/token', json={'username': 'mama', 'password': sys.argv[2]},\n"
        "                           environ_base={'REMOTE_ADDR': '10.5.0.1'})\n"
        "print(json.dumps([r.status_code, r.get_json()]))\n"
    )
    env = {**os.environ, "LIBRARY_INSTANCE_PATH": str(tmp_path / "other-process")}
    out = subprocess.run([sys.executable, "-c", script, db_url, PASSWORD, now.isoformat()],
                         capture_output=True, text=True, env=env, timeout=120, check=True).stdout
    status, body = json.loads(out.strip().splitlines()[-1])
    assert status == 429 and "后再试" in body["error"]["message"]
