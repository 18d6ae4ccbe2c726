"""Rate limits on the ingest endpoints, per source address and per uuid, kept in Redis.

Over a limit: 429, Retry-After, a JSON error, and nothing archived. Redis away: the limiter
fails open and pings are still archived. The defaults leave a real GitLab instance (one ping
a week, its metadata or error report, three retries) alone but stop a flood.
"""
import json
import time

import pytest

from fault_support import JSON, fleet_payload
from payloads import make_payload
from ping_server.ratelimit import hit
from tests_support import unused_redis_url
from workers.settings import Settings, SettingsError


def clear_of_window_end(seconds: int, margin: float = 3.0) -> None:
    """Fixed windows restart on the clock: start a burst well inside one."""
    while time.time() % seconds > seconds - margin:
        time.sleep(0.1)


def limited(monkeypatch, runner_factory, address=None, uuid=None):
    for name, value in (("ADDRESS", address), ("UUID", uuid)):
        if value is not None:
            monkeypatch.setenv(f"PINGTALLY_RATE_LIMIT_{name}", value)
    return runner_factory()


def post_ping(client, n, address="203.0.113.5", **overrides):
    return client.post("/usage_data", data=json.dumps({**fleet_payload(n), **overrides}),
                       headers=JSON, environ_base={"REMOTE_ADDR": address})


def ping_count(storage) -> int:
    return storage.conn.execute("SELECT count(*) FROM pings").fetchone()[0]


def assert_limited(response, window: int) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= window
    assert "too many requests" in response.json["error"]


def test_per_address_limit_covers_every_ingest_endpoint(monkeypatch, runner_factory, storage):
    app, client, auth = limited(monkeypatch, runner_factory, address="4/minute", uuid="off")
    clear_of_window_end(60)
    assert post_ping(client, 0).status_code == 201
    report = {"error": {"message": "boom", "uuid": "u"}}
    assert client.post("/usage_ping_errors", data=json.dumps(report), headers=JSON,
                       environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 201
    # Counted before the body is read: refused requests count too.
    assert client.post("/usage_data", data="x", headers={"Content-Type": "text/plain"},
                       environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 415
    assert post_ping(client, 1).status_code == 201
    assert_limited(post_ping(client, 2), 60)
    assert_limited(client.post("/usage_ping_metadata", data="{}", headers=JSON,
                               environ_base={"REMOTE_ADDR": "203.0.113.5"}), 60)
    assert post_ping(client, 3, address="198.51.100.7").status_code == 201  # another sender
    assert ping_count(storage) == 3  # the refused ping was not archived
    # The API and pages are not ingest: not limited.
    assert client.get("/api/v1/queues", headers=auth,
                      environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 200


def test_per_uuid_limit_counts_pings_and_reports_of_one_installation(monkeypatch, runner_factory,
                                                                     storage):
    app, client, auth = limited(monkeypatch, runner_factory, address="off", uuid="3/hour")
    clear_of_window_end(3600)
    uuid = fleet_payload(0)["uuid"]
    assert post_ping(client, 0).status_code == 201
    assert post_ping(client, 7, address="198.51.100.7").status_code == 201  # same uuid, elsewhere
    metadata = {"metadata": {"uuid": uuid, "metrics": [{"name": "counts.issues",
                                                        "time_elapsed": 0.5}]}}
    assert client.post("/usage_ping_metadata", data=json.dumps(metadata),
                       headers=JSON).status_code == 201
    assert_limited(post_ping(client, 14), 3600)
    assert post_ping(client, 1).status_code == 201  # another installation
    assert ping_count(storage) == 3


def test_the_window_ends_and_retry_after_says_when(redis_url):
    import redis

    connection = redis.Redis.from_url(redis_url)
    limit = (2, 60)
    start = 1_800_000_000 // 60 * 60  # the first second of a window
    verdicts = [hit(connection, "address", "192.0.2.1", limit, now=start + 10 + i) for i in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert verdicts[2].retry_after == 60 - 12
    assert hit(connection, "address", "192.0.2.1", limit, now=start + 60).allowed  # next window
    assert 0 < connection.ttl(f"pingtally:ratelimit:address:60:{start // 60}:192.0.2.1") <= 61


def test_limiter_fails_open_when_redis_is_down(monkeypatch, runner_factory, storage):
    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    app, client, auth = limited(monkeypatch, runner_factory, address="1/minute", uuid="1/hour")
    statuses = [post_ping(client, n).status_code for n in range(5)]
    assert statuses == [201] * 5
    assert ping_count(storage) == 5  # archived; they wait for requeue-stuck


def test_defaults_leave_a_real_instance_alone_and_stop_a_flood(env, client, storage):
    settings = Settings.from_env()
    assert settings.rate_limit_address == (300, 60) and settings.rate_limit_uuid == (20, 3600)
    # A week of one GitLab instance: the ping, its metadata, a failure report, three retries.
    uuid = make_payload()["uuid"]
    for hour in (0, 8, 16, 24):
        assert client.post("/usage_data", headers=JSON, data=json.dumps(
            make_payload(recorded_at=f"2026-10-0{1 + hour // 24}T{hour % 24:02d}:00:00Z"))
        ).status_code == 201
    assert client.post("/usage_ping_metadata", headers=JSON, data=json.dumps(
        {"metadata": {"uuid": uuid, "metrics": []}})).status_code == 201
    assert client.post("/usage_ping_errors", headers=JSON, data=json.dumps(
        {"error": {"uuid": uuid, "message": "timeout"}})).status_code == 201
    # A flood from one address: refused after 300 a minute, before its bodies are read.
    clear_of_window_end(60)
    statuses = [client.post("/usage_data", data="x", headers={"Content-Type": "text/plain"},
                            environ_base={"REMOTE_ADDR": "192.0.2.66"}).status_code
                for _ in range(320)]
    assert statuses.count(415) == 300 and statuses.count(429) == 20


@pytest.mark.parametrize("value, expected", [
    ("300/minute", (300, 60)), ("20/hour", (20, 3600)), ("5/30", (5, 30)), ("2/day", (2, 86400)),
    ("off", None), ("0", None),
])
def test_limits_are_configured_as_count_per_period(value, expected):
    assert Settings.from_env({"PINGTALLY_RATE_LIMIT_UUID": value}).rate_limit_uuid == expected


@pytest.mark.parametrize("value", ["lots", "0/minute", "10/fortnight", "-1/hour", "¹/minute"])
def test_a_limit_that_makes_no_sense_is_refused_at_start(value):
    with pytest.raises(SettingsError, match="PINGTALLY_RATE_LIMIT_ADDRESS"):
        Settings.from_env({"PINGTALLY_RATE_LIMIT_ADDRESS": value})
