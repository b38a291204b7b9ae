// The scan screen's offline part: installs the service worker (so the screen opens with no
// network after one online visit), keeps the offline cache fresh, and shows in
// <div id="offline-status"> whether the phone is online, how many records wait, a button to
// send them now, and what the server said about each record sent after waiting.
// scan.html includes it with <script type="module" src=".../offline.js">.

import { createOutbox } from "./outbox.js";
import { cacheInfo, lookupCard, lookupCopy, refreshCache } from "./offline-cache.js";

const REFRESH_MS = 10 * 60 * 1000;
const SHOWN_RECORDS = 8;
const SEND_WAIT_MS = 8000; // outbox.js: a scan waits this long for the server before it is kept
const TYPE_WORDS = { loan: "借出", return: "归还", renew: "续借" };
const STATUS_WORDS = {
  applied: ["已上传", "ok"],
  duplicate: ["已上传（之前已收到）", "ok"],
  rejected: ["未通过", "bad"],
  review: ["已上传，待管理员复核", "warn"],
  pending: ["等待上传", "warn"],
};

const root = document.getElementById("offline-status");
const outbox = createOutbox();
const cachedRecords = new Set(); // records pending on the phone at some point (this page)
const troubled = new Set(); // … of them, pending while the network or the login failed

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
    console.warn("service worker not registered", error);
  });
}
// Ask the browser not to clear this site's storage when the phone runs short of space.
if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

function timeWords(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getMonth() + 1}月${d.getDate()}日 ${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

async function describe(record) {
  const event = record.event;
  const copy = await lookupCopy(event.copy);
  const card = event.card ? await lookupCard(event.card) : null;
  const what = `${TYPE_WORDS[event.type] || event.type}《${copy ? copy.title : event.copy}》`;
  const who = event.type === "loan" ? ` → ${card ? card.name : event.card}` : "";
  return what + who;
}

function waited(record) {
  if (troubled.has(record.id) || (record.event && record.event.offline === true)) return true;
  const kept = Date.parse(record.queued_at);
  const done = Date.parse(record.done_at);
  return !Number.isFinite(done) || !Number.isFinite(kept) || done - kept >= SEND_WAIT_MS;
}

let recordsOpen = null; // her own choice to open or close the list, kept across re-renders

async function renderRecords(records) {
  // Only what really waited on the phone (recorded offline, or kept because the server did not
  // answer in time): a loan made online and answered at once is not an offline record.
  const shown = records.filter((r) => r.state === "pending" || (cachedRecords.has(r.id) && waited(r))).slice(0, SHOWN_RECORDS);
  if (!shown.length) return null;
  const items = [];
  const counts = {};
  for (const record of shown) {
    let status = record.state === "pending" ? "pending" : (record.result && record.result.status) || "pending";
    // A record sent again after a lost answer: say what happened the first time.
    if (status === "duplicate" && ["rejected", "review"].includes(record.result.original_status)) {
      status = record.result.original_status;
    }
    counts[status] = (counts[status] || 0) + 1;
    const [word, tone] = STATUS_WORDS[status] || [status, "warn"];
    const why = record.result && ["rejected", "review"].includes(status) ? record.result.message : "";
    items.push(el("li", { "data-id": record.id, "data-status": status },
      el("span", { class: `badge ${tone}` }, word), " ",
      el("span", {}, await describe(record)), " ",
      el("span", { class: "muted" }, timeWords(record.event.at)),
      why ? el("div", { class: "offline-why" }, why) : null));
  }
  // Open by itself only when an answer needs her eyes; waiting records are counted above, and
  // the scan controls must stay on the first screen of the phone.
  const attention = Boolean(counts.rejected || counts.review);
  const summary = Object.entries(counts).map(([status, n]) => `${(STATUS_WORDS[status] || [status])[0]} ${n}`).join("，");
  const details = el("details", { class: "offline-details" },
    el("summary", {}, `离线保存的记录：${summary}`), el("ul", { class: "offline-records" }, ...items));
  details.open = recordsOpen === null ? attention : recordsOpen || counts.rejected > 0 || counts.review > 0;
  details.addEventListener("toggle", () => { recordsOpen = details.open; });
  return details;
}

async function render() {
  if (!root) return;
  const status = await outbox.status();
  const records = await outbox.list({ limit: 200 });
  const offline = !navigator.onLine || status.state === "offline";
  for (const r of records) {
    if (r.state !== "pending") continue;
    cachedRecords.add(r.id);
    if (offline || !["idle", "syncing"].includes(status.state)) troubled.add(r.id);
  }
  const info = await cacheInfo();
  const tone = offline || status.state === "waiting" ? "warn" : status.state === "signin" || status.state === "forbidden" ? "bad" : "ok";
  let title = "在线";
  if (offline) title = "离线模式：没有网络";
  else if (status.state === "signin") title = "登录已过期";
  else if (status.state === "forbidden") title = "当前账号不能上传";
  else if (status.state === "waiting") title = "网络不稳定";
  else if (status.state === "syncing") title = "正在上传…";

  const lines = [];
  if (offline) lines.push("可以照常扫码借还：记录保存在这台手机上，联网后自动上传，不会丢失。");
  else if (status.message) lines.push(status.message);
  const count = el("span", { class: "offline-count" },
    el("strong", { "data-pending": String(status.pending) }, String(status.pending)), " 条记录等待上传");
  const actions = el("div", { class: "offline-actions" });
  if (status.pending > 0) {
    const button = el("button", { type: "button", class: "btn", "data-sync": "" }, "立即上传");
    button.addEventListener("click", () => { outbox.sync().then(render); });
    actions.append(button);
  }
  if (status.state === "signin") {
    actions.append(el("a", { class: "btn primary", href: `/login?next=${encodeURIComponent(location.pathname)}` }, "重新登录"));
  }
  if (status.others > 0 && !offline && status.state !== "signin") {
    const button = el("button", { type: "button", class: "btn", "data-sync-everyone": "" },
      `由我上传其他账号留下的 ${status.others} 条`);
    button.addEventListener("click", () => { outbox.sync({ everyone: true }).then(render); });
    actions.append(button);
  }
  const cacheLine = info
    ? el("p", { class: "muted offline-cache-info" },
      `离线资料：${info.copies} 册图书、${info.cards} 张借阅证（${timeWords(info.generated_at)} 更新）`)
    : el("p", { class: "muted offline-cache-info" }, "离线资料还没有下载：联网时会自动下载。");
  const box = el("section", { class: `offline-bar ${tone}`, "data-state": offline ? "offline" : status.state, role: "status" },
    el("div", { class: "offline-head" }, el("strong", { class: "offline-title" }, title),
      status.pending > 0 || offline ? count : null),
    ...lines.map((text) => el("p", { class: "offline-message" }, text)),
    actions.childNodes.length ? actions : null,
    cacheLine,
    await renderRecords(records));
  root.replaceChildren(box);
}

let rendering = null;
let again = false;
function scheduleRender() {
  // Renders do not overlap; a change during one renders once more afterwards.
  if (rendering) { again = true; return; }
  rendering = render().catch((error) => console.error(error)).finally(() => {
    rendering = null;
    if (again) { again = false; scheduleRender(); }
  });
}

async function refresh() {
  if (navigator.onLine) await refreshCache();
  scheduleRender();
}

outbox.onChange(scheduleRender);
addEventListener("online", () => { scheduleRender(); refresh(); });
addEventListener("offline", scheduleRender);
setInterval(refresh, REFRESH_MS);
scheduleRender();
refresh();
if (navigator.onLine) outbox.syncIfPending();
