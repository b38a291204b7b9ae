"""seed-demo gives a newcomer a full annual report: a year of activities and volunteers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)


@pytest.fixture
def app_config(db_url, tmp_path):
    return {"FIXED_NOW": NOW}


def test_seed_demo_fills_the_annual_report(app, runner, make, client):
    r = runner.invoke(args=["seed-demo"])
    assert r.exit_code == 0, r.output
    headers = make.token(make.user("boss", "viewer"))
    data = client.get("/api/v1/reports/annual/2026", headers=headers).get_json()
    assert data["activities"] > 200 and data["attendance"] > data["activities"] * 3
    assert all(m["activities"] > 0 and m["volunteer_minutes"] > 0 for m in data["months"][:10])
    assert data["volunteers"] >= 20 and data["volunteer_participations"] > data["activities"]
    assert 0 < data["children_served"] <= 250 and data["loans"] > 5000
    assert len([p for p in data["points"] if p["activities"]]) == 4
    assert f"共开展故事会等阅读活动 {data['activities']:,} 场" in data["summary"]
    lib = make.token(make.user("lib", "librarian"))
    listed = client.get("/api/v1/volunteers?point=P01", headers=lib).get_json()["volunteers"]
    kinds = {v["kind"] for v in listed}
    assert {"story_mother", "worker", "student", "child"} <= kinds
    assert all(v["consent_at"] for v in listed if v["kind"] == "child")
