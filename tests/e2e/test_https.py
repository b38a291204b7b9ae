"""The phone camera needs HTTPS: the scan page served over TLS under a real host name (not
localhost) is a secure context whose camera scans a card; the same page over plain http is not,
and says what to do instead. The session cookie is Secure over https.

The certificate is self-signed, made with openssl for ``library.test``; Chromium resolves that
name to 127.0.0.1 and is told to accept the certificate, as a phone user does once with a
self-signed certificate (docs/deploy.md).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builders import PASSWORD
from tests.conftest import missing
from tests.e2e.conftest import CHROMIUM, FLAGS, login, make_y4m, screenshot

HOST = "library.test"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        missing("openssl not found (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_server(app: Any, certificate: tuple[Path, Path]) -> Iterator[str]:
    """The app over TLS on a free port of 127.0.0.1 (werkzeug's server with an SSL context)."""
    from werkzeug.serving import make_server

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://{HOST}:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def named_host_browser(playwright_instance: Any, tmp_path: Path, make: Any) -> Iterator[Any]:
    """Chromium whose fake camera shows a child's card, resolving library.test to 127.0.0.1."""
    make.point("P01", "三灶镇故事会点")
    make.user("mama", "story_mother", points=["P01"])
    child = make.borrower("李小花", point="P01")
    video = make_y4m(make.card_code(child), tmp_path / "card.y4m")
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=[*FLAGS, f"--use-file-for-fake-video-capture={video.resolve()}",
              f"--host-resolver-rules=MAP {HOST} 127.0.0.1"],
    )
    yield browser
    browser.close()


def _phone(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  device_scale_factor=2, is_mobile=True, has_touch=True,
                                  ignore_https_errors=True)
    return context.new_page()


CAMERA_PROBE = """async () => {
  const out = {secure: window.isSecureContext, devices: typeof navigator.mediaDevices};
  if (navigator.mediaDevices) {
    const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
    out.tracks = stream.getVideoTracks().length;
    stream.getTracks().forEach((t) => t.stop());
  }
  return out;
}"""


def test_scan_page_camera_works_over_https(app, https_server, named_host_browser):
    page = _phone(named_host_browser)
    login(page, https_server, "mama", PASSWORD)
    assert page.url == https_server + "/home"
    session = next(c for c in page.context.cookies() if c["name"] == "session")
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"

    response = page.goto(https_server + "/scan")
    assert response.status == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert page.evaluate(CAMERA_PROBE) == {"secure": True, "devices": "object", "tracks": 1}

    # The scan page's own camera: the fake camera shows the child's card, the page reads it.
    assert page.locator("#camera-note").is_hidden()
    page.click("#camera-open")
    page.locator("#current-name").filter(has_text="李小花").wait_for(timeout=15000)
    screenshot(page, "scan-https-camera-phone")
    page.context.close()


def test_over_plain_http_on_a_lan_address_the_camera_is_unavailable_and_the_page_says_so(
        app, live_server, named_host_browser):
    page = _phone(named_host_browser)
    base = f"http://{HOST}:{live_server.port}"
    login(page, base, "mama", PASSWORD)  # no Secure cookie over http: login still works
    page.goto(base + "/scan")
    assert page.evaluate(CAMERA_PROBE) == {"secure": False, "devices": "undefined"}
    assert page.locator("#camera-note").is_visible()
    assert "需要 https" in page.locator("#camera-note").inner_text()
    page.context.close()
