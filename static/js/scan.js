// The scan screen: one screen where the code decides (product.md "Scanning").
//   card scanned            → that child becomes current (name, books out, how many more)
//   book, current child     → lend it; a book on loan to another child is only returned (online),
//                             and lent on the tap "借给…"; a book already hers offers "归还这本"
//   book, no child / 只还书   → return it
// Codes come from the keyboard-wedge field (<input name="code"> + Enter, keeps the focus), the
// in-page camera and photos (BarcodeDetector via decoder.js, loaded on first use), or
// ?card= from a card's page. Every event goes through outbox.js's send(): online it answers at
// once; offline it answers {status:"queued"} and the screen says so and carries on.

import { createOutbox, deviceTime, newEventId } from "./outbox.js";
import { readCode } from "./codes.js";
import { createDecoder } from "./decoder.js";
import { decodePhoto, qrCamera } from "./qr-camera.js";
import { lookupCard as cachedCard, lookupCopy as cachedCopy } from "./offline-cache.js";

const root = document.getElementById("scan");
const $ = (id) => document.getElementById(id);
const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
const userEl = document.querySelector("[data-user]");
const outbox = createOutbox({ endpoint: root.dataset.events, csrfToken: csrf, user: userEl ? userEl.dataset.user : "" });

const REPEAT_MS = 3000; // the same code again within this is the camera seeing it twice
const CURRENT_MS = 30 * 60 * 1000; // a current child is kept across reloads this long
const UNDO_MS = Number(root.dataset.undoMinutes || 10) * 60 * 1000;
const LIMIT = Number(root.dataset.limit || 3);
const TYPE_WORDS = { loan: "借出", return: "归还", renew: "续借" };

const state = { current: null, returnMode: false, seen: new Map(), undo: null, action: null, busy: Promise.resolve() };
const input = $("code");

// ------------------------------------------------------------------ small helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function point() {
  const p = $("point");
  return p ? p.value : "";
}

function refocus() {
  const active = document.activeElement;
  if (active && active !== input && (active.tagName === "SELECT" || active.type === "file")) return;
  input.focus({ preventScroll: true });
}

let audio = null;
function feedback(tone) {
  try {
    if (navigator.vibrate) navigator.vibrate(tone === "bad" ? [70, 60, 70] : 60);
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = tone === "bad" ? 220 : tone === "warn" ? 520 : 880;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + (tone === "bad" ? 0.35 : 0.12));
  } catch (error) { /* no sound on this phone: the colour still says it */ }
}

// One box per scan: the result box, or for a card the child's own box (see selectCard).
// action: {label, run} puts one big button on the result (借给…, 归还这本).
function show(tone, title, message, due = "", { undo = null, quiet = false, action = null } = {}) {
  const box = $("result");
  box.hidden = false;
  box.className = `result ${tone}`;
  box.dataset.tone = tone;
  $("result-title").textContent = title;
  // the due date gets its own big line; the server's sentence need not repeat it
  $("result-message").textContent = due ? String(message || "").replace(/\s*应还日期：[^。]*。/, "") : message || "";
  $("result-due").textContent = due ? `应还日期：${due}` : "";
  state.undo = undo ? { id: undo, until: Date.now() + UNDO_MS } : null;
  $("undo").hidden = !undo;
  state.action = action;
  $("result-action").hidden = !action;
  $("result-action").textContent = action ? action.label : "";
  log(tone, title, message, quiet);
}

function log(tone, title, message, quiet = false) {
  const time = new Date().toTimeString().slice(0, 5);
  $("history").prepend(el("li", { class: tone }, el("time", {}, time), `${title}${message ? "：" + message : ""}`));
  while ($("history").children.length > 20) $("history").lastChild.remove();
  if (!quiet) feedback(tone);
}

function hideResult() {
  $("result").hidden = true;
  state.undo = null;
  state.action = null;
}

function childName(c = state.current) {
  return c && c.borrower ? c.borrower.name : "这位小读者";
}

// ------------------------------------------------------------------ current child

function saveCurrent() {
  try {
    if (state.current) localStorage.setItem("scan.current", JSON.stringify({ card: state.current.code, at: Date.now() }));
    else localStorage.removeItem("scan.current");
  } catch (error) { /* private mode */ }
}

function renderCurrent() {
  const c = state.current;
  const box = $("current");
  box.hidden = !c;
  if (!c) { $("hint").textContent = hintText(); return; }
  const count = c.loans ? c.loans.length : (c.open_loans || 0);
  const full = !c.offline && count >= (c.limit || LIMIT);
  // red only for a card that cannot lend at all; a child who reached the limit is shown calmly
  const blocked = Boolean(c.refusal) && c.refusal.code !== "limit_reached";
  box.classList.toggle("blocked", blocked);
  box.classList.toggle("full", !blocked && full);
  box.dataset.card = c.code;
  $("current-name").textContent = c.borrower ? c.borrower.name : c.code;
  $("current-count").textContent = blocked ? c.refusal.message
    : c.offline ? `离线：已借 ${count} 本（联网后核对）`
    : full ? `已借满 ${count} 本：要再借，先还一本（扫TA要还的书，点“归还这本”）`
    : `已借 ${count} 本，还可以借 ${Math.max(0, (c.limit || LIMIT) - count)} 本`;
  $("current-list").hidden = !(c.loans && c.loans.length);
  $("current-list-summary").textContent = `TA借的书（${c.loans ? c.loans.length : 0}）`;
  const list = $("current-loans");
  list.replaceChildren(...(c.loans || []).map((loan) => el("li", { class: loan.overdue ? "late" : "", "data-copy": loan.copy },
    el("span", {}, `《${loan.title}》 ${loan.due_text ? "· " + loan.due_text : ""}`),
    loan.can_renew ? el("button", { type: "button", class: "btn", "data-renew": loan.copy, textContent: "续借" }) : null)));
  $("hint").textContent = hintText();
}

function hintText() {
  if (state.returnMode) return "只还书：扫到的书都会还回来，不会借出。扫借阅证回到借还。";
  if (state.current && !navigator.onLine) return `现在扫书就借给${childName()}（没有网络时，别的小读者借的书也直接转借给TA）。扫另一张借阅证换人。`;
  if (state.current) return `现在扫书就借给${childName()}；别的小读者借的书会先还回来。扫另一张借阅证换人。`;
  return "扫借阅证选小读者，再扫书就借给TA；没选小读者时扫书是还书。";
}

async function fetchCard(code) {
  const url = root.dataset.cardUrl.replace("CODE", encodeURIComponent(code));
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (response.ok) return body;
  if (response.status >= 400 && response.status < 500 && body && body.error) return { error: body.error };
  throw new Error(`card lookup ${response.status}`);
}

async function selectCard(code, { quiet = false } = {}) {
  setMode(false);
  let info;
  try {
    info = await fetchCard(code);
  } catch (error) {
    const cached = await cachedCard(code).catch(() => null);
    info = { code, offline: true, loans: null, open_loans: cached ? cached.open_loans || 0 : 0,
      borrower: cached ? { name: cached.name } : null,
      refusal: cached && cached.status === "revoked" ? { code: "card_revoked", message: "这张借阅证已挂失作废：请使用新借阅证。" } : null };
  }
  if (info.error || (info.refusal && ["card_revoked", "card_unbound"].includes(info.refusal.code))) {
    // a card that cannot lend does not become current (a child's other, active card will)
    show("bad", "借阅证不能用", (info.error || info.refusal).message);
    return;
  }
  state.current = info;
  saveCurrent();
  // the child's own box is this scan's answer: no second box above it
  hideResult();
  renderCurrent();
  const box = $("current");
  box.classList.remove("fresh");
  void box.offsetWidth; // restart the highlight
  box.classList.add("fresh");
  box.dataset.scan = String(Number(box.dataset.scan || 0) + 1);
  const name = info.borrower ? info.borrower.name : `借阅证 ${code}`;
  if (info.refusal && info.refusal.code !== "limit_reached") {
    log("bad", name, info.refusal.message, quiet);
  } else if (info.offline) {
    $("current-count").textContent = "没有网络：借阅证编码正确，现在扫书借给TA，记录会保存在手机上。";
    log("info", name, "没有网络：现在扫书借给TA，记录保存在手机上。", quiet);
  } else {
    log("ok", `当前小读者：${name}`, $("current-count").textContent, quiet);
  }
}

async function refreshCurrent() {
  if (!state.current || state.current.offline) return;
  try {
    const info = await fetchCard(state.current.code);
    if (!info.error && state.current && info.code === state.current.code) {
      state.current = info;
      renderCurrent();
    }
  } catch (error) { /* offline now: keep what we have */ }
}

function clearCurrent() {
  state.current = null;
  saveCurrent();
  renderCurrent();
  fetch(root.dataset.clearUrl, { method: "POST", credentials: "same-origin",
    headers: { "X-CSRFToken": csrf, Accept: "application/json" } }).catch(() => {});
  show("info", "下一位", "请扫下一位小读者的借阅证。", "", { quiet: true });
  setListFolded();
}

// ------------------------------------------------------------------ books

async function bookTitle(code) {
  const cached = await cachedCopy(code).catch(() => null);
  return cached && cached.title ? `《${cached.title}》` : code;
}

async function scanBook(code) {
  const at = point();
  if (!at) { show("bad", "请先选择阅读点", "在上方选择您所在的阅读点，再扫码。"); return; }
  const c = state.current;
  let type = "return";
  if (!state.returnMode && c) {
    const loan = c.loans && c.loans.find((l) => l.copy === code);
    if (loan) {
      alreadyHers(code, `《${loan.title}》`, loan.due_text);
      return;
    }
    type = "loan";
  }
  const event = { id: newEventId(), type, copy: code, point: at, at: deviceTime() };
  if (type === "loan") {
    event.card = c.code;
    // online, a book on loan to another child is only returned: lent on the tap "借给…" (the
    // server ignores this for events recorded offline, where the implicit return stays)
    event.if_on_loan_elsewhere = "return_only";
  }
  await sendEvent(event);
}

// A book already lent to the current child, scanned again after the repeat window.
function alreadyHers(code, title, due) {
  show("info", "已经借给TA了", `${title}已经借给了${childName()}，不用再借。要还这本，点“归还这本”。`, due, {
    action: { label: "归还这本", run: () => returnOne(code) },
  });
}

async function returnOne(code) {
  const at = point();
  if (!at) { show("bad", "请先选择阅读点", "在上方选择您所在的阅读点，再扫码。"); return; }
  await sendEvent({ id: newEventId(), type: "return", copy: code, point: at, at: deviceTime() });
}

async function lendAfterAll(code, card) {
  const at = point();
  if (!at) { show("bad", "请先选择阅读点", "在上方选择您所在的阅读点，再扫码。"); return; }
  await sendEvent({ id: newEventId(), type: "loan", copy: code, card, point: at, at: deviceTime() });
}

async function sendEvent(event) {
  let result;
  try {
    result = await outbox.send(event);
  } catch (error) {
    show("bad", "没有记录下来", "手机存储出错了：请刷新页面后再扫一次。");
    return;
  }
  await showResult(event, result);
  if (result.status !== "queued") refreshCurrent();
  else if (state.current && state.current.loans && event.type === "loan") {
    state.current.loans.push({ copy: event.copy, title: (await bookTitle(event.copy)).replace(/[《》]/g, ""), due_text: "待同步", can_renew: false });
    renderCurrent();
  }
}

async function showResult(event, result) {
  const words = TYPE_WORDS[event.type];
  const due = result.loan && !result.loan.returned_at ? result.loan.due_text : "";
  const canUndo = ["loan", "return"].includes(event.type) && ["applied", "review"].includes(result.status)
    && !["not_on_loan", "loan_before_later_loan", "return_crosses_loan"].includes(result.code) ? event.id : null;
  switch (result.status) {
    case "queued":
      show("info", `已保存（${words}）`, `${await bookTitle(event.copy)}：已保存，联网后自动同步。`);
      break;
    case "applied": {
      if (result.code === "returned_not_lent") {
        // a book handed back across the table: returned, and lent only if she taps
        const owner = result.loan && result.loan.borrower && result.loan.borrower.name;
        const c = state.current;
        show("warn", "已归还，还没借出",
          `${result.message}${owner && !String(result.message).includes(owner) ? `（${owner}借的）` : ""} 还没有借给${childName(c)}：要借给TA，点下面的按钮。`, "", {
            undo: canUndo,
            action: c && c.code === event.card
              ? { label: `借给 ${childName(c)}`, run: () => lendAfterAll(event.copy, event.card) } : null,
          });
        break;
      }
      let title = { loan: "借出成功", return: "归还成功", renew: "续借成功" }[event.type];
      let tone = "ok";
      if (result.code === "implicit_return") title = "借出成功（已先归还上一位）";
      if (result.code === "not_on_loan") {
        title = state.returnMode ? "这本书在架上" : "这本书没有借出";
        tone = state.returnMode ? "ok" : "warn";
      }
      show(tone, title, result.message, due, { undo: canUndo });
      break;
    }
    case "duplicate":
      if (result.code === "already_lent" && event.type === "loan") {
        alreadyHers(event.copy, result.loan && result.loan.title ? `《${result.loan.title}》` : await bookTitle(event.copy), due);
        break;
      }
      show("ok", "已经记录过了", result.message, due);
      break;
    case "review":
      show("warn", `${words}已记录，待管理员复核`, result.message, due, { undo: canUndo });
      break;
    default: {
      let message = result.message || "服务器拒绝了这次操作。";
      if (result.code === "limit_reached") message += " 要还书：扫TA要还的那本书，再点“归还这本”。";
      show("bad", `不能${words}`, message);
    }
  }
}

async function renew(code) {
  const at = point();
  if (!at) { show("bad", "请先选择阅读点", "在上方选择您所在的阅读点。"); return; }
  await sendEvent({ id: newEventId(), type: "renew", copy: code, point: at, at: deviceTime() });
}

async function undo() {
  if (!state.undo || Date.now() > state.undo.until) {
    $("undo").hidden = true;
    show("bad", "不能撤销", "已超过可撤销的时间：请联系图书管理员更正。");
    return;
  }
  const id = state.undo.id;
  try {
    const response = await fetch(root.dataset.undo, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ event_id: id }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) show("info", "已撤销", String(body.message || "").replace(/^已撤销[：:]\s*/, ""));
    else show("bad", "不能撤销", (body.error && body.error.message) || "撤销失败，请稍后再试。");
  } catch (error) {
    show("bad", "不能撤销", "没有网络：联网后再撤销，或请图书管理员更正。");
  }
  refreshCurrent();
}

// ------------------------------------------------------------------ one entry point for every code

function handle(raw, source) {
  state.busy = state.busy.then(() => handleNow(raw, source)).catch((error) => {
    console.error(error);
    show("bad", "出错了", "这次扫描没有处理好，请再扫一次。");
  }).finally(refocus);
  return state.busy;
}

async function handleNow(raw, source) {
  const parsed = readCode(raw);
  if (parsed.error) {
    show("bad", source === "camera" ? "不是本馆的二维码" : "编码不对", parsed.message);
    return;
  }
  const now = Date.now();
  const last = state.seen.get(parsed.code) || 0;
  state.seen.set(parsed.code, now);
  if (now - last < REPEAT_MS) return; // the same code again at once: ignore
  if (parsed.kind === "card") await selectCard(parsed.code);
  else await scanBook(parsed.code);
}

function setMode(returnMode) {
  state.returnMode = returnMode;
  $("mode-lend").setAttribute("aria-pressed", String(!returnMode));
  $("mode-return").setAttribute("aria-pressed", String(returnMode));
  document.body.classList.toggle("return-mode", returnMode);
  $("hint").textContent = hintText();
}

// ------------------------------------------------------------------ camera and photo (one decoder)

const decoder = createDecoder({ script: root.dataset.decoder, wasm: root.dataset.wasm });
let torchOn = false;

// A code the camera keeps in view stays "just seen", so it is not taken again and again.
function cameraCode(text) {
  const parsed = readCode(text);
  if (!parsed.error && Date.now() - (state.seen.get(parsed.code) || 0) < REPEAT_MS) state.seen.set(parsed.code, Date.now());
  else handle(text, "camera");
}

function cameraError(kind) {
  if (kind === "insecure") {
    $("camera-note").hidden = false;
    show("warn", "不能直接用摄像头", "这个网址需要 https 才能用摄像头：请点“拍照识别”，或用微信“扫一扫”扫标签。");
  } else {
    show("bad", "摄像头打不开", "请允许这个网页使用摄像头，或改用“拍照识别”。");
  }
}

// While the camera is open its viewfinder is first on the screen and stays in view (sticky);
// the child's list folds so results sit right under it.
function setListFolded() {
  $("current-list").open = !camera.isOpen();
}

const camera = qrCamera({
  decoder, video: $("video"), every: 180, onCode: cameraCode, onError: cameraError,
  onStart() {
    $("camera").hidden = false;
    $("camera-open").hidden = true;
    document.body.classList.add("camera-on");
    setListFolded();
    offerTorch();
  },
});

async function openCamera() {
  if (await camera.open()) window.scrollTo({ top: 0 });
}

// The torch, where the camera has one (reading points are often dim).
function offerTorch() {
  const track = camera.track();
  let caps = {};
  try { caps = track && track.getCapabilities ? track.getCapabilities() : {}; } catch (error) { caps = {}; }
  torchOn = false;
  $("torch").hidden = !caps.torch;
  $("torch").setAttribute("aria-pressed", "false");
  $("torch").textContent = "打开手电筒";
}

async function toggleTorch() {
  const track = camera.track();
  if (!track) return;
  const on = !torchOn;
  try {
    await track.applyConstraints({ advanced: [{ torch: on }] });
    torchOn = on;
    $("torch").setAttribute("aria-pressed", String(on));
    $("torch").textContent = on ? "关闭手电筒" : "打开手电筒";
  } catch (error) {
    $("torch").hidden = true;
  }
}

function closeCamera() {
  camera.close();
  $("camera").hidden = true;
  $("camera-open").hidden = false;
  document.body.classList.remove("camera-on");
  setListFolded();
  refocus();
}

async function scanPhoto(file) {
  let text;
  try {
    text = await decodePhoto(file, decoder);
  } catch (error) {
    if (error.message === "photo") show("bad", "照片打不开", "请重新拍一张。");
    else show("bad", "识别工具没有加载", "请联网后再试，或手动输入标签下方的编码。");
    return;
  }
  if (text) await handle(text, "photo");
  else show("bad", "照片里没有找到二维码", "请对准标签、靠近一点再拍；也可以手动输入标签下方的编码。");
}

// ------------------------------------------------------------------ wiring

$("scan-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = input.value;
  input.value = "";
  if (value.trim()) {
    state.seen.delete(readCode(value).code); // typed on purpose: never taken for a camera repeat
    handle(value, "keyboard");
  }
});
if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) {
  // On a phone a scanner gun types without the on-screen keyboard; a tap on the field brings it.
  input.setAttribute("inputmode", "none");
  input.addEventListener("pointerdown", () => input.setAttribute("inputmode", "text"));
}
$("mode-lend").addEventListener("click", () => { setMode(false); refocus(); });
$("mode-return").addEventListener("click", () => { setMode(true); refocus(); });
$("next-child").addEventListener("click", () => { clearCurrent(); refocus(); });
$("undo").addEventListener("click", () => undo().finally(refocus));
$("current-loans").addEventListener("click", (e) => {
  const button = e.target.closest("[data-renew]");
  if (button) renew(button.dataset.renew).finally(refocus);
});
$("camera-open").addEventListener("click", openCamera);
$("camera-close").addEventListener("click", closeCamera);
$("torch").addEventListener("click", () => { toggleTorch().finally(refocus); });
$("result-action").addEventListener("click", () => {
  const action = state.action;
  if (!action) return;
  state.action = null;
  $("result-action").hidden = true;
  state.busy = state.busy.then(action.run).catch((error) => {
    console.error(error);
    show("bad", "出错了", "这次操作没有处理好，请再试一次。");
  }).finally(refocus);
});
$("photo").addEventListener("change", (e) => {
  const file = e.target.files && e.target.files[0];
  e.target.value = "";
  if (file) scanPhoto(file).finally(refocus);
});
const pointSelect = $("point");
if (pointSelect && pointSelect.tagName === "SELECT") {
  try {
    const remembered = localStorage.getItem("scan.point");
    if (!pointSelect.value && remembered && [...pointSelect.options].some((o) => o.value === remembered)) pointSelect.value = remembered;
  } catch (error) { /* private mode */ }
  pointSelect.addEventListener("change", () => {
    try { localStorage.setItem("scan.point", pointSelect.value); } catch (error) { /* private mode */ }
    refocus();
  });
}
if (!window.isSecureContext || !navigator.mediaDevices) $("camera-note").hidden = false;

// back online after a card was read offline: show the child's real name and books
window.addEventListener("offline", () => { $("hint").textContent = hintText(); });
window.addEventListener("online", async () => {
  $("hint").textContent = hintText();
  if (!state.current || !state.current.offline) return;
  try {
    const info = await fetchCard(state.current.code);
    if (!info.error && state.current && info.code === state.current.code) { state.current = info; renderCurrent(); }
  } catch (error) { /* still no connection */ }
});

const serverTime = Date.parse(root.dataset.serverTime);
if (Number.isFinite(serverTime) && Math.abs(Date.now() - serverTime) > 5 * 60 * 1000) $("clock-warning").hidden = false;

(function start() {
  let card = root.dataset.startCard;
  if (!card) {
    try {
      const kept = JSON.parse(localStorage.getItem("scan.current") || "null");
      if (kept && Date.now() - kept.at < CURRENT_MS) card = kept.card;
    } catch (error) { /* nothing kept */ }
  }
  if (card) {
    const parsed = readCode(card);
    if (!parsed.error) handle(parsed.code, "start");
  }
  root.dataset.ready = "1";
  refocus();
  // the story mother's home page opens the scan screen with the camera on (?camera=1)
  if (new URLSearchParams(location.search).get("camera") === "1" && window.isSecureContext && navigator.mediaDevices) openCamera();
}());
