// The phone's cache of the story mother's points, so the scan screen can say what was scanned
// with no connection: copy codes with titles (and whether a copy is out, on which card), card
// codes with MASKED names only (trust.md). Refreshed from GET /api/v1/circulation/offline-cache
// when online; wiped at logout (this module hooks every form[data-logout] on the page).
// Waiting circulation events live in another database (outbox.js) and are NOT wiped at logout.
//
//   refreshCache({points}) -> Promise<info|null>   fetch and keep a fresh copy (null: failed)
//   lookupCopy(code) -> Promise<{code, title, status, card, due_at, point}|null>
//   lookupCard(code) -> Promise<{code, name (masked), status, borrower_status, open_loans}|null>
//   cacheInfo() -> Promise<{user, generated_at, points, copies, cards, loan_limit}|null>
//   wipeOfflineData() -> Promise       the cache, the kept scan page and the answers already
//                                      received; never the events still waiting

import { objectStore } from "./idb-store.js";

const DB_NAME = "library-offline-cache";
const STORE = "snapshot";
const KEY = "current";
const CACHE_URL = "/api/v1/circulation/offline-cache";

let memo = null; // {user, generated_at, points, loan_limit, copies: Map, cards: Map}

const idb = objectStore(DB_NAME, STORE);

function pageUser() {
  const el = document.querySelector("[data-user]");
  return el ? el.dataset.user : "";
}

function toMemo(snapshot) {
  return {
    ...snapshot,
    copies: new Map(snapshot.copies.map((c) => [c.code, c])),
    cards: new Map(snapshot.cards.map((c) => [c.code, c])),
  };
}

function toSnapshot(m) {
  return { ...m, copies: [...m.copies.values()], cards: [...m.cards.values()] };
}

async function load() {
  if (!memo) {
    const snapshot = await idb("readonly", (store) => store.get(KEY)).catch(() => null);
    memo = snapshot ? toMemo(snapshot) : null;
  }
  // A copy made for someone else who used this phone is not shown to her.
  const user = pageUser();
  if (memo && user && memo.user !== user) return null;
  return memo;
}

async function save(m) {
  memo = m;
  await idb("readwrite", (store) => store.put(toSnapshot(m), KEY));
}

export async function refreshCache({ points = [] } = {}) {
  if (!navigator.onLine) return null;
  const query = points.length ? `?point=${encodeURIComponent(points.join(","))}` : "";
  let response;
  try {
    response = await fetch(CACHE_URL + query, { credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    return null;
  }
  if (!response.ok) return null;
  const snapshot = await response.json().catch(() => null);
  if (!snapshot || !Array.isArray(snapshot.copies)) return null;
  const fresh = toMemo(snapshot);
  await reapplyWaiting(fresh);
  await save(fresh);
  return cacheInfo();
}

export async function lookupCopy(code) {
  const m = await load();
  return (m && m.copies.get(String(code || "").toUpperCase())) || null;
}

export async function lookupCard(code) {
  const m = await load();
  return (m && m.cards.get(String(code || "").toUpperCase())) || null;
}

export async function cacheInfo() {
  const m = await load();
  if (!m) return null;
  return {
    user: m.user, generated_at: m.generated_at, points: m.points, loan_limit: m.loan_limit,
    copies: m.copies.size, cards: m.cards.size,
  };
}

// What an event recorded on this phone changes, so the next scan offline knows it: a copy lent
// is out on that card, a copy returned is back.
function applyLocally(m, event) {
  const copy = m.copies.get(event.copy);
  const before = copy ? copy.card : null;
  const bump = (code, delta) => {
    const card = code && m.cards.get(code);
    if (card) card.open_loans = Math.max(0, (card.open_loans || 0) + delta);
  };
  if (event.type === "loan") {
    if (before !== event.card) {
      bump(before, -1);
      bump(event.card, +1);
    }
    if (copy) Object.assign(copy, { status: "on_loan", card: event.card || null });
  } else if (event.type === "return") {
    bump(before, -1);
    if (copy) Object.assign(copy, { status: "available", card: null, due_at: null });
  }
}

// A fresh copy from the server does not know events still waiting on this phone.
async function reapplyWaiting(m) {
  try {
    const { createOutbox } = await import("./outbox.js");
    const records = await createOutbox().list({ limit: 10000 });
    for (const record of records.reverse()) if (record.state === "pending") applyLocally(m, record.event);
  } catch (error) {
    console.error("offline cache: waiting events not applied", error);
  }
}

addEventListener("library:outbox", async (e) => {
  if (!e.detail || e.detail.type !== "stored") return;
  const m = await load();
  if (!m) return;
  applyLocally(m, e.detail.event);
  await save(m).catch((error) => console.error("offline cache", error));
});

export async function wipeOfflineData() {
  memo = null;
  const jobs = [idb("readwrite", (store) => store.clear()).catch(() => null)];
  // Answers already received (titles, masked names) go too; events still waiting stay.
  jobs.push(import("./outbox.js").then((m) => m.forgetAnswered()).catch(() => null));
  if (self.caches) jobs.push(caches.delete("pages").catch(() => null));
  if (navigator.serviceWorker && navigator.serviceWorker.controller) {
    navigator.serviceWorker.controller.postMessage({ type: "wipe-pages" });
  }
  await Promise.all(jobs);
}

// Logout wipes the cache first, then goes on (at most a short wait: logging out must work).
function hookLogout(root = document) {
  for (const form of root.querySelectorAll("form[data-logout]")) {
    if (form.dataset.offlineHooked) continue;
    form.dataset.offlineHooked = "1";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const pause = new Promise((resolve) => setTimeout(resolve, 1500));
      Promise.race([wipeOfflineData(), pause]).finally(() => form.submit());
    });
  }
}

hookLogout();
