from tests.integration.test_auth import csrf_from


def test_points_api_create_validate_and_list(client, make):
    lib = make.user("lib", "librarian")
    h = make.token(lib)
    r = client.post("/api/v1/points", json={"code": "p01", "name": "金湾区三灶", "address": "某工业区"}, headers=h)
    assert r.status_code == 201 and r.get_json()["code"] == "P01"
    dup = client.post("/api/v1/points", json={"code": "P01", "name": "x"}, headers=h)
    assert dup.status_code == 409 and "已存在" in dup.get_json()["error"]["message"]
    bad = client.post("/api/v1/points", json={"code": "!!", "name": "x"}, headers=h)
    assert bad.status_code == 422
    assert client.get("/api/v1/points", headers=h).get_json()["points"][0]["name"] == "金湾区三灶"


def test_points_pages_add_edit_deactivate(client, make):
    make.login(client, make.user("lib", "librarian"))
    page = client.get("/points/new")
    r = client.post("/points/new", data={"csrf_token": csrf_from(page.data), "code": "P05", "name": "香洲区"})
    assert r.status_code == 302
    listing = client.get("/points/").get_data(as_text=True)
    assert "P05" in listing and "香洲区" in listing
    page = client.get("/points/P05/edit")
    r = client.post("/points/P05/edit", data={"csrf_token": csrf_from(page.data), "name": "香洲区新址", "address": "x"})
    assert r.status_code == 302
    listing = client.get("/points/").get_data(as_text=True)
    assert "香洲区新址" in listing and "已停用" in listing


def test_story_mother_cannot_manage_points(client, make):
    mama = make.user("mama", "story_mother", points=["P01"])
    assert client.post("/api/v1/points", json={"code": "P02", "name": "x"}, headers=make.token(mama)).status_code == 403
    make.login(client, mama)
    assert client.get("/points/").status_code == 403


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok", "database": "ok", "write": "ok"}


def test_healthz_reports_a_dead_database(tmp_path):
    from library_app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["database"] == "error"
