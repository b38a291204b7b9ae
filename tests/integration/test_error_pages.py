import pytest


@pytest.fixture
def app_config():
    return {"MAX_CONTENT_LENGTH": 1024}


def test_error_pages_are_chinese_and_api_errors_are_json(app, client, make):
    make.login(client, make.user("mama", "story_mother"))
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "找不到这个页面" in r.get_data(as_text=True)
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    r = client.get("/admin/users")
    assert r.status_code == 403 and "没有权限" in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)


def test_oversize_upload_is_413_with_a_message(app, client, make):
    make.login(client, make.user("boss", "admin"))
    r = client.post("/points/new", data={"name": "x" * 5000})
    assert r.status_code == 413 and "文件太大" in r.get_data(as_text=True)
    r = client.post("/api/v1/points", data="x" * 5000, headers=make.token(make.user("lib", "librarian")),
                    content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "too_large"


def test_an_unexpected_error_is_a_chinese_500_without_traceback(app, make):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    boom._public = True
    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = app.test_client().get("/boom")
    text = r.get_data(as_text=True)
    assert r.status_code == 500 and "系统出错了" in text
    assert "secret internals" not in text and "Traceback" not in text
