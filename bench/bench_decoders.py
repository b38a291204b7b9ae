"""The scan screen's camera decoder on photos of printed labels and cards (issue 15).

Run by hand:  .venv/bin/python bench/bench_decoders.py [--repeat 3] [--throttle 4]

- The pictures: book labels (A4 4×10: 23 mm QR; A4 3×8: 32 mm QR) drawn from the app's own label
  QR (services.labels.qr_path, the path the label sheet prints) and library cards from
  services.card_image.card_png (CR80, 30 mm QR), each with a bare code and with a /s/ URL, at
  their printed size on a paper-grey desk, seen from a phone 12-25 cm away (4-7 px per mm in a
  640 × 480 frame), then: sharp, blurred (Gaussian 1.5 and 2.5 px), tilted (rotated 20° and 40°),
  dimmed (×0.35 with sensor noise), over-exposed (×1.9, clipped), JPEG-compressed (quality 20)
  and shot at an angle (a perspective warp of 35-45°), and two combinations.
- The decoders, in Chromium 156 headless, on the 640-px frame the camera path hands them
  (ImageData from a canvas): the new one is static/js/decoder.js (BarcodeDetector: this
  Chromium on Linux has no native one, so the vendored barcode-detector polyfill + zxing-wasm);
  the old one is jsQR 1.4.0 as the old scan.js called it (inversionAttempts "dontInvert"),
  fetched from npm into a temporary folder for this benchmark only (`npm pack jsqr@1.4.0`).
- CPU throttled through CDP Emulation.setCPUThrottlingRate (4× by default, a low-end phone).
  Each picture is decoded `--repeat` times by each decoder after a warm-up; the figures are the
  read rate (the exact code read) and ms per frame (median, p90). Targets: the new read rate at
  least the old one; median ≤ 30 ms per frame at 4×.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import io
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from library_app.domain.codes import make_code  # noqa: E402
from library_app.services.card_image import card_png, find_cjk_font  # noqa: E402
from library_app.services.labels import qr_path  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
W, H = 640, 480
BASE = "https://lib.example.org"


# ---------------------------------------------------------------- the printed things

def label(code: str, content: str, qr_mm: float, px_per_mm: float) -> Image.Image:
    """A book label as the label sheet prints it: the QR (23 or 32 mm), the code and a title line."""
    size, path = qr_path(content)
    module = qr_mm * px_per_mm / size
    width_mm, height_mm = (48.5, 25.4) if qr_mm < 30 else (70.0, 37.0)
    img = Image.new("RGB", (round(width_mm * px_per_mm), round(height_mm * px_per_mm)), "white")
    draw = ImageDraw.Draw(img)
    x0 = y0 = (height_mm - qr_mm) / 2 * px_per_mm
    for part in path.split("z"):
        if not part:
            continue
        m = part[1:].split("h")
        x, y = (int(v) for v in m[0].split(" "))
        run = int(m[1].split("v")[0])
        draw.rectangle((x0 + x * module, y0 + y * module, x0 + (x + run) * module - 1, y0 + (y + 1) * module - 1),
                       fill="black")
    tx = x0 + qr_mm * px_per_mm + 2 * px_per_mm
    draw.text((tx, y0 + 2 * px_per_mm), code, fill="black")
    draw.rectangle((tx, y0 + 8 * px_per_mm, img.width - 2 * px_per_mm, y0 + 10 * px_per_mm), fill="#444")
    return img


def card(code: str, content: str, px_per_mm: float, font: str | None) -> Image.Image:
    """The library card as the app draws it (CR80 at 12 px/mm), scaled to the viewing distance."""
    img = Image.open(io.BytesIO(card_png(code=code, qr_text=content, name="王小明", point="三灶镇故事会点",
                                         org_name="故事会点借阅", font_path=font, point_code="P01"))).convert("RGB")
    scale = px_per_mm / 12.0
    return img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)


def on_desk(item: Image.Image, rnd: random.Random) -> Image.Image:
    """The item on a paper-grey desk in a 640 × 480 frame, a little off centre."""
    frame = Image.new("RGB", (W, H), (176, 170, 160))
    noise = Image.effect_noise((W, H), 12).convert("RGB")
    frame = Image.blend(frame, noise, 0.12)
    x = max(0, (W - item.width) // 2 + rnd.randint(-40, 40))
    y = max(0, (H - item.height) // 2 + rnd.randint(-30, 30))
    if item.width > W or item.height > H:  # the card fills the frame: show its QR side
        item = item.crop((max(0, item.width - W), 0, item.width, min(item.height, H)))
        x, y = 0, max(0, (H - item.height) // 2)
    frame.paste(item, (x, y))
    return frame


def perspective(img: Image.Image, degrees: float) -> Image.Image:
    """Seen at an angle: the far edge narrower, foreshortened (a simple pinhole tilt about x)."""
    t = math.radians(degrees)
    shrink = 0.5 * (1 - math.cos(t)) + 0.25 * math.sin(t)
    dx = W * shrink / 2
    dy = H * (1 - math.cos(t)) / 2
    # corners of the output frame ← corners in the source (top edge far away)
    src = [(-dx, -dy), (W + dx, -dy), (W, H), (0, H)]
    dst = [(0, 0), (W, 0), (W, H), (0, H)]
    coeffs = _perspective_coeffs(dst, src)
    return img.transform((W, H), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC,
                         fillcolor=(176, 170, 160))


def _perspective_coeffs(pa: list[tuple[float, float]], pb: list[tuple[float, float]]) -> list[float]:
    """Pillow's 8 perspective coefficients mapping output points pa to source points pb."""
    rows = []
    for (x, y), (u, v) in zip(pa, pb, strict=True):
        rows.append([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u])
        rows.append([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v])
    n = 8
    for col in range(n):  # Gauss-Jordan with partial pivoting on the augmented 8 × 9 matrix
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col:
                f = rows[r][col] / rows[col][col]
                rows[r] = [a - f * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] / rows[i][i] for i in range(n)]


def dim(img: Image.Image, rnd: random.Random) -> Image.Image:
    dark = ImageEnhance.Brightness(img).enhance(0.35)
    noise = Image.effect_noise((W, H), 40).convert("RGB")
    return Image.blend(dark, noise, 0.10)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


CONDITIONS = {
    "sharp": lambda im, r: im,
    "blur 1.5": lambda im, r: im.filter(ImageFilter.GaussianBlur(1.5)),
    "blur 2.5": lambda im, r: im.filter(ImageFilter.GaussianBlur(2.5)),
    "tilt 20°": lambda im, r: im.rotate(20, Image.Resampling.BICUBIC, fillcolor=(176, 170, 160)),
    "tilt 40°": lambda im, r: im.rotate(40, Image.Resampling.BICUBIC, fillcolor=(176, 170, 160)),
    "dim ×0.35": dim,
    "over-exposed ×1.9": lambda im, r: ImageEnhance.Brightness(im).enhance(1.9),
    "JPEG q20": lambda im, r: jpeg(im, 20),
    "angle 35°": lambda im, r: perspective(im, 35),
    "angle 45°": lambda im, r: perspective(im, 45),
    "dim + blur 1.5 + JPEG q40": lambda im, r: jpeg(dim(im, r).filter(ImageFilter.GaussianBlur(1.5)), 40),
    "angle 30° + tilt 15° + JPEG q40": lambda im, r: jpeg(perspective(im.rotate(15, Image.Resampling.BICUBIC,
                                                                                  fillcolor=(176, 170, 160)), 30), 40),
}


def pictures(seed: int = 15) -> list[dict[str, str]]:
    rnd = random.Random(seed)
    font = find_cjk_font()
    out = []
    n = 0
    for kind, qr_mm in (("label 23 mm", 23.0), ("label 32 mm", 32.0), ("card 30 mm", 30.0)):
        for px_per_mm in (4.0, 5.5, 7.0):
            for bare in (True, False):
                n += 1
                code = make_code("card" if kind.startswith("card") else "copy", 1000 + n * 37)
                content = code if bare else f"{BASE}/s/{code}"
                item = card(code, content, px_per_mm, font) if kind.startswith("card") else label(code, content, qr_mm, px_per_mm)
                base = on_desk(item, rnd)
                for name, fn in CONDITIONS.items():
                    img = fn(base, rnd)
                    buf = io.BytesIO()
                    img.save(buf, "PNG")
                    out.append({"kind": kind, "px_per_mm": px_per_mm, "content": "code" if bare else "URL",
                                "condition": name, "expect": content,
                                "png": base64.b64encode(buf.getvalue()).decode()})
    return out


# ---------------------------------------------------------------- the page

PAGE = """<!doctype html><meta charset="utf-8"><title>decoders</title>
<script src="/jsqr/jsQR.js"></script>
<script type="module">
import { createDecoder } from "/static/js/decoder.js";
const decoder = createDecoder({ script: "/static/vendor/barcode-detector/barcode-detector-polyfill.iife.js",
                                wasm: "/static/vendor/zxing-wasm/zxing_reader.wasm" });
const canvas = document.createElement("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
async function frame(png) {
  const img = new Image();
  img.src = "data:image/png;base64," + png;
  await img.decode();
  // as the camera path does: the frame drawn at most 640 px wide, its ImageData decoded
  const scale = Math.min(1, 640 / img.naturalWidth);
  canvas.width = Math.round(img.naturalWidth * scale);
  canvas.height = Math.round(img.naturalHeight * scale);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}
window.bench = async (png, repeat) => {
  const data = await frame(png);
  const out = { old: [], new: [] };
  for (let i = 0; i < repeat; i++) {
    let t = performance.now();
    const a = jsQR(data.data, data.width, data.height, { inversionAttempts: "dontInvert" });
    out.old.push([performance.now() - t, a ? a.data : null]);
    t = performance.now();
    const b = await decoder.decode(data);
    out.new.push([performance.now() - t, b]);
  }
  return out;
};
window.warm = async () => { await decoder.ready(); return "BarcodeDetector" in window; };
window.ready = true;
</script>"""


def fetch_jsqr(into: Path) -> Path:
    """jsQR 1.4.0 from npm, for this benchmark only (it left static/vendor in issue 15)."""
    subprocess.run(["npm", "pack", "jsqr@1.4.0", "--silent"], cwd=into, check=True, capture_output=True)
    with tarfile.open(into / "jsqr-1.4.0.tgz") as tar:
        member = tar.getmember("package/dist/jsQR.js")
        (into / "jsqr").mkdir()
        (into / "jsqr" / "jsQR.js").write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return into / "jsqr" / "jsQR.js"


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--throttle", type=float, default=4.0)
    parser.add_argument("--save", type=Path, help="also save the pictures (PNG) in this folder, to look at")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-decoders-"))
    try:
        fetch_jsqr(tmp)
        (tmp / "static").symlink_to(ROOT / "static")
        (tmp / "index.html").write_text(PAGE, encoding="utf-8")
        server, url = serve(tmp)
        pics = pictures()
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for i, p in enumerate(pics):
                if p["condition"] in ("sharp", "angle 45°", "dim ×0.35") and p["px_per_mm"] == 5.5:
                    (args.save / f"{i:03d}.png").write_bytes(base64.b64decode(p["png"]))
        print(f"{len(pics)} pictures, {args.repeat} decodes each per decoder, CPU ×{args.throttle}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page()
            page.goto(url + "/index.html")
            page.wait_for_function("window.ready === true")
            native = page.evaluate("'BarcodeDetector' in window")
            page.evaluate("warm()")
            page.evaluate("p => bench(p, 2)", pics[0]["png"])  # compile and warm both
            cdp = page.context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": args.throttle})
            rows = []
            for p in pics:
                got = page.evaluate("([p, n]) => bench(p, n)", [p["png"], args.repeat])
                rows.append((p, got))
            browser.close()
        server.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def summary(select):  # type: ignore[no-untyped-def]
        out = {}
        for dec in ("old", "new"):
            times, ok, n = [], 0, 0
            for p, got in rows:
                if not select(p):
                    continue
                n += 1
                first = got[dec][0][1]
                ok += first == p["expect"]
                times += [t for t, _ in got[dec]]
            out[dec] = (ok, n, statistics.median(times) if times else 0.0, pct(times, 0.9) if times else 0.0)
        return out

    print(f"native BarcodeDetector before the polyfill: {native}")
    lines = ["| pictures | jsQR 1.4.0 read | BarcodeDetector read | jsQR ms median / p90 | BarcodeDetector ms median / p90 |",
             "| --- | --- | --- | --- | --- |"]

    def line(label: str, select) -> None:  # type: ignore[no-untyped-def]
        s = summary(select)
        o, nw = s["old"], s["new"]
        lines.append(f"| {label} | {o[0]}/{o[1]} ({100 * o[0] / max(1, o[1]):.0f}%) | {nw[0]}/{nw[1]} "
                     f"({100 * nw[0] / max(1, nw[1]):.0f}%) | {o[2]:.1f} / {o[3]:.1f} | {nw[2]:.1f} / {nw[3]:.1f} |")

    line("**all**", lambda p: True)
    for name in CONDITIONS:
        line(name, lambda p, name=name: p["condition"] == name)
    for kind in ("label 23 mm", "label 32 mm", "card 30 mm"):
        line(kind, lambda p, kind=kind: p["kind"] == kind)
    for ppm in (4.0, 5.5, 7.0):
        line(f"{ppm:g} px/mm", lambda p, ppm=ppm: p["px_per_mm"] == ppm)
    for content in ("code", "URL"):
        line(f"QR holds the {content}", lambda p, content=content: p["content"] == content)
    print("\n".join(lines))
    json.dump([{k: v for k, v in p.items() if k != "png"} | {"got": g} for p, g in rows],
              open(Path(tempfile.gettempdir()) / "bench_decoders.json", "w"), ensure_ascii=False)


if __name__ == "__main__":
    main()
