// The scan screen: one screen where the code decides (product.md "Scanning").
//   card scanned            → that child becomes current (name, books out, how many more)
//   book, current child     → lend it (a book already lent to this child: nothing happens)
//   book, no child / 归还模式 → return it
// Codes come from the keyboard-wedge field (<input name="code"> + Enter, keeps the focus), the
// in-page camera (jsQR, loaded only when the camera opens), a photo decoded in the page, or
// ?card= from a card's page. Every event goes through outbox.js's send(): online it answers at
// once; offline it answers {status:"queued"} and the screen says so and carries on.

import { createOutbox, deviceTime, newEventId } from "./outbox.js";
import { readCode } from "./codes.js";
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

const state = { current: null, returnMode: false, seen: new Map(), undo: null, busy: Promise.resolve() };
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

function show(tone, title, message, due = "", { undo = null, quiet = false } = {}) {
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
  const time = new Date().toTimeString().slice(0, 5);
  $("history").prepend(el("li", { class: tone }, el("time", {}, time), `${title}${message ? "：" + message : ""}`));
  while ($("history").children.length > 20) $("history").lastChild.remove();
  if (!quiet) feedback(tone);
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
  box.classList.toggle("blocked", Boolean(c.refusal));
  box.dataset.card = c.code;
  $("current-name").textContent = c.borrower ? c.borrower.name : c.code;
  const count = c.loans ? c.loans.length : (c.open_loans || 0);
  $("current-count").textContent = c.refusal ? c.refusal.message
    : c.offline ? `离线：已借 ${count} 本（联网后核对）`
    : `已借 ${count} 本，还可以借 ${Math.max(0, (c.limit || LIMIT) - count)} 本`;
  const list = $("current-loans");
  list.replaceChildren(...(c.loans || []).map((loan) => el("li", { class: loan.overdue ? "late" : "", "data-copy": loan.copy },
    el("span", {}, `《${loan.title}》 ${loan.due_text ? "· " + loan.due_text : ""}`),
    loan.can_renew ? el("button", { type: "button", class: "btn", "data-renew": loan.copy, textContent: "续借" }) : null)));
  $("hint").textContent = hintText();
}

function hintText() {
  if (state.returnMode) return "归还模式：扫到的书都会还回来。扫借阅证可回到借书。";
  if (state.current) return `现在扫书就借给${state.current.borrower ? state.current.borrower.name : "这位小读者"}；扫另一张借阅证换人。`;
  return "先扫借阅证，再扫书；没有借阅证时扫书就是还书。";
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
  renderCurrent();
  const name = info.borrower ? info.borrower.name : `借阅证 ${code}`;
  if (info.refusal) {
    show("bad", name, info.refusal.message, "", { quiet });
  } else if (info.offline) {
    show("info", name, "没有网络：借阅证编码正确，现在扫书借给TA，记录会保存在手机上。", "", { quiet });
  } else {
    show("ok", `当前小读者：${name}`, `已借 ${info.open_loans} 本，还可以借 ${info.remaining} 本。现在扫书就借给TA。`, "", { quiet });
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
    if (c.loans && c.loans.some((loan) => loan.copy === code)) {
      const loan = c.loans.find((l) => l.copy === code);
      show("ok", "已经借给TA了", `《${loan.title}》已经借给了${c.borrower ? c.borrower.name : "这位小读者"}，不用再借。`, loan.due_text, { quiet: true });
      return;
    }
    type = "loan";
  }
  const event = { id: newEventId(), type, copy: code, point: at, at: deviceTime() };
  if (type === "loan") event.card = c.code;
  await sendEvent(event);
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
      show("ok", result.code === "already_lent" ? "已经借给TA了" : "已经记录过了", result.message, due);
      break;
    case "review":
      show("warn", `${words}已记录，待管理员复核`, result.message, due, { undo: canUndo });
      break;
    default:
      show("bad", `不能${words}`, result.message || "服务器拒绝了这次操作。");
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
    if (response.ok) show("info", "已撤销", body.message);
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

// ------------------------------------------------------------------ camera and photo (jsQR, lazily)

let jsqrLoading = null;
function loadDecoder() {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  jsqrLoading = jsqrLoading || new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = root.dataset.jsqr;
    s.onload = () => resolve(window.jsQR);
    s.onerror = () => { jsqrLoading = null; reject(new Error("decoder not loaded")); };
    document.head.append(s);
  });
  return jsqrLoading;
}

const camera = { stream: null, timer: null, canvas: null };

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("camera-note").hidden = false;
    show("warn", "不能直接用摄像头", "这个网址需要 https 才能用摄像头：请点“拍照识别”，或用微信“扫一扫”扫标签。");
    return;
  }
  let decode;
  try {
    [decode, camera.stream] = await Promise.all([
      loadDecoder(),
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }),
    ]);
  } catch (error) {
    show("bad", "摄像头打不开", "请允许这个网页使用摄像头，或改用“拍照识别”。");
    return;
  }
  const video = $("video");
  video.srcObject = camera.stream;
  $("camera").hidden = false;
  $("camera-open").hidden = true;
  await video.play().catch(() => {});
  camera.canvas = camera.canvas || document.createElement("canvas");
  const ctx = camera.canvas.getContext("2d", { willReadFrequently: true });
  const tick = () => {
    if (!camera.stream) return;
    if (video.readyState >= 2 && video.videoWidth) {
      const scale = Math.min(1, 640 / video.videoWidth);
      const w = Math.round(video.videoWidth * scale);
      const h = Math.round(video.videoHeight * scale);
      camera.canvas.width = w;
      camera.canvas.height = h;
      ctx.drawImage(video, 0, 0, w, h);
      const found = decode(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        const parsed = readCode(found.data);
        // keep a code that stays in view "just seen", so it is not taken again and again
        if (!parsed.error && Date.now() - (state.seen.get(parsed.code) || 0) < REPEAT_MS) state.seen.set(parsed.code, Date.now());
        else handle(found.data, "camera");
      }
    }
    camera.timer = setTimeout(tick, 180);
  };
  tick();
}

function closeCamera() {
  clearTimeout(camera.timer);
  if (camera.stream) camera.stream.getTracks().forEach((t) => t.stop());
  camera.stream = null;
  $("camera").hidden = true;
  $("camera-open").hidden = false;
  refocus();
}

async function decodePhoto(file) {
  let decode;
  try {
    decode = await loadDecoder();
  } catch (error) {
    show("bad", "识别工具没有加载", "请联网后再试，或手动输入标签下方的编码。");
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (error) {
    show("bad", "照片打不开", "请重新拍一张。");
    return;
  }
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  for (const size of [1000, 1600, 640]) {
    const scale = Math.min(1, size / Math.max(bitmap.width, bitmap.height));
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const found = decode(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
    if (found && found.data) { await handle(found.data, "photo"); return; }
  }
  show("bad", "照片里没有找到二维码", "请对准标签、靠近一点再拍；也可以手动输入标签下方的编码。");
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
$("photo").addEventListener("change", (e) => {
  const file = e.target.files && e.target.files[0];
  e.target.value = "";
  if (file) decodePhoto(file).finally(refocus);
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
window.addEventListener("online", async () => {
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
}());
