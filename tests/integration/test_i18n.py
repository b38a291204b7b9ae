def test_chinese_is_the_default_and_english_is_offered(client, make):
    make.user("boss", "admin")
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "<h1>登录</h1>" in page and "English" in page
    client.set_cookie("lang", "en")
    page = client.get("/login").get_data(as_text=True)
    assert "<h1>Sign in</h1>" in page and "Username" in page and "中文" in page


def test_language_switch_sets_a_cookie_and_returns_to_the_page(client, make):
    from tests.integration.test_auth import csrf_from

    make.user("boss", "admin")
    token = csrf_from(client.get("/login").data)
    r = client.post("/lang/en", data={"csrf_token": token, "next": "/login"})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert "Sign in" in client.get("/login").get_data(as_text=True)
    r = client.post("/lang/en", data={"csrf_token": token, "next": "https://evil.example/"})
    assert r.headers["Location"] == "/"
