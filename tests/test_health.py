"""/healthz (the process answers) and /readyz (Redis answers, SQLite takes a write lock)."""
from ops_support import write_lock
from tests_support import unused_redis_url


def test_healthz_answers_without_token_or_dependencies(env, monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    app, client, _ = runner_factory()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_when_redis_and_sqlite_are_fine(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"redis": "ok", "sqlite": "ok"}}


def test_readyz_names_redis_when_it_does_not_answer(env, monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    app, client, _ = runner_factory()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == "not ready: redis"
    assert response.json["failed"] == ["redis"]
    assert "Connection" in response.json["checks"]["redis"]
    assert response.json["checks"]["sqlite"] == "ok"


def test_readyz_names_sqlite_when_it_cannot_take_the_write_lock(env, monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_SQLITE_BUSY_MS", "200")
    app, client, _ = runner_factory()
    with write_lock(env["PINGTALLY_DATABASE"]):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["sqlite"]
    assert "locked" in response.json["checks"]["sqlite"]
    assert response.json["checks"]["redis"] == "ok"
    assert client.get("/readyz").status_code == 200  # lock released: ready again


def test_readyz_names_both_when_both_fail(env, monkeypatch, runner_factory, tmp_path):
    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    monkeypatch.setenv("PINGTALLY_SQLITE_BUSY_MS", "200")
    app, client, _ = runner_factory()
    with write_lock(env["PINGTALLY_DATABASE"]):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == "not ready: redis, sqlite"
