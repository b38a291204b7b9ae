// The stocktake scan page (盘点): every code answered at once with a sound and a colour.
//   found (green) · elsewhere: belongs to another point, says which (purple) · on loan (amber)
//   · unknown (red) · already scanned (grey) · saved offline (blue, sent later).
// Scans go through outbox.js (stored in IndexedDB first, sent in order, each client id applied
// once by the server), so a phone with no signal in the stacks keeps scanning.

import { createOutbox, deviceTime, newEventId } from "./outbox.js";
import { readCode } from "./codes.js";
import { createDecoder } from "./decoder.js";
import { decodePhoto, qrCamera } from "./qr-camera.js";

const root = document.getElementById("stocktake");
const $ = (id) => document.getElementById(id);
const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
const userEl = document.querySelector("[data-user]");
const outbox = createOutbox({ endpoint: root.dataset.scans, field: "scans", csrfToken: csrf,
  user: userEl ? userEl.dataset.user : "" });
const input = $("code");
const REPEAT_MS = 3000; // the camera seeing one label twice
const KEY = `stocktake.${root.dataset.id}.seen`;

const state = { found: Number(root.dataset.found || 0), expected: Number(root.dataset.expected || 0),
  queued: 0, recent: new Map(), busy: Promise.resolve() };
let seen;
try { seen = new Set(JSON.parse(localStorage.getItem(KEY) || "[]")); } catch (error) { seen = new Set(); }
function remember(code) {
  seen.add(code);
  try { localStorage.setItem(KEY, JSON.stringify([...seen])); } catch (error) { /* private mode */ }
}

const WORDS = {
  found: ["找到了", "ok"],
  elsewhere: ["不是这个阅读点的书", "elsewhere"],
  on_loan: ["登记为借出中", "warn"],
  unknown: ["不认识这本书", "bad"],
  duplicate: ["已经扫过了", "dup"],
  queued: ["已保存（没有网络）", "info"],
};
const TONES = { ok: [[880, 0.12]], elsewhere: [[520, 0.1], [0, 0.06], [520, 0.1]], warn: [[520, 0.25]],
  bad: [[220, 0.4]], dup: [[440, 0.06]], info: [[660, 0.1]] };

let audio = null;
function beep(tone) {
  try {
    if (navigator.vibrate) navigator.vibrate(tone === "bad" ? [70, 60, 70] : tone === "ok" ? 40 : 80);
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    let t = audio.currentTime;
    for (const [freq, length] of TONES[tone] || TONES.info) {
      if (freq) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = freq;
        gain.gain.value = 0.15;
        osc.connect(gain).connect(audio.destination);
        osc.start(t);
        osc.stop(t + length);
      }
      t += length;
    }
  } catch (error) { /* no sound here: the colour still says it */ }
}

function el(tag, cls, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  node.append(...children);
  return node;
}

function show(status, message, code) {
  const [title, tone] = WORDS[status] || ["出错了", "bad"];
  const box = $("result");
  box.hidden = false;
  box.className = `result ${tone}`;
  box.dataset.status = status;
  $("result-title").textContent = title;
  $("result-message").textContent = message || "";
  const time = new Date().toTimeString().slice(0, 5);
  const item = el("li", tone, el("time", "", time), `${code ? code + " " : ""}${title}${message ? "：" + message : ""}`);
  item.dataset.status = status;
  $("history").prepend(item);
  while ($("history").children.length > 30) $("history").lastChild.remove();
  beep(tone);
}

function renderProgress() {
  const shown = Math.min(state.found + state.queued, Math.max(state.expected, state.found + state.queued));
  $("found").textContent = String(state.found);
  $("expected").textContent = String(state.expected);
  const bar = $("bar");
  bar.max = Math.max(1, state.expected);
  bar.value = Math.min(bar.max, shown);
  const note = $("pending-note");
  note.hidden = !state.queued;
  note.textContent = state.queued ? `（另有 ${state.queued} 本保存在手机上，联网后上传）` : "";
}

async function scanCopy(code) {
  if (seen.has(code)) { show("duplicate", "这本书刚才已经扫过了，不用再扫。", code); return; }
  const scan = { id: newEventId(), copy: code, at: deviceTime() };
  let result;
  try {
    result = await outbox.send(scan);
  } catch (error) {
    show("unknown", "手机存储出错了：请刷新页面后再扫一次。", code);
    return;
  }
  if (result.status !== "unknown") remember(code);
  if (result.status === "queued") {
    state.queued += 1;
    show("queued", "这次扫描已保存在手机上，联网后自动上传。", code);
  } else {
    if (typeof result.found === "number") state.found = result.found;
    show(result.status, result.message, code);
  }
  renderProgress();
}

async function handleNow(raw, source) {
  const parsed = readCode(raw);
  if (parsed.error) { show("unknown", parsed.message, ""); return; }
  if (parsed.kind !== "copy") { show("unknown", "这是借阅证，不是书：盘点只扫书上的标签。", parsed.code); return; }
  const now = Date.now();
  const last = state.recent.get(parsed.code) || 0;
  state.recent.set(parsed.code, now);
  if (source === "camera" && now - last < REPEAT_MS) return;
  await scanCopy(parsed.code);
}

function handle(raw, source) {
  state.busy = state.busy.then(() => handleNow(raw, source)).catch((error) => {
    console.error(error);
    show("unknown", "这次扫描没有处理好，请再扫一次。", "");
  }).finally(refocus);
  return state.busy;
}

function refocus() {
  const active = document.activeElement;
  if (active && active !== input && active.type === "file") return;
  input.focus({ preventScroll: true });
}

// progress from the server: the other phones' scans, and this phone's once uploaded
async function refresh() {
  if (!navigator.onLine) return;
  try {
    const response = await fetch(root.dataset.summary, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    state.found = body.found;
    state.expected = body.expected;
    state.queued = await outbox.pending();
    renderProgress();
  } catch (error) { /* offline: keep what we have */ }
}

outbox.onChange((pending, status) => {
  state.queued = pending;
  $("sync").textContent = status.message || (pending ? `${pending} 条等待上传` : "");
  renderProgress();
  if (!pending) refresh();
});

$("scan-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = input.value;
  input.value = "";
  if (value.trim()) handle(value, "keyboard");
});
if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) {
  input.setAttribute("inputmode", "none"); // a scanner gun types without the on-screen keyboard
  input.addEventListener("pointerdown", () => input.setAttribute("inputmode", "text"));
}
const decoder = createDecoder({ script: root.dataset.decoder, wasm: root.dataset.wasm });
const camera = qrCamera({
  decoder, video: $("video"),
  onCode: (text) => handle(text, "camera"),
  onError: (kind) => {
    $("camera-note").hidden = kind !== "insecure";
    show("unknown", kind === "insecure" ? "这个网址需要 https 才能用摄像头：请点“拍照识别”。"
      : "摄像头打不开：请允许这个网页使用摄像头，或改用“拍照识别”。", "");
  },
});
$("camera-open").addEventListener("click", async () => {
  $("camera").hidden = false;
  $("camera-open").hidden = true;
  if (!(await camera.open())) { $("camera").hidden = true; $("camera-open").hidden = false; }
});
$("camera-close").addEventListener("click", () => {
  camera.close();
  $("camera").hidden = true;
  $("camera-open").hidden = false;
  refocus();
});
$("photo").addEventListener("change", async (e) => {
  const file = e.target.files && e.target.files[0];
  e.target.value = "";
  if (!file) return;
  try {
    const text = await decodePhoto(file, decoder);
    if (text) await handle(text, "photo");
    else show("unknown", "照片里没有找到二维码：请对准标签、靠近一点再拍，或输入标签下方的编码。", "");
  } catch (error) {
    show("unknown", error.message === "photo" ? "照片打不开，请重新拍一张。" : "识别工具没有加载：请联网后再试，或输入编码。", "");
  }
  refocus();
});
if (!window.isSecureContext || !navigator.mediaDevices) $("camera-note").hidden = false;

setInterval(refresh, 10000);
outbox.pending().then((n) => { state.queued = n; renderProgress(); });
if (navigator.onLine) outbox.syncIfPending();
root.dataset.ready = "1";
refocus();
