"""The outbox (static/js/outbox.js) in headless Chromium: events stored before they are sent,
kept through reloads, browser restarts and expired logins, sent once however the network fails.

These drive the module itself on a signed-in page, with the events endpoint answered by a
stand-in that applies each event id once (as the API contract says), so they test the phone's
side alone; test_offline_scan.py runs the same paths against the real endpoint.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.builders import PASSWORD
from tests.e2e.conftest import CHROMIUM, FLAGS, login

EVENTS = "**/api/v1/circulation/events"

SEND = """async (events) => {
  const { createOutbox } = await import('/static/js/outbox.js');
  const outbox = createOutbox();
  const out = [];
  for (const e of events) out.push(await outbox.send(e));
  return out;
}"""
PENDING = "async () => (await import('/static/js/outbox.js')).createOutbox().pending()"
STATUS = "async () => (await import('/static/js/outbox.js')).createOutbox().status()"
SYNC = "async (o) => (await import('/static/js/outbox.js')).createOutbox().sync(o || {})"
LIST = "async () => (await import('/static/js/outbox.js')).createOutbox().list({limit: 1000})"


class FakeEvents:
    """The events endpoint as api.md describes it: each id applied once, then 'duplicate'."""

    def __init__(self) -> None:
        self.applied: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.requests = 0
        self.plan: list[str] = []  # per request: "ok", "abort" (lost before), "lose" (applied, answer lost), "500", "401"

    def __call__(self, route: Any, request: Any) -> None:
        self.requests += 1
        step = self.plan.pop(0) if self.plan else "ok"
        if step == "abort":
            route.abort("connectionreset")
            return
        if step in ("500", "401", "400", "422"):
            code = {"500": "server_error", "401": "unauthorized", "400": "bad_request", "422": "invalid"}[step]
            route.fulfill(status=int(step), content_type="application/json",
                          body=json.dumps({"error": {"code": code, "message": "出错了"}}))
            return
        results = []
        for event in json.loads(request.post_data)["events"]:
            if event["id"] in self.applied:
                results.append({"id": event["id"], "status": "duplicate", "code": "duplicate",
                                "message": "这条记录已经收到过。", "loan": None})
            else:
                self.applied[event["id"]] = event
                self.order.append(event["id"])
                results.append({"id": event["id"], "status": "applied", "code": "ok",
                                "message": "已借出。", "loan": None})
        if step == "lose":
            route.abort("connectionreset")  # the server applied them; the phone never hears it
            return
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"results": results}))


def event(kind: str, copy: str, card: str | None = None, point: str = "P01", minute: int = 0) -> dict[str, Any]:
    e = {"id": str(uuid.uuid4()), "type": kind, "copy": copy, "point": point,
         "at": f"2026-11-29T10:{minute:02d}:00+08:00"}
    if card:
        e["card"] = card
    return e


def session_events(n_loans: int = 5) -> list[dict[str, Any]]:
    """Five loans to two children and one return, in the order they happened."""
    cards = ["C0000018", "C0000026"]
    loans = [event("loan", f"B00000{i}", cards[i % 2], minute=i) for i in range(1, n_loans + 1)]
    return [*loans, event("return", loans[0]["copy"], minute=n_loans + 1)]


@pytest.fixture
def mother(app, make):
    make.point("P01", "三灶镇故事会点")
    return make.user("mama", "story_mother", points=["P01"])


def wait_pending(page: Any, n: int, timeout_ms: int = 20000) -> None:
    """Until n events wait (polling from Python: the stand-in server answers meanwhile)."""
    waited = 0
    while (count := page.evaluate(PENDING)) != n:
        assert waited < timeout_ms, f"{count} events still wait, expected {n}"
        page.wait_for_timeout(100)
        waited += 100


def persistent_phone(playwright_instance: Any, profile: Path) -> Any:
    """A Chromium with its profile on disk: closing it and opening it again is a phone restart."""
    return playwright_instance.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=list(FLAGS),
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True,
    )


def test_offline_events_wait_survive_a_browser_restart_and_go_once(mother, live_server, playwright_instance,
                                                                    tmp_path):
    fake = FakeEvents()
    profile = tmp_path / "phone-profile"
    context = persistent_phone(playwright_instance, profile)
    context.route(EVENTS, fake)
    page = context.pages[0]
    login(page, live_server.url, "mama", PASSWORD)
    context.set_offline(True)
    events = session_events()
    results = page.evaluate(SEND, events)
    assert [r["status"] for r in results] == ["queued"] * 6
    assert "没有网络" in results[0]["message"]
    assert page.evaluate(PENDING) == 6
    assert fake.requests == 0
    context.close()  # the phone is switched off with six records on it

    context = persistent_phone(playwright_instance, profile)
    try:
        context.route(EVENTS, fake)
        page = context.pages[0]
        page.goto(live_server.url + "/healthz")
        assert page.evaluate(PENDING) == 6  # still there after the restart
        login(page, live_server.url, "mama", PASSWORD)  # signed-in pages send what waits
        wait_pending(page, 0)
        assert fake.order == [e["id"] for e in events]  # in the order they happened, each once
        records = {r["id"]: r for r in page.evaluate(LIST)}
        assert {r["result"]["status"] for r in records.values()} == {"applied"}
        # Sending the same stored events again changes nothing on the server.
        before = dict(fake.applied)
        again = page.evaluate(SEND, events)
        assert [r["status"] for r in again] == ["applied"] * 6  # the kept answers, not a resend
        page.evaluate(SYNC)
        assert fake.applied == before
    finally:
        context.close()


def test_network_cut_mid_sync_loses_nothing_and_doubles_nothing(mother, live_server, phone):
    fake = FakeEvents()
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.context.set_offline(True)
    events = [event("loan", f"B{i:07d}", "C0000018", minute=i % 60) for i in range(120)]
    phone.evaluate(SEND, events)
    assert phone.evaluate(PENDING) == 120
    # Three batches of 50, 50, 20. The first arrives but its answer is lost; the second never
    # arrives; then a server error; then everything goes through.
    fake.plan = ["lose", "abort", "500"]
    phone.context.set_offline(False)  # the connection comes back: it goes at once, by itself
    while fake.requests < 1:
        phone.wait_for_timeout(50)
    for _ in range(8):  # she taps 立即上传 instead of waiting for the next automatic try
        if phone.evaluate(PENDING) == 0:
            break
        phone.evaluate(SYNC)
    wait_pending(phone, 0)
    assert sorted(fake.applied) == sorted(e["id"] for e in events)
    assert len(fake.order) == 120 == len(set(fake.order))
    statuses = [r["result"]["status"] for r in phone.evaluate(LIST)]
    assert statuses.count("duplicate") == 50 and statuses.count("applied") == 70


def test_expired_login_keeps_events_until_she_signs_in_again(mother, live_server, phone):
    fake = FakeEvents()
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.context.set_offline(True)
    phone.evaluate(SEND, session_events())
    phone.context.clear_cookies()  # the session ends while she is out of signal
    phone.context.set_offline(False)
    phone.evaluate(SYNC)
    status = phone.evaluate(STATUS)
    assert status["state"] == "signin" and status["pending"] == 6
    assert "重新登录" in status["message"]
    assert fake.applied == {}
    login(phone, live_server.url, "mama", PASSWORD)  # lands on /home, which sends them
    wait_pending(phone, 0)
    assert len(fake.applied) == 6


def test_a_failed_send_is_retried_by_itself(mother, live_server, phone):
    fake = FakeEvents()
    fake.plan = ["500"]
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    result = phone.evaluate(SEND, [event("loan", "B0000017", "C0000018")])[0]
    assert result["status"] == "queued" and "稍后自动重试" in result["message"]
    status = phone.evaluate(STATUS)
    assert status["state"] == "waiting" and status["nextRetryAt"]
    wait_pending(phone, 0)  # about two seconds later, with nobody touching anything
    assert len(fake.applied) == 1 and fake.requests == 2


def test_a_token_from_an_older_session_is_renewed_not_fatal(mother, live_server, phone):
    fake = FakeEvents()
    fake.plan = ["400"]  # what Flask-WTF answers to a CSRF token of another session
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    results = phone.evaluate(SEND, [event("loan", "B0000017", "C0000018")])
    assert results[0]["status"] == "applied"
    assert fake.requests == 2


def test_a_refused_event_is_kept_with_its_reason_and_does_not_block_the_rest(mother, live_server, phone):
    fake = FakeEvents()
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.context.set_offline(True)
    events = [event("loan", f"B000001{i}", "C0000018") for i in range(3)]
    phone.evaluate(SEND, events)
    # The batch is refused whole (422), then each event alone: the middle one is the bad one.
    fake.plan = ["422", "ok", "422", "ok"]
    phone.context.set_offline(False)
    wait_pending(phone, 0)
    by_id = {r["id"]: r for r in phone.evaluate(LIST)}
    assert by_id[events[1]["id"]]["result"]["status"] == "rejected"
    assert by_id[events[1]["id"]]["result"]["message"] == "出错了"
    assert by_id[events[1]["id"]]["event"] == {**events[1], "offline": True}  # nothing is thrown away
    assert set(fake.applied) == {events[0]["id"], events[2]["id"]}


def test_another_accounts_events_wait_for_her_unless_sent_on_purpose(app, make, live_server, phone):
    make.point("P01")
    make.user("mama", "story_mother", points=["P01"])
    make.user("lili", "story_mother", points=["P01"])
    fake = FakeEvents()
    phone.context.route(EVENTS, fake)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.context.set_offline(True)
    mine = session_events(2)
    phone.evaluate(SEND, mine)
    # Leave mama's page and her session while still offline: a page of hers that is open when
    # the phone comes back online rightly sends her events at once (its "online" listener),
    # which is not the case under test and made this test race the cookie clearing.
    phone.goto("about:blank")
    phone.context.clear_cookies()
    phone.context.set_offline(False)
    login(phone, live_server.url, "lili", PASSWORD)
    phone.evaluate(SYNC)
    status = phone.evaluate(STATUS)
    assert status["pending"] == 3 and status["others"] == 3
    assert fake.applied == {}
    phone.evaluate(SYNC, {"everyone": True})
    assert phone.evaluate(PENDING) == 0
    assert set(fake.applied) == {e["id"] for e in mine}
