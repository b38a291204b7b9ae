// The self-service kiosk's offline cache (GET /api/v1/kiosk/offline-cache, services/kiosk_offline.py),
// so a child's turn works with no connection. What it holds, and nothing else (trust.md):
//   - its OWN point only (the token's point; no other point is ever asked for);
//   - the point's children allowed self-service: card code → given name (never the surname),
//     how many books she has out, and whether an overdue book blocks her;
//   - the point's copies: code → title.
// How long: refreshed on load and every REFRESH_MS (10 minutes) while online; used offline for
// 24 hours after it was fetched (the server's expires_at − generated_at, counted on this
// device's clock from the moment it arrived), then deleted. Deleted at once when the kiosk is
// signed out (revoked or re-enrolled). Kept in IndexedDB, apart from the outbox's events.
//
//   refreshCache(authorization, pendingLoans) -> Promise<boolean>   fetch and keep a fresh copy
//   cachedCard(code) -> Promise<{code, name, open_loans, blocked}|null>   null: unknown or no cache
//   cachedTitle(code) -> Promise<string|null>
//   cacheInfo() -> Promise<{loan_limit, cards, copies, fetched_at}|null>   null: none, or expired
//   countLoan(card, delta)    a loan queued (+1) or taken back (−1) on this device
//   wipeCache()

import { objectStore } from "./idb-store.js";

const DB_NAME = "kiosk-offline-cache";
const STORE = "snapshot";
const KEY = "current";
const CACHE_URL = "/api/v1/kiosk/offline-cache";
export const REFRESH_MS = 10 * 60 * 1000;
const DEFAULT_TTL_MS = 24 * 3600 * 1000;

let memo = null; // {fetched_at, ttl_ms, loan_limit, cards: Map, copies: Map}

const idb = objectStore(DB_NAME, STORE);

function expired(m) {
  const age = Date.now() - m.fetched_at;
  return age > m.ttl_ms || age < -5 * 60 * 1000; // a clock set far back: not trusted either
}

async function load() {
  if (!memo) {
    const kept = await idb("readonly", (store) => store.get(KEY)).catch(() => null);
    memo = kept ? { ...kept, cards: new Map(kept.cards.map((c) => [c.code, c])), copies: new Map(kept.copies) } : null;
  }
  if (memo && expired(memo)) {
    await wipeCache();
    return null;
  }
  return memo;
}

async function save(m) {
  memo = m;
  await idb("readwrite", (store) => store.put({ ...m, cards: [...m.cards.values()], copies: [...m.copies] }, KEY));
}

export async function refreshCache(authorization, pendingLoans = []) {
  if (!navigator.onLine) return false;
  let response;
  try {
    response = await fetch(CACHE_URL, { headers: { Authorization: authorization }, cache: "no-store" });
  } catch (error) {
    return false;
  }
  if (!response.ok) return false;
  const body = await response.json().catch(() => null);
  if (!body || !Array.isArray(body.cards) || !Array.isArray(body.copies)) return false;
  const ttl = Date.parse(body.expires_at) - Date.parse(body.generated_at);
  const fresh = {
    point: body.point, fetched_at: Date.now(), ttl_ms: ttl > 0 ? ttl : DEFAULT_TTL_MS, loan_limit: body.loan_limit,
    cards: new Map(body.cards.map((c) => [c.code, { code: c.code, name: c.name, open_loans: c.open_loans, blocked: c.blocked }])),
    copies: new Map(body.copies.map((c) => [c.code, c.title])),
  };
  // Loans still waiting on this tablet are not known to the server yet.
  for (const event of pendingLoans) {
    const card = fresh.cards.get(event.card);
    if (card) card.open_loans += 1;
  }
  await save(fresh);
  return true;
}

export async function cachedCard(code) {
  const m = await load().catch(() => null);
  return (m && m.cards.get(code)) || null;
}

export async function cachedTitle(code) {
  const m = await load().catch(() => null);
  return (m && m.copies.get(code)) || null;
}

export async function cacheInfo() {
  const m = await load().catch(() => null);
  if (!m) return null;
  return { loan_limit: m.loan_limit, cards: m.cards.size, copies: m.copies.size, fetched_at: m.fetched_at };
}

export async function countLoan(code, delta) {
  const m = await load().catch(() => null);
  const card = m && m.cards.get(code);
  if (!card) return;
  card.open_loans = Math.max(0, card.open_loans + delta);
  await save(m).catch((error) => console.error("kiosk cache", error));
}

export async function wipeCache() {
  memo = null;
  await idb("readwrite", (store) => store.clear()).catch(() => null);
}
