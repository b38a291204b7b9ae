// The scan screen's way of sending circulation events to the server: store first, then send.
//
// Interface (kept stable for scan.js):
//   const outbox = createOutbox({endpoint, csrfToken})
//   outbox.send(event) -> Promise<result>
//       event: {id (uuid), type: "loan"|"return"|"renew", copy, card?, point, at (ISO with offset)}
//              (stored while offline it gains offline: true, so the server keeps the device's time)
//       result: one entry of the API's "results" ({id, status, code, message, loan}),
//               or {id, status: "queued", message} when it is kept on the device to sync later.
//   outbox.pending() -> Promise<number>     events waiting on this device
//   outbox.onChange(callback)               called with (pending count, status) when it changes
//   outbox.sync() -> Promise<results[]>     send what waits now
// Added for the offline screen:
//   outbox.status() -> {state, pending, others, message, nextRetryAt}
//       state: "idle" | "syncing" | "offline" | "waiting" (retry later) | "signin" (login expired)
//              | "forbidden"
//   outbox.list({limit}) -> recent records {id, event, by, state: "pending"|"done", result, ...}
//   outbox.syncIfPending() -> sync() when something of hers waits (cheap on every page load)
//   outbox.sync({everyone: true}) also sends events recorded by another account on this phone.
// Added for the self-service kiosk: createOutbox({endpoint, authorization: "Bearer …", user})
//   sends with that header and no session check.
//   outbox.cancel(id) -> Promise<boolean>   an event still waiting on this device is taken back
//       (the kiosk's undo of a loan queued offline): deleted before it is ever sent. False when
//       it is not waiting any more, or a sync holds the outbox right now (it may be on its way:
//       then undo it on the server once its answer is in).
//
// Another endpoint: createOutbox({endpoint}) for activities ({"events": [...]} there), and
// createOutbox({endpoint, field: "scans"}) for a stocktake ({"scans": [...]}); records carry
// their endpoint and each outbox sees only its own.
//
// Every event is written to IndexedDB (durable commit) before anything is sent, so a reload, a
// closed tab or a phone restart loses nothing. Events go in the order they were recorded, in
// batches, through POST /api/v1/circulation/events; the server applies each id once, so a
// retry after a lost answer is harmless (it answers "duplicate"). A failed send waits and
// retries with growing pauses; the connection coming back, the page becoming visible and the
// "上传" button send at once. A 401 (login expired) keeps everything until she signs in again.
// Each record keeps the server's answer, so the screen can say applied / duplicate /
// rejected (why) / review per event. Events of one account are not sent with another's login
// unless asked (sync({everyone: true})): the server records who lent a book.

const DB_NAME = "library-outbox";
const STORE = "events";
const BATCH = 50;
const REQUEST_TIMEOUT_MS = 20000;
const SEND_WAIT_MS = 8000; // a scan waits this long for the server before it is shown as kept
const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 5 * 60 * 1000;
// Answers are kept on the phone only as long as she needs them (trust.md: the phone keeps codes,
// titles and masked names, briefly): an applied one until the next day, one that asks for her
// attention (refused, sent for review) a week. What is kept is masked (see masked()).
const KEEP_DONE_MS = 24 * 3600 * 1000;
const KEEP_NOTICE_MS = 7 * 24 * 3600 * 1000;
const NOTICE = new Set(["rejected", "review"]);
const SESSION_URL = "/api/v1/circulation/offline-session";
const DEFAULT_ENDPOINT = "/api/v1/circulation/events";

export const MESSAGES = {
  offline: "没有网络：记录已保存在这台手机上，联网后会自动上传。",
  waiting: "网络不稳定：记录已保存在这台手机上，稍后自动重试上传。",
  signin: "登录已过期：记录仍保存在这台手机上，请重新登录，登录后会自动上传。",
  forbidden: "当前账号不能上传借还记录：记录仍保存在这台手机上，请用故事妈妈或管理员账号登录。",
  server: "服务器暂时无法处理：记录已保存在这台手机上，稍后自动重试上传。",
};

// ------------------------------------------------------------------ IndexedDB, directly

let dbPromise = null;

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        const store = request.result.createObjectStore(STORE, { keyPath: "id" });
        store.createIndex("state", "state");
      };
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = () => { dbPromise = null; reject(request.error); };
      request.onblocked = () => reject(new Error("outbox database blocked"));
    });
  }
  return dbPromise;
}

// Runs fn(store) in one transaction; resolves with fn's value once the transaction commits.
async function inStore(mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode, mode === "readwrite" ? { durability: "strict" } : undefined);
    let value;
    tx.oncomplete = () => resolve(value);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
    Promise.resolve(fn(tx.objectStore(STORE))).then((v) => { value = v; }, (e) => { tx.abort(); reject(e); });
  });
}

function req(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function allRecords() {
  const records = await inStore("readonly", (store) => req(store.getAll()));
  return records.sort((a, b) => a.seq - b.seq);
}

async function pendingRecords() {
  const records = await inStore("readonly", (store) => req(store.index("state").getAll("pending")));
  return records.sort((a, b) => a.seq - b.seq);
}

// ------------------------------------------------------------------ the outbox

const TYPES = new Set(["loan", "return", "renew"]);
let lastSeq = 0;

function nextSeq() {
  // Order of recording on this device, even if the clock is changed meanwhile.
  lastSeq = Math.max(Date.now() * 1000, lastSeq + 1);
  return lastSeq;
}

function pageCsrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) return meta.content;
  const input = document.querySelector("form[data-logout] input[name=csrf_token]");
  return input ? input.value : "";
}

function pageUser() {
  const el = document.querySelector("[data-user]");
  return el ? el.dataset.user : "";
}

class Outbox {
  constructor(endpoint, field = "events") {
    this.field = field; // the request's list: {"events": [...]} or {"scans": [...]}
    this.endpoint = endpoint;
    this.csrfToken = "";
    this.authorization = "";
    this.user = "";
    this.listeners = [];
    this.state = navigator.onLine ? "idle" : "offline";
    this.message = navigator.onLine ? "" : MESSAGES.offline;
    this.failures = 0;
    this.retryTimer = null;
    this.nextRetryAt = null;
    this.running = null;
    this.everyone = false;
    this.sessionChecked = false;
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(DB_NAME) : null;
    if (this.channel) this.channel.onmessage = () => this.changed(false);
    addEventListener("online", () => { this.failures = 0; this.sync(); });
    addEventListener("offline", () => { this.setState("offline", MESSAGES.offline); });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && navigator.onLine) this.syncIfPending();
    });
    this.prune();
    this.api = {
      send: (event) => this.send(event),
      pending: () => this.pending(),
      onChange: (callback) => { this.listeners.push(callback); },
      sync: (options) => this.sync(options),
      syncIfPending: () => this.syncIfPending(),
      status: () => this.status(),
      list: (options) => this.list(options),
      cancel: (id) => this.cancel(id),
    };
  }

  mine(record) {
    return this.ours(record) && (this.everyone || !record.by || !this.user || record.by === this.user);
  }

  // One store on the phone for every endpoint: each record goes to the endpoint it was made for
  // (records from before the field existed are circulation events).
  ours(record) {
    return (record.endpoint || DEFAULT_ENDPOINT) === this.endpoint;
  }

  async pending() {
    return (await pendingRecords()).filter((r) => this.ours(r)).length;
  }

  async status() {
    const waiting = (await pendingRecords()).filter((r) => this.ours(r));
    const others = waiting.filter((r) => !this.mine(r)).length;
    return {
      state: this.state, pending: waiting.length, others, message: this.message,
      nextRetryAt: this.nextRetryAt,
    };
  }

  async list({ limit = 30 } = {}) {
    return (await allRecords()).filter((r) => this.ours(r)).reverse().slice(0, limit);
  }

  setState(state, message = "") {
    if (this.state === state && this.message === message) return;
    this.state = state;
    this.message = message;
    this.changed(false);
  }

  // Tell this page's listeners (and, when broadcast, the other tabs) what waits now.
  async changed(broadcast = true) {
    if (broadcast && this.channel) this.channel.postMessage("changed");
    if (!this.listeners.length) return;
    const status = await this.status();
    for (const callback of this.listeners) {
      try { callback(status.pending, status); } catch (error) { console.error(error); }
    }
  }

  async send(input) {
    const event = this.field === "scans" ? normaliseScan(input) : normalise(input, this.endpoint);
    // Recorded with no connection: the server then trusts the device's time for its order.
    if (!navigator.onLine && event.offline === undefined) event.offline = true;
    const record = {
      id: event.id, event, endpoint: this.endpoint, by: this.user || pageUser(), seq: nextSeq(), state: "pending",
      result: null, attempts: 0, queued_at: new Date().toISOString(), done_at: null, last_error: "",
    };
    // Stored before anything else: from here on the event survives whatever happens.
    const existing = await inStore("readwrite", async (store) => {
      const found = await req(store.get(event.id));
      if (!found) store.add(record);
      return found;
    });
    if (existing && existing.state === "done") return existing.result;
    if (!existing && this.field === "events") { // stocktake scans are not shown as offline records
      dispatchEvent(new CustomEvent("library:outbox", { detail: { type: "stored", event } }));
      this.changed();
    }
    if (!navigator.onLine) {
      this.setState("offline", MESSAGES.offline);
      return queued(event.id, MESSAGES.offline);
    }
    let timer;
    const patience = new Promise((resolve) => { timer = setTimeout(resolve, SEND_WAIT_MS); });
    const results = await Promise.race([this.sync(), patience]);
    clearTimeout(timer);
    const answer = Array.isArray(results) && results.find((r) => r && r.id === event.id);
    if (answer) return answer; // as the server said it, names and all, for the screen now
    const stored = await inStore("readonly", (store) => req(store.get(event.id)));
    if (stored && stored.state === "done") return stored.result;
    return queued(event.id, this.message || MESSAGES.waiting);
  }

  async cancel(id) {
    const remove = () => inStore("readwrite", async (store) => {
      const found = await req(store.get(id));
      if (!found || found.state !== "pending" || !this.ours(found)) return false;
      store.delete(id);
      return true;
    });
    // A run picks its batch and posts it under the same lock (sync): holding it here, no run
    // can be sending this event; one that holds it now may be, so nothing is taken back then.
    const removed = navigator.locks
      ? await navigator.locks.request(DB_NAME, { ifAvailable: true }, (lock) => (lock ? remove() : false))
      : (this.running ? false : await remove());
    if (removed) this.changed();
    return removed;
  }

  async syncIfPending() {
    if ((await pendingRecords()).some((r) => this.mine(r))) return this.sync();
    return [];
  }

  // One run at a time per page (and per phone, where Web Locks exist); a call while a run is
  // going shares it, and the run keeps going until nothing of hers waits.
  sync({ everyone = false } = {}) {
    if (everyone) this.everyone = true;
    if (!this.running) {
      const run = () => this.run();
      const locked = navigator.locks ? navigator.locks.request(DB_NAME, run) : run();
      this.running = locked.finally(() => { this.running = null; this.everyone = false; });
    }
    return this.running;
  }

  async run() {
    clearTimeout(this.retryTimer);
    this.nextRetryAt = null;
    const results = [];
    for (;;) {
      const batch = (await pendingRecords()).filter((r) => this.mine(r)).slice(0, BATCH);
      if (!batch.length) {
        this.failures = 0;
        this.setState(navigator.onLine ? "idle" : "offline", navigator.onLine ? "" : MESSAGES.offline);
        break;
      }
      this.setState("syncing", "");
      if (!this.sessionChecked) {
        const session = await this.checkSession();
        if (session === "stop") break;
        if (session === "retry") { this.retryLater(MESSAGES.waiting); break; }
        continue; // the signed-in user may differ from the page's: pick her events again
      }
      const done = await this.sendBatch(batch, results);
      if (!done) break;
    }
    await this.changed();
    return results;
  }

  // Who is signed in now, and a CSRF token of this session (a page opened from the phone's
  // cache may carry one from before). Returns "ok", "stop" (signed out) or "retry".
  async checkSession() {
    let response;
    try {
      response = await fetchWithTimeout(SESSION_URL, { credentials: "same-origin", cache: "no-store" });
    } catch (error) {
      return "retry";
    }
    if (response.status === 401) { this.setState("signin", MESSAGES.signin); return "stop"; }
    if (response.status === 403) { this.setState("forbidden", MESSAGES.forbidden); return "stop"; }
    if (!response.ok) return "retry";
    const body = await response.json().catch(() => null);
    if (!body) return "retry";
    this.csrfToken = body.csrf_token || this.csrfToken;
    this.user = (body.user && body.user.username) || this.user;
    this.sessionChecked = true;
    return "ok";
  }

  // Sends one batch; true when the run may go on to the next one.
  async sendBatch(batch, results, retried = false) {
    const outcome = await this.post(batch.map((r) => r.event));
    if (outcome.kind === "results") {
      results.push(...await this.keepResults(batch, outcome.results));
      this.failures = 0;
      return true;
    }
    if (outcome.kind === "signin") {
      this.sessionChecked = false;
      this.setState("signin", MESSAGES.signin);
      return false;
    }
    if (outcome.kind === "stale" && !retried && !this.authorization) {
      // 400 or 403: perhaps a token of an older session. Ask who is signed in, then try again.
      this.sessionChecked = false;
      const session = await this.checkSession();
      if (session !== "ok") {
        if (session === "retry") this.retryLater(MESSAGES.waiting);
        return false;
      }
      const still = batch.filter((r) => this.mine(r)); // the signed-in user may be another
      return still.length ? this.sendBatch(still, results, true) : true;
    }
    if (outcome.kind === "stale" || outcome.kind === "refused") return this.refused(batch, outcome, results);
    this.retryLater(outcome.message);
    return false;
  }

  // The server refused the whole request (not a per-event answer): find the event it is about
  // by sending one at a time; a single refused event keeps its record with the reason.
  async refused(batch, outcome, results) {
    if (outcome.status === 403) {
      this.setState("forbidden", MESSAGES.forbidden);
      return false;
    }
    if (batch.length > 1) {
      for (const record of batch) {
        const single = await this.post([record.event]);
        if (single.kind === "results") {
          results.push(...await this.keepResults([record], single.results));
        } else if (single.kind === "refused" || single.kind === "stale") {
          results.push(...await this.keepResults([record], [refusal(record.id, single)]));
        } else {
          if (single.kind === "signin") this.setState("signin", MESSAGES.signin);
          else this.retryLater(single.message);
          return false;
        }
      }
      return true;
    }
    results.push(...await this.keepResults(batch, [refusal(batch[0].id, outcome)]));
    return true;
  }

  async post(events) {
    let response;
    try {
      response = await fetchWithTimeout(this.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json", "X-CSRFToken": this.csrfToken || pageCsrfToken(),
          ...(this.authorization ? { Authorization: this.authorization } : {}),
        },
        body: JSON.stringify({ [this.field]: events }),
      });
    } catch (error) {
      return { kind: "retry", message: navigator.onLine ? MESSAGES.waiting : MESSAGES.offline };
    }
    const body = await response.json().catch(() => null);
    const serverMessage = body && body.error && body.error.message;
    // Results per event, even beside an error (a 422 for a reused id still answers the others).
    if (body && Array.isArray(body.results) && (response.ok || response.status === 422)) {
      return { kind: "results", results: body.results };
    }
    if (response.status === 401) return { kind: "signin" };
    if (response.status === 400 || response.status === 403) {
      return { kind: "stale", status: response.status, code: body && body.error && body.error.code, message: serverMessage };
    }
    // 404 (server not updated yet), 408, 429, 5xx, or an answer cut short: try again later.
    if (!response.ok && [409, 413, 422].includes(response.status)) {
      return { kind: "refused", status: response.status, code: body && body.error && body.error.code, message: serverMessage };
    }
    return { kind: "retry", message: MESSAGES.server };
  }

  // The server's answer per event, kept with the event. An answer already kept wins: a second
  // tab's retry may be told "duplicate" about an event this tab saw applied.
  async keepResults(batch, results) {
    const byId = new Map(results.map((r) => [r.id, r]));
    const kept = await inStore("readwrite", async (store) => {
      const out = [];
      for (const record of batch) {
        const result = byId.get(record.id);
        if (!result) continue;
        const current = await req(store.get(record.id));
        if (!current) continue;
        if (current.state === "done") { out.push(current.result); continue; }
        current.state = "done";
        current.result = masked(result);
        current.done_at = new Date().toISOString();
        current.attempts += 1;
        store.put(current);
        out.push(result);
      }
      return out;
    });
    this.changed();
    return kept;
  }

  retryLater(message) {
    this.failures += 1;
    const pause = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.failures - 1)) * (0.75 + Math.random() * 0.5);
    clearTimeout(this.retryTimer);
    this.nextRetryAt = Date.now() + pause;
    this.retryTimer = setTimeout(() => { if (navigator.onLine) this.sync(); }, pause);
    this.setState(navigator.onLine ? "waiting" : "offline", navigator.onLine ? message : MESSAGES.offline);
  }

  async prune() {
    try {
      const now = Date.now();
      await inStore("readwrite", async (store) => {
        for (const record of await req(store.index("state").getAll("done"))) {
          const keep = NOTICE.has(record.result && record.result.status) ? KEEP_NOTICE_MS : KEEP_DONE_MS;
          if (!(Date.parse(record.done_at) >= now - keep)) store.delete(record.id);
        }
      });
    } catch (error) {
      console.error("outbox prune", error);
    }
  }
}

// A stocktake scan: an id, a time, and what was scanned.
function normaliseScan(input) {
  const event = { ...input };
  if (!event.id) event.id = newEventId();
  if (!event.at) event.at = deviceTime();
  if (!event.copy) throw new TypeError("a scan needs a copy");
  return event;
}

function normalise(input, endpoint = DEFAULT_ENDPOINT) {
  const event = { ...input };
  if (!event.id) event.id = newEventId();
  if (endpoint !== DEFAULT_ENDPOINT) return event; // another endpoint checks its own records
  if (!event.at) event.at = deviceTime();
  if (!TYPES.has(event.type)) throw new TypeError(`unknown event type ${event.type}`);
  if (!event.copy || !event.point) throw new TypeError("an event needs a copy and a point");
  if (event.type !== "loan") delete event.card;
  return event;
}

// The phone keeps masked names only (trust.md): the answer shown at once may name the child,
// the copy kept for later says 王*明.
export function maskName(name) {
  const text = String(name || "").replace(/\s+/g, "");
  if (text.length <= 1) return text ? "*" : "";
  if (text.length === 2) return text[0] + "*";
  return text[0] + "*".repeat(text.length - 2) + text[text.length - 1];
}

function masked(result) {
  const copy = JSON.parse(JSON.stringify(result));
  const names = new Set();
  const hide = (holder) => {
    if (holder && holder.borrower && holder.borrower.name) {
      names.add(holder.borrower.name);
      holder.borrower.name = maskName(holder.borrower.name);
    }
    if (holder && holder.borrower) delete holder.borrower.card; // the event keeps the code it needs
  };
  hide(copy);
  hide(copy.loan);
  hide(copy.previous);
  let message = String(copy.message || "");
  for (const name of [...names].sort((a, b) => b.length - a.length)) message = message.split(name).join(maskName(name));
  copy.message = message;
  return copy;
}

export async function forgetAnswered() {
  // At logout: answers already received go; events still waiting stay.
  await inStore("readwrite", async (store) => {
    for (const key of await req(store.index("state").getAllKeys("done"))) store.delete(key);
  });
}

function queued(id, message) {
  return { id, status: "queued", code: "queued", message, loan: null };
}

function refusal(id, outcome) {
  return {
    id, status: "rejected", code: outcome.code || `http_${outcome.status}`,
    message: outcome.message || "服务器拒绝了这条记录，请联系图书管理员。", loan: null,
  };
}

async function fetchWithTimeout(url, options) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    return await fetch(url, { ...options, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

const instances = new Map();

// One outbox per endpoint and page: scan.js and the offline status share it.
export function createOutbox({ endpoint = DEFAULT_ENDPOINT, csrfToken = "", user = "", field = "events", authorization = "" } = {}) {
  let outbox = instances.get(endpoint);
  if (!outbox) {
    outbox = new Outbox(endpoint, field);
    instances.set(endpoint, outbox);
  }
  if (csrfToken) outbox.csrfToken = csrfToken;
  // A bearer client with no session (the self-service kiosk, kiosk.js): "Bearer <token>".
  // It has no session to check (checkSession), its token is who it is.
  if (authorization) { outbox.authorization = authorization; outbox.sessionChecked = true; }
  if (user || !outbox.user) outbox.user = user || pageUser();
  return outbox.api;
}

export function newEventId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; plain-http phones fall back to getRandomValues.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function deviceTime(date = new Date()) {
  // ISO 8601 with the device's own offset, e.g. 2026-11-29T10:15:00+08:00
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:` +
    `${pad(date.getMinutes())}:${pad(date.getSeconds())}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}
