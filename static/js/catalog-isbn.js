// Title form: fill the ISBN field by scanning the book's EAN-13 barcode (live camera where the
// page is a secure context, else a photo), check the digits at once, and offer the existing
// title when its ISBN is already in the catalog. Uses the BarcodeDetector API: the phone's own
// where it has one (Android Chrome), else the vendored polyfill (zxing-wasm, served locally).
// A valid ISBN on the new-title form is looked up (套录: local catalog, Z39.50 servers, Open
// Library) and the records found are listed with each source's outcome; one tap fills the form.
(function () {
  "use strict";
  var script = document.currentScript;
  var wasmUrl = script.getAttribute("data-wasm");
  var lookupUrl = script.getAttribute("data-lookup");
  var titleUrl = script.getAttribute("data-title-url");
  var currentId = script.getAttribute("data-current");
  var input = document.getElementById("isbn");
  var scanButton = document.getElementById("isbn-scan");
  var photoLabel = document.getElementById("isbn-photo-label");
  var photoInput = document.getElementById("isbn-photo");
  var camera = document.getElementById("isbn-camera");
  var video = document.getElementById("isbn-video");
  var stopButton = document.getElementById("isbn-stop");
  var status = document.getElementById("isbn-status");
  var existing = document.getElementById("isbn-existing");
  var recordsUrl = script.getAttribute("data-records");
  var panel = document.getElementById("isbn-lookup");
  if (!input) { return; }

  function clean(raw) {
    return (raw || "").normalize("NFKC").replace(/^\s*ISBN(-1[03])?/i, "").replace(/[\s\-:：._]/g, "").toUpperCase();
  }
  function validIsbn(text) {
    var i, sum = 0;
    if (/^97[89]\d{10}$/.test(text)) {
      for (i = 0; i < 12; i++) { sum += Number(text[i]) * (i % 2 ? 3 : 1); }
      return (10 - (sum % 10)) % 10 === Number(text[12]);
    }
    if (/^\d{9}[\dX]$/.test(text)) {
      for (i = 0; i < 10; i++) { sum += (10 - i) * (text[i] === "X" ? 10 : Number(text[i])); }
      return sum % 11 === 0;
    }
    return false;
  }
  function say(text, kind) {
    status.textContent = text;
    status.className = "isbn-status " + (kind || "");
  }

  var lastLooked = "";
  function check() {
    var text = clean(input.value);
    if (text !== lastLooked) {  // a blur after typing checks the same ISBN again: keep what it found
      existing.hidden = true;
      if (panel) { panel.hidden = true; }
    }
    if (!text || text.length < 10) { lastLooked = ""; say(""); return; }
    if (!validIsbn(text)) {
      lastLooked = "";
      say("这个 ISBN 的校验位不对，请核对（没有 ISBN 的书可以留空）。", "bad");
      return;
    }
    if (text === lastLooked) {
      if (existing.hidden) { say("ISBN 格式正确。", "ok"); }
      return;
    }
    say("ISBN 格式正确。", "ok");
    lastLooked = text;
    if (!currentId) { findRecords(text); }
    fetch(lookupUrl + "?isbn=" + encodeURIComponent(text), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || !body.titles || !body.titles.length) { return; }
        var t = body.titles[0];
        if (String(t.id) === currentId) { return; }
        document.getElementById("isbn-existing-title").textContent = "《" + t.title + "》" + (t.author ? "，" + t.author : "") + "（已有 " + (t.copy_count || 0) + " 册）";
        document.getElementById("isbn-existing-link").href = titleUrl.replace(/\/0$/, "/" + t.id) + "#add-copies";
        existing.hidden = false;
        say("这本书已经在书目里了。", "bad");
      })
      .catch(function () { /* offline: the server checks again on save */ });
  }
  input.addEventListener("change", check);
  input.addEventListener("blur", check);
  input.addEventListener("input", function () {
    if (clean(input.value).length >= 13) { check(); }
  });

  // ---- records found by ISBN (套录)
  var STATUS_TEXT = {found: "找到", not_found: "没有", timeout: "超时", error: "出错"};
  var FIELDS = ["title", "author", "publisher", "year", "pages", "price", "clc", "summary"];
  var asked = 0;
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function meta(r) {
    var parts = [];
    if (r.author) { parts.push(r.author); }
    if (r.publisher) { parts.push(r.publisher + (r.year ? "，" + r.year : "")); }
    else if (r.year) { parts.push(String(r.year)); }
    if (r.pages) { parts.push(r.pages + " 页"); }
    if (r.price) { parts.push(r.price); }
    if (r.clc) { parts.push("中图法 " + r.clc + (r.category ? "（" + r.category + "）" : "")); }
    return parts.join(" · ");
  }
  function setField(name, value) {
    var f = document.getElementById(name);
    if (!f) { return; }
    f.value = value === null || value === undefined ? "" : String(value);
    f.dispatchEvent(new Event("input", {bubbles: true}));
  }
  function useRecord(r, item) {
    FIELDS.forEach(function (name) {
      if (r[name] !== null && r[name] !== undefined && r[name] !== "") { setField(name, r[name]); }
    });
    var category = document.getElementById("category");
    if (r.category && category) { category.value = r.category; }
    setField("record_source", r.source);
    setField("raw_record", r.raw || "");
    var note = document.getElementById("record-source-note");
    if (note) { document.getElementById("record-source-name").textContent = r.source; note.hidden = false; }
    Array.prototype.forEach.call(document.querySelectorAll(".isbn-record.chosen"), function (n) { n.classList.remove("chosen"); });
    if (item) { item.classList.add("chosen"); }
    document.getElementById("isbn-lookup-note").textContent = "已用“" + r.source + "”的记录填写下面的表格，请核对、修改后保存。";
    var title = document.getElementById("title");
    if (title) { title.focus({preventScroll: true}); }
  }
  function showSources(sources, pending) {
    var list = document.getElementById("isbn-sources");
    list.textContent = "";
    if (pending) { list.appendChild(el("li", "pending", "正在查找…")); return; }
    sources.forEach(function (s) {
      var li = el("li", s.status, s.name + "：" + (STATUS_TEXT[s.status] || s.status) +
        "（" + (s.ms / 1000).toFixed(1) + " 秒）");
      li.setAttribute("data-status", s.status);
      if (s.message) { li.title = s.message; }
      list.appendChild(li);
    });
  }
  function showRecords(records) {
    var list = document.getElementById("isbn-records");
    list.textContent = "";
    records.forEach(function (r) {
      var item = el("li", "isbn-record");
      item.appendChild(el("span", "rec-title", r.title || "（无书名）"));
      var button = el("button", "btn primary", "用这条填写");
      button.type = "button";
      button.addEventListener("click", function () { useRecord(r, item); });
      item.appendChild(button);
      item.appendChild(el("span", "rec-meta", meta(r)));
      item.appendChild(el("span", "rec-source", "来源：" + r.source));
      list.appendChild(item);
    });
  }
  function findRecords(text) {
    if (!panel || !recordsUrl) { return; }
    var mine = ++asked;
    panel.hidden = false;
    showSources([], true);
    showRecords([]);
    var note = document.getElementById("isbn-lookup-note");
    note.textContent = "";
    fetch(recordsUrl.replace(/0$/, encodeURIComponent(text)), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (mine !== asked) { return; }
        if (!res.ok) {
          showSources([]);
          note.textContent = (res.body && res.body.error && res.body.error.message) || "查找失败，请手动填写。";
          return;
        }
        showSources(res.body.sources || []);
        var records = (res.body.records || []).filter(function (r) { return r.syntax !== "local"; });
        showRecords(records);
        note.textContent = records.length ? "点“用这条填写”把记录填进表格，再按需要修改。" : "没有找到这本书的记录，请手动填写。";
      })
      .catch(function () {
        if (mine !== asked) { return; }
        showSources([]);
        note.textContent = "现在连不上服务器，请手动填写（保存时会再检查 ISBN）。";
      });
  }
  var again = document.getElementById("isbn-lookup-again");
  if (again) {
    again.addEventListener("click", function () {
      var text = clean(input.value);
      if (validIsbn(text)) { findRecords(text); }
    });
  }

  // ---- barcode scanning
  var detector = null;
  function getDetector() {
    if (detector) { return detector; }
    if (window.BarcodeDetectionAPI && window.BarcodeDetectionAPI.setZXingModuleOverrides && wasmUrl) {
      window.BarcodeDetectionAPI.setZXingModuleOverrides({
        locateFile: function (path, prefix) { return path.endsWith(".wasm") ? wasmUrl : prefix + path; }
      });
    }
    if (!("BarcodeDetector" in window)) { return null; }
    detector = new window.BarcodeDetector({formats: ["ean_13"]});
    return detector;
  }
  function found(results) {
    for (var i = 0; i < results.length; i++) {
      var value = clean(results[i].rawValue);
      if (/^97[89]\d{10}$/.test(value) && validIsbn(value)) { return value; }
    }
    return null;
  }
  function fill(value) {
    input.value = value;
    if (navigator.vibrate) { navigator.vibrate(80); }
    check();
  }

  var stream = null;
  var timer = null;
  function stop() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    camera.hidden = true;
  }
  function loop() {
    var d = getDetector();
    if (!stream || !d) { return; }
    if (video.readyState < 2) { timer = setTimeout(loop, 150); return; }
    d.detect(video).then(function (results) {
      var value = found(results);
      if (value) { stop(); fill(value); say("已识别条码：" + value, "ok"); check(); return; }
      timer = setTimeout(loop, 150);
    }).catch(function () { timer = setTimeout(loop, 300); });
  }
  function start() {
    if (!getDetector()) { say("这个浏览器不能识别条码，请手动输入 ISBN。", "bad"); return; }
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment", width: {ideal: 1280}}, audio: false})
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        camera.hidden = false;
        say("正在识别条码…");
        return video.play();
      })
      .then(loop)
      .catch(function () {
        stop();
        say("无法打开摄像头：可以用“拍照识别”，或手动输入 ISBN。", "bad");
      });
  }
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && scanButton) {
    scanButton.hidden = false;
    scanButton.addEventListener("click", function () { if (stream) { stop(); } else { start(); } });
    stopButton.addEventListener("click", stop);
  }
  if (photoLabel && window.createImageBitmap) {
    photoLabel.hidden = false;
    photoInput.addEventListener("change", function () {
      var file = photoInput.files && photoInput.files[0];
      var d = getDetector();
      if (!file || !d) { return; }
      say("正在识别照片里的条码…");
      createImageBitmap(file).then(function (bitmap) { return d.detect(bitmap); })
        .then(function (results) {
          var value = found(results);
          if (value) { fill(value); say("已识别条码：" + value, "ok"); check(); }
          else { say("照片里没有找到 ISBN 条码，请拍清楚书背的条码，或手动输入。", "bad"); }
        })
        .catch(function () { say("照片无法识别，请手动输入 ISBN。", "bad"); })
        .then(function () { photoInput.value = ""; });
    });
  }
  window.addEventListener("pagehide", stop);
  if (input.value && !currentId) { check(); }  // opened with ?isbn= (e.g. from a scan elsewhere)
})();
