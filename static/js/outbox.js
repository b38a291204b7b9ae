// The scan screen's way of sending circulation events to the server.
//
// Interface (kept stable for scan.js):
//   const outbox = createOutbox({endpoint, csrfToken})
//   outbox.send(event) -> Promise<result>
//       event: {id (uuid), type: "loan"|"return"|"renew", copy, card?, point, at (ISO with offset)}
//       result: one entry of the API's "results" ({id, status, code, message, loan}),
//               or {id, status: "queued", message} when it is kept on the device to sync later.
//   outbox.pending() -> Promise<number>     events waiting on this device
//   outbox.onChange(callback)               called with the pending count when it changes
//   outbox.sync() -> Promise<results[]>     send what waits now
//
// This first version sends online only; the offline issue replaces the body with an
// IndexedDB-backed queue behind the same interface.

export function createOutbox({ endpoint, csrfToken }) {
  const listeners = [];
  async function post(events) {
    const response = await fetch(endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify({ events }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = (body && body.error && body.error.message) || "服务器暂时无法处理，请稍后再试。";
      return events.map((e) => ({ id: e.id, status: "rejected", code: "http_" + response.status, message }));
    }
    return body.results;
  }
  return {
    async send(event) {
      const [result] = await post([event]);
      return result;
    },
    async pending() { return 0; },
    onChange(callback) { listeners.push(callback); },
    async sync() { return []; },
  };
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
