"""What the phone keeps of a scan's answer (issue 13.9; trust.md: the phone holds codes, titles
and masked names only): an implicit return through the real endpoint, then the outbox's copy."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from tests.builders import PASSWORD
from tests.e2e.conftest import login

SEND = """async (e) => (await import('/static/js/outbox.js')).createOutbox().send(e)"""
LIST = "async () => (await import('/static/js/outbox.js')).createOutbox().list({limit: 1000})"
AGE = """async ([id, iso]) => {
  const db = await new Promise((ok, ko) => { const r = indexedDB.open('library-outbox', 1);
    r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  await new Promise((ok, ko) => { const tx = db.transaction('events', 'readwrite');
    const store = tx.objectStore('events'); const get = store.get(id);
    get.onsuccess = () => { const rec = get.result; rec.done_at = iso; store.put(rec); };
    tx.oncomplete = ok; tx.onerror = () => ko(tx.error); });
  db.close();
}"""


def test_the_outbox_keeps_no_full_name_nor_card_and_forgets_answers_after_a_day(app, make, live_server, phone):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    own = make.borrower("王小明", point="P01")
    other = make.borrower("欧阳跨点", point="P02")
    book = make.copy(make.title("猜猜我有多爱你"), point="P01")
    make.loan(book, other, point="P01", lent_at=datetime.now(UTC) - timedelta(days=3))
    card = make.card_code(own)
    login(phone, live_server.url, "mama", PASSWORD)
    phone.goto(live_server.url + "/scan")
    event = {"id": str(uuid.uuid4()), "type": "loan", "copy": book.code, "card": card, "point": "P01",
             "at": datetime.now(UTC).isoformat()}
    shown = phone.evaluate(SEND, event)
    assert shown["code"] == "implicit_return"
    # on the screen now: her own child by name, the other child masked
    assert "王小明" in shown["message"] and "欧阳跨点" not in json.dumps(shown, ensure_ascii=False)
    [kept] = [r for r in phone.evaluate(LIST) if r["id"] == event["id"]]
    text = json.dumps(kept["result"], ensure_ascii=False)
    assert "王小明" not in text and "欧阳跨点" not in text and "王*明" in text
    assert card not in text  # the answer's copy names no card (the event keeps its own code)
    # two days later the answer is gone from the phone (it was kept 30 days)
    phone.evaluate(AGE, [event["id"], (datetime.now(UTC) - timedelta(days=2)).isoformat()])
    phone.reload()
    for _ in range(50):
        if not [r for r in phone.evaluate(LIST) if r["id"] == event["id"]]:
            break
        phone.wait_for_timeout(100)
    assert [r for r in phone.evaluate(LIST) if r["id"] == event["id"]] == []
