// Transfer page: scan copies one after another (scanner gun or typing + Enter). Each code is
// checked against the server and listed with its title; the textarea that the form posts keeps
// the codes, so the page also works without this script.
(function () {
  "use strict";
  var script = document.currentScript;
  var lookup = script.getAttribute("data-lookup");
  var input = document.getElementById("transfer-scan");
  var list = document.getElementById("transfer-list");
  var count = document.getElementById("transfer-count");
  var status = document.getElementById("transfer-status");
  var codes = document.querySelector("textarea[name=codes]");
  var form = document.getElementById("transfer-form");
  if (!input || !codes) { return; }

  function normalise(raw) {
    var text = (raw || "").trim();
    var m = text.match(/\/s\/([^/?#\s]+)\/?(?:[?#].*)?$/i);
    if (m) { text = m[1]; }
    return text.replace(/[\s-]/g, "").toUpperCase();
  }
  function current() {
    return codes.value.split(/[\s,，]+/).map(normalise).filter(Boolean);
  }
  function say(text, ok) {
    status.textContent = text;
    status.className = "isbn-status " + (ok ? "ok" : "bad");
  }
  function refresh() {
    var n = current().length;
    count.hidden = n === 0;
    list.hidden = list.children.length === 0;
    count.textContent = "已扫 " + n + " 册";
  }
  function remove(code, li) {
    codes.value = current().filter(function (c) { return c !== code; }).join("\n");
    li.remove();
    refresh();
  }
  function add(code, label, ok) {
    var li = document.createElement("li");
    li.setAttribute("data-code", code);
    if (!ok) { li.className = "bad"; }
    var strong = document.createElement("strong");
    strong.className = "mono";
    strong.textContent = code;
    li.appendChild(strong);
    li.appendChild(document.createTextNode(" " + label));
    var x = document.createElement("button");
    x.type = "button";
    x.className = "link";
    x.textContent = "移除";
    x.addEventListener("click", function () { remove(code, li); });
    li.appendChild(x);
    list.appendChild(li);
  }
  function scanned(raw) {
    var code = normalise(raw);
    if (!code) { return; }
    if (current().indexOf(code) !== -1) {
      say(code + " 已经在列表里了。", false);
      return;
    }
    fetch(lookup.replace("CODE", encodeURIComponent(code)), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {status: r.status, body: body}; }); })
      .then(function (res) {
        if (res.status !== 200) {
          say((res.body.error && res.body.error.message) || "找不到这本书。", false);
          return;
        }
        var c = res.body;
        if (c.status === "on_loan") {
          say(c.code + "《" + c.title.title + "》正在借出中，归还后才能调拨。", false);
          return;
        }
        codes.value = current().concat([c.code]).join("\n");
        add(c.code, "《" + c.title.title + "》 现在在 " + c.point, true);
        say("已加入：" + c.code + "《" + c.title.title + "》", true);
        refresh();
      })
      .catch(function () {
        // Offline or the server is down: keep the code; the server checks it on submit.
        codes.value = current().concat([code]).join("\n");
        add(code, "（未能联网核对）", true);
        refresh();
      });
  }
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter") {
      e.preventDefault();
      scanned(input.value);
      input.value = "";
    }
  });
  form.addEventListener("submit", function () { input.value = ""; });
  refresh();
})();
