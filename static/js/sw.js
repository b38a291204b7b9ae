// Service worker of the scan screen: after one online visit, /scan and what it needs open with
// no network. Served by the app at /sw.js (scope "/") with a first line that sets
// self.OFFLINE_CONFIG = {version, shell: [urls], pages: ["/scan", "/kiosk"], precache: ["/scan"],
// static_prefix: "/static/"} (pages: kept and opened offline; precache: fetched at install);
// the version changes with any kept file, so phones pick up new code on their next visit.
//
// What it keeps (trust.md): the app's own files, and the HTML of the scan page of the person
// signed in on this phone (her name and points; no child's data). The page copy is dropped when
// anyone opens /login, /logout or /setup, and by the logout script. It never keeps an API
// response: circulation events go straight to the network, and when that fails the page's
// outbox keeps them in IndexedDB.

const CONFIG = self.OFFLINE_CONFIG || { version: "dev", shell: [], pages: ["/scan"], static_prefix: "/static/" };
const SHELL = `shell-${CONFIG.version}`;
const PAGES = "pages";
// On a weak link, how long a page request may take before the kept copy is shown instead.
const NAV_TIMEOUT_MS = 2000;
const WIPE_ON = new Set(["/login", "/logout", "/setup"]);
const MANIFEST = "/manifest.webmanifest";
// Attributes of the scan page that describe the moment it was made (the server's clock, the
// child current then): emptied in the kept copy, so an offline visit hours later neither warns
// of a wrong phone clock nor brings back a child already served. The page falls back to what
// the phone itself remembers.
const MOMENT_ATTRIBUTES = ["data-server-time", "data-start-card"];

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("shell-") && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "wipe-pages") {
    event.waitUntil(caches.delete(PAGES));
  }
  // A kept page not fetched at install (the kiosk's screen, so phones don't download it):
  // the page asks once it is open, and it and its files are kept like the scan screen's.
  if (event.data && event.data.type === "keep-page" && CONFIG.pages.includes(event.data.url)) {
    event.waitUntil(keepPages([event.data.url]));
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && WIPE_ON.has(url.pathname)) {
    // Someone signs in or out: the kept scan page (her name, her CSRF token) must go.
    event.waitUntil(caches.delete(PAGES));
    if (request.method === "GET") event.respondWith(fetch(request).catch(() => offlinePage()));
    return;
  }
  if (request.method !== "GET" || url.pathname.startsWith("/api/")) return;
  if (request.mode === "navigate" && CONFIG.pages.includes(url.pathname)) {
    event.respondWith(page(event, url));
    return;
  }
  if (request.mode === "navigate") {
    // Any other page: from the network; with none, a Chinese page that leads back to the scan
    // screen (kept on the phone) instead of the browser's own English one.
    event.respondWith(fetch(request).catch(() => offlinePage()));
    return;
  }
  if (url.pathname.startsWith(CONFIG.static_prefix) || url.pathname === MANIFEST) {
    event.respondWith(asset(request));
  }
});

async function page(event, url) {
  const cache = await caches.open(PAGES);
  const key = url.pathname; // one copy per page, whatever its query string
  const network = fetch(event.request).then(async (response) => {
    if (response.status === 200 && response.type === "basic") {
      await keepPage(cache, key, response.clone());
    } else if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
      await cache.delete(key); // signed out: the old copy is not hers any more
    }
    return response;
  });
  event.waitUntil(network.catch(() => null));
  const kept = await cache.match(key);
  if (!kept) return network.catch(() => offlinePage());
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(kept), NAV_TIMEOUT_MS); });
  const fresh = network.then((response) => response, () => kept);
  return Promise.race([fresh, late]).finally(() => clearTimeout(timer));
}

async function keepPage(cache, key, response) {
  let html = await response.text();
  for (const name of MOMENT_ATTRIBUTES) html = html.replace(new RegExp(`${name}="[^"]*"`, "g"), `${name}=""`);
  await cache.put(key, new Response(html, { status: 200, headers: response.headers }));
}

async function asset(request) {
  const kept = await caches.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    // Kept on first use: a file no kept page names.
    const cache = await caches.open(SHELL);
    await cache.put(request, response.clone());
  }
  return response;
}

async function precache() {
  const cache = await caches.open(SHELL);
  const seen = new Set();
  const urls = [...CONFIG.shell];
  // Files kept on first use by an older version (a decoder) are fetched again, fresh.
  for (const name of await caches.keys()) {
    if (!name.startsWith("shell-") || name === SHELL) continue;
    for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
  }
  urls.push(...await fetchPages(CONFIG.precache || CONFIG.pages));
  for (const u of urls) await keep(cache, u, seen);
}

// Keep these pages' HTML (when this browser may open them) and return the files they name.
async function fetchPages(pageUrls) {
  const urls = [];
  for (const pageUrl of pageUrls) {
    try {
      const response = await fetch(pageUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.status !== 200 || response.redirected) continue; // not signed in yet
      await keepPage(await caches.open(PAGES), pageUrl, response.clone());
      urls.push(...pageAssets(await response.text()));
    } catch (error) {
      // Offline: the page is kept on the next visit.
    }
  }
  return urls;
}

async function keepPages(pageUrls) {
  const cache = await caches.open(SHELL);
  const seen = new Set();
  for (const u of await fetchPages(pageUrls)) await keep(cache, u, seen);
}

async function keep(cache, url, seen) {
  const path = new URL(url, self.location.origin);
  if (path.origin !== self.location.origin || seen.has(path.pathname)) return;
  seen.add(path.pathname);
  let response;
  try {
    response = await fetch(path.pathname, { cache: "no-cache" });
  } catch (error) {
    return;
  }
  if (!response.ok) return;
  await cache.put(path.pathname, response.clone());
  if (path.pathname.endsWith(".js")) {
    for (const dep of staticImports(await response.text(), path)) await keep(cache, dep, seen);
  }
}

// The page's own scripts, styles, icons and manifest, and what it marks rel="offline-keep".
function pageAssets(html) {
  const found = [];
  const re = /<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"/gi;
  for (const m of html.matchAll(re)) {
    const u = m[1].replace(/&amp;/g, "&");
    if (u.startsWith(CONFIG.static_prefix) || u === MANIFEST) found.push(u);
  }
  return found;
}

// Modules imported with `import … from "./x.js"` or `export … from`, not `import("./x.js")`.
// The camera's decoder is named by the page (<link rel="offline-keep">) and so kept at install.
function staticImports(source, base) {
  const deps = [];
  const re = /(?:^|[;\n}])\s*(?:import|export)\s*(?:[^'"();]*?\sfrom\s*)?["']([^"']+\.m?js)["']/g;
  for (const m of source.matchAll(re)) deps.push(new URL(m[1], base).pathname);
  return deps;
}

// Shown for a page the phone does not keep while there is no network. The scan screen works
// offline once it was opened online; the link says so when it is not kept yet.
async function offlinePage() {
  const scan = CONFIG.pages[0] || "/scan";
  const kept = await caches.open(PAGES).then((cache) => cache.match(scan)).catch(() => null);
  const way = kept
    ? `<p>扫码借还不需要网络：记录保存在手机上，联网后自动上传。</p>
<p><a href="${scan}" style="display:block;text-align:center;background:#0f766e;color:#fff;padding:.9rem;border-radius:10px;font-size:1.2rem;font-weight:700;text-decoration:none">回到扫码借还</a></p>`
    : `<p>这台手机上还没有保存扫码页面：请在有网络时打开一次扫码借还，以后没有网络也能用。</p>
<p><a href="${scan}">扫码借还</a></p>`;
  const html = `<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>没有网络</title>
<body style="font-family:system-ui,-apple-system,'PingFang SC','Noto Sans CJK SC',sans-serif;padding:1.5rem;line-height:1.6;max-width:34rem;margin:0 auto;color:#1d2330;background:#f6f7f9">
<h1 style="font-size:1.4rem">没有网络</h1>
<p>这一页要联网才能打开。网络恢复后，点浏览器的刷新即可。</p>
${way}
<p style="color:#667085">已经记录的借还不会丢失，联网后会自动上传。</p></body></html>`;
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}
