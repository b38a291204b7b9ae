// Record a reading activity on a phone in under a minute, also offline: the record is stored on
// the phone first (outbox.js) and sent to /api/v1/activities/batch, exactly once by its id.
import { createOutbox, deviceTime, newEventId } from "./outbox.js";

const form = document.getElementById("activity-form");
if (form) {
  const outbox = createOutbox({ endpoint: "/api/v1/activities/batch" });
  const status = document.getElementById("activity-status");
  const pendingNote = form.querySelector("[data-testid=activity-pending]");
  const prep = Number(form.dataset.prep || 0);
  const cards = [];
  const titles = [];

  const pad = (n) => String(n).padStart(2, "0");
  function localInputValue(d) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function reset() {
    form.started_at.value = localInputValue(new Date());
    for (const out of form.querySelectorAll("output")) out.value = "0";
    cards.length = 0;
    titles.length = 0;
    renderChips("cards", cards);
    renderChips("titles", titles);
    form.note.value = "";
    defaultMinutes();
  }

  function defaultMinutes() {
    const minutes = Number(form.minutes.value || 0);
    for (const input of form.querySelectorAll("input[name=vminutes]")) {
      if (!input.dataset.touched) input.value = minutes > 0 ? String(minutes + prep) : "";
    }
  }

  function renderChips(id, list) {
    const ul = document.getElementById(id);
    ul.replaceChildren(...list.map((text, i) => {
      const li = document.createElement("li");
      li.textContent = text + " ";
      const x = document.createElement("button");
      x.type = "button";
      x.className = "link";
      x.textContent = "×";
      x.setAttribute("aria-label", `去掉 ${text}`);
      x.addEventListener("click", () => { list.splice(i, 1); renderChips(id, list); });
      li.append(x);
      return li;
    }));
  }

  function show(kind, text) {
    status.hidden = false;
    status.className = `activity-status ${kind}`;
    status.textContent = text;
  }

  for (const counter of form.querySelectorAll("[data-counter]")) {
    const out = counter.querySelector("output");
    for (const button of counter.querySelectorAll("[data-step]")) {
      button.addEventListener("click", () => {
        out.value = String(Math.max(0, Number(out.value) + Number(button.dataset.step)));
      });
    }
  }
  form.minutes.addEventListener("input", defaultMinutes);
  for (const input of form.querySelectorAll("input[name=vminutes]")) {
    input.addEventListener("input", () => { input.dataset.touched = "1"; });
  }

  // A barcode wedge types the code and Enter; a person types and taps Enter too.
  form.card.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const code = form.card.value.trim().toUpperCase();
    form.card.value = "";
    if (!/^C\d{3,}$/.test(code)) { if (code) show("bad", `${code} 不是借阅证号（C 开头）。`); return; }
    if (!cards.includes(code)) {
      cards.push(code);
      const out = form.querySelector("output[name=children]");
      if (Number(out.value) < cards.length) out.value = String(cards.length);
      renderChips("cards", cards);
    }
  });
  form.title.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const text = form.title.value.trim();
    form.title.value = "";
    if (text && !titles.includes(text)) { titles.push(text); renderChips("titles", titles); }
  });

  async function showPending() {
    const n = await outbox.pending();
    pendingNote.textContent = n ? `还有 ${n} 条活动等待上传。` : "";
  }
  outbox.onChange(showPending);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const minutes = Number(form.minutes.value);
    if (!form.started_at.value) { show("bad", "请填写开始时间。"); return; }
    if (!(minutes > 0)) { show("bad", "请填写活动时长（分钟）。"); return; }
    const volunteers = [];
    for (const row of form.querySelectorAll(".volunteer-row")) {
      const box = row.querySelector("input[name=volunteer]");
      if (!box.checked) continue;
      const m = row.querySelector("input[name=vminutes]").value;
      const share = box.value.startsWith("user:") ? { username: box.value.slice(5) } : { volunteer: Number(box.value) };
      if (m !== "") share.minutes = Number(m);
      volunteers.push(share);
    }
    const record = {
      id: newEventId(),
      point: form.point.value,
      kind: form.querySelector("input[name=kind]:checked").value,
      started_at: deviceTime(new Date(form.started_at.value)),
      minutes,
      children: Number(form.querySelector("output[name=children]").value),
      cards: [...cards],
      adults: Number(form.querySelector("output[name=adults]").value),
      titles: [...titles],
      volunteers,
      note: form.note.value.trim(),
    };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const result = await outbox.send(record);
      if (result.status === "applied" || result.status === "duplicate") {
        show("ok", `已保存：${result.message}`);
        reset();
      } else if (result.status === "queued") {
        show("queued", `已保存在手机上：${result.message}`);
        reset();
      } else {
        show("bad", `没有保存：${result.message}`);
      }
    } catch (error) {
      show("bad", "保存失败，请重试。");
      console.error(error);
    } finally {
      button.disabled = false;
      showPending();
    }
  });

  reset();
  showPending();
  outbox.syncIfPending();
}
