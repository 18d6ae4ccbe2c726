"""Signing in to pages with the API token."""


def test_login_page_sets_a_session_that_opens_the_api(client):
    assert client.get("/api/v1/pings/1").status_code == 401
    page = client.get("/login")
    assert page.status_code == 200 and b"Sign in" in page.data
    wrong = client.post("/login", data={"token": "nope"})
    assert wrong.status_code == 401 and b"not valid" in wrong.data
    right = client.post("/login?next=/api/v1/pings/1", data={"token": "test-token"})
    assert right.status_code == 302 and right.headers["Location"] == "/api/v1/pings/1"
    assert client.get("/api/v1/pings/1").status_code == 404  # signed in; no such ping
    client.post("/logout")
    assert client.get("/api/v1/pings/1").status_code == 401


def test_login_never_redirects_off_site(client):
    response = client.post("/login?next=https://evil.example/", data={"token": "test-token"})
    assert response.status_code == 302
    assert not response.headers["Location"].startswith("https://evil")
