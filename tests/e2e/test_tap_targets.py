"""Every button, link-button, menu toggle and radio/checkbox label on the main pages is at least
44 px high at 390 × 844 (a thumb's width); icon-like targets are 44 px wide too (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.builders import PASSWORD
from tests.e2e.conftest import login

# Links inside a sentence (WCAG 2.5.8's inline exception) are text, not targets: skipped.
MEASURE = """(root) => {
  const small = [];
  const shown = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const inSentence = el => { const p = el.parentElement;
    return el.tagName === 'A' && p && [...p.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()); };
  const targets = document.querySelector(root).querySelectorAll(
    'button, .btn, summary, a[href], input[type=radio], input[type=checkbox], select, input[type=submit]');
  for (const el of targets) {
    if (!shown(el) && !(el.type === 'radio' || el.type === 'checkbox')) continue;
    if (inSentence(el)) continue;
    if (el.closest('svg')) continue;  // a chart's bars: each month also has its link in the table below
    let box = el;
    if (el.type === 'radio' || el.type === 'checkbox') {
      box = el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`));
      if (!box) { small.push(`${el.name}: no label around it`); continue; }
      if (!shown(box)) continue;
    }
    const r = box.getBoundingClientRect();
    const text = (box.innerText || box.getAttribute('aria-label') || box.name || '').trim().replace(/\\s+/g, ' ');
    const icon = !/[\\p{L}\\p{N}]/u.test(text);  // ☰, ×, ›: no word to widen the target
    if (r.height < 44 - 0.5 || (icon && r.width < 44 - 0.5))
      small.push(`${box.tagName.toLowerCase()} "${text.slice(0, 30)}" ${Math.round(r.width)}×${Math.round(r.height)}`);
  }
  return small;
}"""


def _check(page, base, paths):
    problems = {}
    for path in paths:
        page.goto(base + path)
        page.wait_for_load_state()
        assert page.evaluate("document.title").find("出错了") < 0, path
        found = page.evaluate(MEASURE, "body")
        if page.locator("details.menu").is_visible():
            page.click("details.menu summary")
            found += [f"(menu) {x}" for x in page.evaluate(MEASURE, "details.menu nav")]
        if found:
            problems[path] = found
    return problems


def _data(make):
    make.point("P01", "三灶镇故事会点")
    make.point("P02", "红旗镇故事会点")
    mama = make.user("mama", "story_mother", points=["P01"])
    make.user("lib", "librarian")
    make.user("boss", "admin")
    child = make.borrower("王小明", point="P01", guardian_phone="13812345678")
    title = make.title("猜猜我有多爱你")
    late = make.copy(title, point="P01")
    loan = make.loan(late, child, lent_at=datetime.now(UTC) - timedelta(days=20), lent_by_id=mama.id)
    make.loan(make.copy(title, point="P01"), child, renewals=1)
    free = make.copy(title, point="P01")
    return child, title, free, loan


def test_targets_are_44px_on_a_phone_for_every_role(app, make, live_server, phone):
    child, title, free, loan = _data(make)
    problems = {}
    login(phone, live_server.url, "lib", PASSWORD)
    problems.update(_check(phone, live_server.url, [
        "/home", "/borrowers/", f"/borrowers/{child.id}", "/borrowers/?q=5678",
        "/circulation/loans", f"/circulation/loans/{loan.id}/mark?outcome=lost", "/circulation/overdue",
        "/circulation/review", "/titles", f"/titles/{title.id}", f"/copies/{free.code}",
        f"/copies/{loan_copy_code(app, loan)}", "/labels", "/cards/", "/reports/year/", "/reports/month/", "/points/",
    ]))
    phone.context.clear_cookies()
    login(phone, live_server.url, "boss", PASSWORD)
    problems.update({f"admin {k}": v for k, v in _check(phone, live_server.url, [
        "/admin/settings", "/admin/users", "/admin/audit"]).items()})
    phone.context.clear_cookies()
    login(phone, live_server.url, "mama", PASSWORD)
    problems.update({f"mama {k}": v for k, v in _check(phone, live_server.url, [
        "/borrowers/", "/borrowers/?q=xiaoming", "/circulation/overdue", f"/copies/{free.code}"]).items()})
    phone.context.clear_cookies()
    problems.update({f"anon {k}": v for k, v in _check(phone, live_server.url, ["/login"]).items()})
    assert problems == {}


def loan_copy_code(app, loan):
    from library_app.db import session_factory
    from library_app.models import Copy

    with app.app_context(), session_factory()() as db:
        return db.get(Copy, loan.copy_id).code
