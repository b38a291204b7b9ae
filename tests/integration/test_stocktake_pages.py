"""Stocktake pages through the test client: start, scan page, results, close, CSV and XLSX."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from library_app.db import session_factory
from library_app.models import Copy

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_librarian_starts_scans_closes_and_downloads(app, client, make):
    lib = make.user("lib", "librarian")
    make.login(client, lib)
    title = make.title("=危险的书名")  # an export cell must not become a formula
    shelf = [make.copy(title, point="P01") for _ in range(3)]
    stray = make.copy(make.title("迷路的书"), point="P02")
    page = client.get("/stocktakes/")
    assert page.status_code == 200 and "开始盘点" in page.get_data(as_text=True)
    r = client.post("/stocktakes/point/P01/open", data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert r.status_code == 302 and "/scan" in r.headers["Location"]
    scan_page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "0</strong> / <span id=\"expected\">3</span>" in scan_page
    sid = int(re.search(r"/stocktakes/(\d+)/scan", r.headers["Location"]).group(1))
    headers = {"X-CSRFToken": csrf(scan_page)}
    scans = [{"id": str(uuid.uuid4()), "copy": c.code, "at": datetime.now(UTC).isoformat()}
             for c in (shelf[0], stray)]
    assert client.post(f"/api/v1/stocktakes/{sid}/scans", json={"scans": scans}, headers=headers).status_code == 200

    results = client.get(f"/stocktakes/{sid}").get_data(as_text=True)
    assert "迷路的书" in results and "P02" in results and "结束盘点" in results
    r = client.post(f"/stocktakes/{sid}/close", data={"csrf_token": csrf(results)})
    assert r.status_code == 302
    done = client.get(f"/stocktakes/{sid}").get_data(as_text=True)
    assert "2 本登记为缺失" in done and "结束盘点" not in done
    for c in shelf[1:]:
        assert c.code in done
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(Copy.status).where(Copy.id == shelf[1].id)) == "missing"

    csv = client.get(f"/stocktakes/{sid}/export.csv")
    assert csv.status_code == 200 and csv.data.startswith("\ufeff".encode())
    text = csv.data.decode("utf-8-sig")
    assert shelf[1].code in text and stray.code in text and "'=危险的书名" in text
    xlsx = client.get(f"/stocktakes/{sid}/export.xlsx")
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0][:3] == ["清单", "编码", "书名"]
    assert {row[1] for row in values[1:]} == {shelf[1].code, shelf[2].code, stray.code}
    history = client.get("/stocktakes/point/P01").get_data(as_text=True)
    assert f"/stocktakes/{sid}" in history


def test_story_mother_scans_at_her_point_but_cannot_close_or_export(app, client, make):
    lib = make.user("lib", "librarian")
    make.copy(point="P01")
    with app.test_client() as staff:
        sid = staff.post("/api/v1/stocktakes", json={"point": "P01"}, headers=make.token(lib)).get_json()["id"]
    mother = make.user("mama", "story_mother", points=["P01"])
    other = make.user("mama2", "story_mother", points=["P02"])
    make.login(client, mother)
    index = client.get("/stocktakes/").get_data(as_text=True)
    assert f"/stocktakes/{sid}/scan" in index and "开始盘点" not in index
    assert client.get(f"/stocktakes/{sid}/scan").status_code == 200
    assert client.get(f"/stocktakes/{sid}/export.csv").status_code == 403
    assert client.post(f"/stocktakes/{sid}/close").status_code in (400, 403)
    outsider = app.test_client()
    make.login(outsider, other)
    assert outsider.get(f"/stocktakes/{sid}/scan").status_code == 403
