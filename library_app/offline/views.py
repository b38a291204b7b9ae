"""The installable scan screen: web app manifest and service worker (served from the root scope).

The service worker's script is ``static/js/sw.js`` with one line put in front of it: the list
of files to keep on the phone and a version made from their contents. When any of them
changes, ``/sw.js`` changes, the browser installs the new worker, and it fetches them again.
Neither response holds personal data, so both are public.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, url_for

from library_app.access import public

bp = Blueprint("offline", __name__)

# What the scan screen needs before it can run with no network. Its HTML and the modules it
# imports statically are found by the worker itself (it reads /scan); these are what the page
# does not name. The camera decoder is named by the scan page (rel="offline-keep").
SHELL_FILES = ("css/app.css", "img/icon-192.png", "img/icon-512.png")
# Files whose change must reach phones: everything the worker may have kept.
VERSIONED_DIRS = ("js", "css", "img", "vendor")
THEME = "#0f766e"


def _static() -> Path:
    return Path(current_app.static_folder or "static")


def _fingerprint(static: Path) -> str:
    stamp = tuple(
        (str(p), p.stat().st_mtime_ns, p.stat().st_size)
        for d in VERSIONED_DIRS if (static / d).is_dir()
        for p in sorted((static / d).rglob("*")) if p.is_file()
    )
    return _hash_files(stamp)


@lru_cache(maxsize=8)
def _hash_files(stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _mtime, _size in stamp:
        digest.update(path.encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


@bp.get("/manifest.webmanifest")
@public
def manifest() -> Response:
    name = current_app.config.get("ORG_NAME") or "故事会点借阅"
    body = {
        "name": f"{name} · 扫码借还",
        "short_name": "扫码借还",
        "description": "在阅读点扫码借书、还书；没有网络时记录保存在手机上，联网后自动上传。",
        "lang": "zh-CN",
        "start_url": url_for("circulation.scan") if "circulation.scan" in current_app.view_functions
        else "/scan",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f6f7f9",
        "theme_color": THEME,
        "icons": [
            {"src": url_for("static", filename="img/icon-192.png"), "sizes": "192x192",
             "type": "image/png", "purpose": "any"},
            {"src": url_for("static", filename="img/icon-512.png"), "sizes": "512x512",
             "type": "image/png", "purpose": "any"},
            {"src": url_for("static", filename="img/icon-maskable-512.png"), "sizes": "512x512",
             "type": "image/png", "purpose": "maskable"},
        ],
    }
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/sw.js")
@public
def service_worker() -> Response:
    static = _static()
    script = (static / "js" / "sw.js").read_text(encoding="utf-8")
    config = {
        "version": _fingerprint(static),
        "shell": [url_for("offline.manifest")]
        + [url_for("static", filename=f) for f in SHELL_FILES if (static / f).is_file()],
        # the scan screen, and the kiosk's screen (no personal data in its HTML: the child's turn
        # comes from the kiosk's own cache, kiosk-cache.js)
        "pages": ["/scan", "/kiosk"],
        "precache": ["/scan"],  # the kiosk's page asks for itself (phones never download it)
        "static_prefix": url_for("static", filename=""),
    }
    body = f"self.OFFLINE_CONFIG = {json.dumps(config)};\n{script}"
    response = Response(body, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    # Browsers check the worker on every visit; never let a proxy keep an old one.
    response.headers["Cache-Control"] = "no-cache"
    return response
