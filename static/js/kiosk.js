// The self-service kiosk (product.md "Self-service corner"): a child scans her card, then her
// books; a book scanned with no card is returned.
//   not enrolled      → the enrol screen: type or scan the librarian's one-time code
//   card              → "你好，<given name>", her books and due dates, how many more she may take
//   book, in a turn   → lent at once, with an undo for KIOSK_UNDO_SECONDS (10)
//   book, no turn     → returned ("还书成功，请放进还书箱")
//   "完成" or KIOSK_IDLE_SECONDS (60) without a scan → the turn ends, the screen is cleared
// Codes come from a keyboard-wedge scanner (the hidden field keeps the focus) or the camera
// (decoder.js's BarcodeDetector, as on the scan screen; codes read by codes.js). Loans and returns go through the
// outbox (outbox.js) with the kiosk's token, so they are kept on the device when offline.
// A 401 anywhere means the kiosk was revoked: its token is forgotten and the enrol screen shown.
// Offline (kiosk-cache.js): a card known to the cache of this point starts a turn by its given
// name; each book is queued in the outbox as a loan ("借好了，已记在这台机器上"), and its undo
// takes it out of the outbox before it is sent. At sync the server applies the kiosk's rules;
// a queued loan that breaks them goes to the librarians' review queue (the book has left).

import { createOutbox, deviceTime, newEventId } from "./outbox.js";
import { readCode } from "./codes.js";
import { createDecoder } from "./decoder.js";
import { qrCamera } from "./qr-camera.js";
import { REFRESH_MS, cacheInfo, cachedCard, cachedTitle, countLoan, refreshCache, wipeCache } from "./kiosk-cache.js";

const root = document.getElementById("kiosk");
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "kiosk-token";
const POINT_KEY = "kiosk-point";
const IDLE_MS = Number(root.dataset.idleSeconds || 60) * 1000;
const UNDO_S = Number(root.dataset.undoSeconds || 10);
const REPEAT_MS = 3000;
const CHECK_MS = 60 * 1000; // asks the server now and then whether the kiosk is still enrolled

const state = { token: localStorage.getItem(TOKEN_KEY) || "", point: readPoint(), turn: null, seen: new Map(),
  idle: null, undo: null, messageTimer: null };
let outbox = null;

function readPoint() {
  try { return JSON.parse(localStorage.getItem(POINT_KEY) || "null"); } catch (e) { return null; }
}

// ------------------------------------------------------------------ sounds and messages

let audio = null;
function tone(kind) {
  try {
    if (navigator.vibrate) navigator.vibrate(kind === "bad" ? [80, 60, 80] : 60);
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const notes = kind === "bad" ? [330, 220] : kind === "warn" ? [520] : [660, 880];
    notes.forEach((f, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = f;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + i * 0.15);
      osc.stop(audio.currentTime + i * 0.15 + 0.13);
    });
  } catch (e) { /* no sound on this device */ }
}

function say(text) {
  // Spoken too, for children who read little (where the device has a Chinese voice).
  try {
    if (!window.speechSynthesis) return;
    speechSynthesis.cancel();
    const u = new SpeechSynthesisUtterance(text);
    u.lang = "zh-CN";
    speechSynthesis.speak(u);
  } catch (e) { /* no voice */ }
}

function show(kind, title, text = "", { undo = null, ms = 4000 } = {}) {
  const box = $("message");
  box.className = `message ${kind}`;
  $("message-title").textContent = title;
  $("message-text").textContent = text;
  box.hidden = false;
  tone(kind);
  say(text && text.length <= 20 ? `${title}，${text}` : title);
  clearTimeout(state.messageTimer);
  clearUndo();
  if (undo) startUndo(undo);
  else state.messageTimer = setTimeout(() => { box.hidden = true; }, ms);
}

function hideMessage() {
  clearTimeout(state.messageTimer);
  clearUndo();
  $("message").hidden = true;
}

// ------------------------------------------------------------------ screens

function screen(name) {
  for (const id of ["enrol", "welcome", "turn"]) $(id).hidden = id !== name;
}

function authHeader() { return { Authorization: `Bearer ${state.token}` }; }

function signedOut(note) {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(POINT_KEY);
  state.token = "";
  state.point = null;
  wipeCache();
  endTurn();
  hideMessage();
  closeCamera();
  $("enrol-note").textContent = note || "请图书管理员在“自助借书机”页面生成登记码，输入或扫描它。";
  screen("enrol");
  $("enrol-code").focus();
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeader() }, cache: "no-store" });
  if (response.status === 401) {
    signedOut("这台自助借书机已被停用或需要重新登记。请找图书管理员。");
    throw new Error("signed out");
  }
  return response;
}

// ------------------------------------------------------------------ enrolment

async function enrol(raw) {
  const code = String(raw || "").replace(/[^0-9a-z]/gi, "").toUpperCase();
  if (!code) return;
  $("enrol-error").hidden = true;
  let response;
  try {
    response = await fetch("/api/v1/kiosk/enrol", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ enrol_code: code }),
    });
  } catch (e) {
    $("enrol-error").textContent = "没有网络：登记需要联网，请联网后再试。";
    $("enrol-error").hidden = false;
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("enrol-error").textContent = (body.error && body.error.message) || "登记没有成功，请再试一次。";
    $("enrol-error").hidden = false;
    return;
  }
  state.token = body.token;
  state.point = { code: body.point, name: body.point_name, kiosk: body.name };
  localStorage.setItem(TOKEN_KEY, state.token);
  localStorage.setItem(POINT_KEY, JSON.stringify(state.point));
  history.replaceState(null, "", location.pathname);
  start();
}

function codeFromEnrolQr(text) {
  // The QR on the kiosks page is this screen's address with ?code=…
  try {
    const url = new URL(text, location.href);
    return url.searchParams.get("code") || "";
  } catch (e) { return ""; }
}

// ------------------------------------------------------------------ a child's turn

function touch() {
  clearTimeout(state.idle);
  if (state.turn) state.idle = setTimeout(() => endTurn(), IDLE_MS);
}

function endTurn() {
  clearTimeout(state.idle);
  state.turn = null;
  $("hello").textContent = "";
  $("books").replaceChildren();
  $("can-borrow").textContent = "";
  $("books-out").hidden = true;
  if (state.token) screen("welcome");
}

function dueWords(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getMonth() + 1}月${d.getDate()}日前还`;
}

function bookItem(title, dueAt, { fresh = false, overdue = false } = {}) {
  const li = document.createElement("li");
  if (fresh) li.classList.add("new");
  if (overdue) li.classList.add("overdue");
  const cover = document.createElement("span");
  cover.className = "cover";
  cover.setAttribute("aria-hidden", "true");
  cover.innerHTML = '<svg viewBox="0 0 40 50" width="36" height="44"><rect x="3" y="3" width="34" height="44" rx="4" fill="#fff" opacity=".9"/><rect x="9" y="12" width="22" height="4" rx="2" fill="#0ea5e9"/><rect x="9" y="22" width="16" height="4" rx="2" fill="#0ea5e9"/></svg>';
  const words = document.createElement("span");
  const t = document.createElement("span");
  t.className = "title";
  t.textContent = title;
  const due = document.createElement("span");
  due.className = "due";
  due.textContent = overdue ? `${dueWords(dueAt)}（已过期）` : dueAt ? dueWords(dueAt) : "联网后上传";
  words.append(t, document.createElement("br"), due);
  li.append(cover, words);
  return li;
}

function renderTurn() {
  const turn = state.turn;
  $("hello").textContent = `你好，${turn.name}`;
  $("books").replaceChildren(...turn.loans.map((x) => bookItem(x.title, x.due_at, x)));
  // Offline the tablet knows how many books she has at home, not which: say the number.
  $("books-out").hidden = !(turn.offline && turn.out > 0);
  $("books-out").textContent = turn.offline && turn.out > 0 ? `家里还有 ${turn.out} 本书没还` : "";
  const can = $("can-borrow");
  can.replaceChildren();
  if (turn.refusal) {
    can.textContent = turn.refusal.message;
  } else if (turn.canBorrow > 0) {
    const n = document.createElement("strong");
    n.textContent = String(turn.canBorrow);
    can.append("还可以借 ", n, " 本，扫一扫书吧");
  } else {
    can.textContent = "今天借满了，看完再来换吧";
  }
  screen("turn");
}

async function scanCard(code) {
  if (!navigator.onLine) { offlineTurn(code); return; }
  let response;
  try {
    response = await api(`/api/v1/kiosk/cards/${encodeURIComponent(code)}`);
  } catch (e) {
    if (state.token) offlineTurn(code);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (body.error && body.error.message) || "请找老师帮忙。";
    show("bad", response.status === 429 ? "请等一等" : "认不出这张卡", message);
    return;
  }
  state.turn = { card: code, name: body.display_name, loans: body.loans.map((x) => ({ ...x })),
    canBorrow: body.can_borrow, refusal: body.refusal };
  hideMessage(); // what the last child saw is not hers
  renderTurn();
  say(`你好，${body.display_name}`);
  tone("good");
  touch();
}

// No network: the turn comes from this point's cache (kiosk-cache.js), given name only.
async function offlineTurn(code) {
  const info = await cacheInfo();
  if (!info) { show("warn", "没有网络", "现在不能刷卡借书，可以扫书还书。"); return; }
  const child = await cachedCard(code);
  if (!child) { show("bad", "认不出这张卡", "请找老师"); return; }
  const limit = Number(info.loan_limit) || 0;
  state.turn = { card: code, name: child.name, loans: [], out: child.open_loans, offline: true,
    canBorrow: child.blocked ? 0 : Math.max(0, limit - child.open_loans),
    refusal: child.blocked ? { code: "overdue_blocks_self_service", message: "你有一本书过了还书日期，请先还书，或找老师帮忙。" } : null };
  hideMessage();
  renderTurn();
  say(`你好，${child.name}`);
  tone("good");
  touch();
}

async function send(event) {
  try {
    return await outbox.send(event);
  } catch (e) {
    return { status: "rejected", message: "没有记下来，请再扫一次。" };
  }
}

async function lendBook(code) {
  const turn = state.turn;
  if (turn.refusal) { show("bad", "请找老师", turn.refusal.message); return; }
  if (turn.loans.some((x) => x.copy === code)) { show("warn", "这本书已经借到了", ""); return; }
  if (turn.canBorrow <= 0) { show("warn", "今天借满了", "看完再来换吧。"); return; }
  const event = { id: newEventId(), type: "loan", copy: code, card: turn.card, point: state.point.code, at: deviceTime() };
  const result = await send(event);
  if (state.turn !== turn) return; // the turn ended meanwhile
  if (result.status === "applied" || result.status === "review" || result.status === "queued") {
    const queued = result.status === "queued";
    const title = (result.loan && result.loan.title) || (await cachedTitle(code)) || "这本书";
    const due = result.loan && result.loan.due_at;
    const item = { title, due_at: due, fresh: true, event: event.id, copy: code, queued };
    turn.loans.push(item);
    turn.canBorrow -= 1;
    if (queued) countLoan(turn.card, +1); // the next turn offline knows she has it
    renderTurn();
    // Queued: its undo takes it out of the outbox before it is sent (outbox.cancel).
    show("good", "借好了", queued ? "已记在这台机器上，联网后上传。" : `《${title}》${dueWords(due)}`, { undo: item });
  } else if (result.status === "duplicate") {
    show("warn", "这本书已经借到了", "");
  } else {
    show("bad", "没有借成", result.message || "请找老师帮忙。");
  }
  touch();
}

async function returnBook(code) {
  const event = { id: newEventId(), type: "return", copy: code, point: state.point.code, at: deviceTime() };
  const result = await send(event);
  if (["applied", "review", "queued", "duplicate"].includes(result.status)) {
    show("good", "还书成功", "请放进还书箱");
  } else {
    show("bad", "没有还成", result.message || "请找老师帮忙。");
  }
}

// ------------------------------------------------------------------ undo (10 seconds)

function startUndo(item) {
  let left = UNDO_S;
  $("undo-seconds").textContent = String(left);
  $("undo").hidden = false;
  state.undo = { item, timer: setInterval(() => {
    left -= 1;
    $("undo-seconds").textContent = String(left);
    if (left <= 0) hideMessage();
  }, 1000) };
}

function clearUndo() {
  if (state.undo) clearInterval(state.undo.timer);
  state.undo = null;
  $("undo").hidden = true;
}

async function undo() {
  const pending = state.undo;
  if (!pending) return;
  clearUndo();
  touch();
  if (pending.item.queued && await outbox.cancel(pending.item.event)) {
    countLoan(state.turn ? state.turn.card : "", -1);
    undone(pending);
    return;
  }
  // Sent already (or on its way now): undone on the server, as for a loan made online.
  if (pending.item.queued) await outbox.sync();
  let response;
  try {
    response = await api("/api/v1/kiosk/undo", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ event_id: pending.item.event }),
    });
  } catch (e) {
    if (state.token) show("bad", "没有撤销成", "请找老师帮忙。");
    return;
  }
  if (!response.ok) { show("bad", "没有撤销成", "请找老师帮忙。"); return; }
  undone(pending);
}

function undone(pending) {
  const turn = state.turn;
  if (turn) {
    turn.loans = turn.loans.filter((x) => x !== pending.item);
    turn.canBorrow += 1;
    renderTurn();
  }
  show("warn", "不借了", `《${pending.item.title}》请放回书架`);
}

// ------------------------------------------------------------------ codes in

function handle(raw) {
  if (!state.token) {
    const code = codeFromEnrolQr(raw) || raw;
    enrol(code);
    return;
  }
  const parsed = readCode(raw);
  if (parsed.error) { show("bad", "认不出来", "请再扫一次。"); return; }
  const last = state.seen.get(parsed.code) || 0;
  if (Date.now() - last < REPEAT_MS) return; // the camera seeing the same label twice
  state.seen.set(parsed.code, Date.now());
  touch();
  if (parsed.kind === "card") {
    if (state.turn && state.turn.card === parsed.code) return;
    endTurn();
    scanCard(parsed.code);
  } else if (state.turn) {
    lendBook(parsed.code);
  } else {
    returnBook(parsed.code);
  }
}

// ------------------------------------------------------------------ camera (decoder.js, as scan.js)

const decoder = createDecoder({ script: root.dataset.decoder, wasm: root.dataset.wasm });

// The camera loop is qr-camera.js's (the stocktake page's too); a kiosk without a camera still
// reads cards and books from a scanner (keyboard wedge), so a refused camera says nothing.
const camera = qrCamera({ decoder, video: $("video"), onCode: (text) => handle(text), onError: () => {}, every: 200 });

async function openCamera() {
  if (!(await camera.open())) return;
  $("video").hidden = false;
  $("aim").hidden = false;
  $("camera").hidden = true;
}

function closeCamera() {
  camera.close();
  $("video").hidden = true;
  $("aim").hidden = true;
  $("camera").hidden = false;
}

// ------------------------------------------------------------------ start

async function checkEnrolled() {
  if (!state.token || !navigator.onLine) return;
  try { await api("/api/v1/kiosk/me"); } catch (e) { /* signed out, or offline: carry on */ }
}

// This point's offline cache, fresh while online: on start, every REFRESH_MS, and when the
// network comes back. Loans still waiting in the outbox are counted in.
async function refreshOffline() {
  if (!state.token || !outbox) return;
  if (!navigator.onLine) { cacheInfo(); return; } // reading it forgets it once 24 h old

  const waiting = (await outbox.list({ limit: 1000 }).catch(() => []))
    .filter((r) => r.state === "pending" && r.event.type === "loan").map((r) => r.event);
  await refreshCache(`Bearer ${state.token}`, waiting);
}

function start() {
  if (!state.token) {
    const code = new URLSearchParams(location.search).get("code");
    screen("enrol");
    if (code) { $("enrol-code").value = code; enrol(code); }
    return;
  }
  outbox = createOutbox({ endpoint: root.dataset.events, authorization: `Bearer ${state.token}`, user: "kiosk" });
  outbox.onChange((_pending, status) => {
    $("net").hidden = status.state !== "offline" && status.state !== "waiting";
    if (status.state === "signin") signedOut("这台自助借书机已被停用或需要重新登记。请找图书管理员。");
  });
  outbox.syncIfPending().finally(() => refreshOffline());
  $("point-name").textContent = state.point ? `${state.point.name || state.point.code}` : "";
  screen("welcome");
  checkEnrolled();
  openCamera();
}

const input = $("code");
input.addEventListener("keydown", (e) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  const value = input.value;
  input.value = "";
  if (value.trim()) handle(value.trim());
});
document.addEventListener("click", (e) => {
  if (e.target.closest("#enrol-form")) return;
  input.focus({ preventScroll: true });
});
$("enrol-form").addEventListener("submit", (e) => { e.preventDefault(); enrol($("enrol-code").value); });
$("done").addEventListener("click", () => { hideMessage(); endTurn(); say("再见"); });
$("undo").addEventListener("click", (e) => { e.stopPropagation(); undo(); });
$("camera").addEventListener("click", () => openCamera());
document.addEventListener("pointerdown", () => touch());
setInterval(checkEnrolled, CHECK_MS);
setInterval(refreshOffline, REFRESH_MS);
addEventListener("online", () => setTimeout(refreshOffline, 2000)); // after the outbox has sent
// The same service worker as the scan screen keeps this page and its files, so the tablet
// opens the kiosk with no network too (after one online visit).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
    console.warn("service worker not registered", error);
  });
  navigator.serviceWorker.ready.then((registration) => {
    if (registration.active) registration.active.postMessage({ type: "keep-page", url: location.pathname });
  }).catch(() => {});
}
start();
if (state.token) input.focus({ preventScroll: true });
window.kioskReady = true;
