"""Redis is a work queue, not a store: pings acknowledged while it is down are processed later."""
import json

import redis

from payloads import make_payload
from redis_server import RedisServer


def test_ping_acknowledged_while_redis_is_stopped_is_processed_after_it_returns(
        tmp_path, env, monkeypatch, runner_factory):
    server = RedisServer(tmp_path / "redis-outage")
    monkeypatch.setenv("PINGTALLY_REDIS_URL", server.url)
    app, client, auth = runner_factory()

    response = client.post("/usage_data", data=json.dumps(make_payload()),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 201  # Redis is not even running yet
    ping_id = response.json["conv_index"]["usage_data_id"]
    receipt = client.get(f"/api/v1/pings/{ping_id}", headers=auth).json
    assert receipt["status"] == "queued" and receipt["in_redis"] is False

    server.start()
    try:
        result = app.test_cli_runner().invoke(args=["worker", "--burst", "--quiet"])
        assert result.exit_code == 0, result.output
        assert "re-queued 1" in result.output
        assert client.get(f"/api/v1/pings/{ping_id}", headers=auth).json["status"] == "processed"
    finally:
        server.stop()


def test_redis_restarted_empty_loses_nothing(tmp_path, env, monkeypatch, runner_factory):
    server = RedisServer(tmp_path / "redis-restart").start()
    monkeypatch.setenv("PINGTALLY_REDIS_URL", server.url)
    app, client, auth = runner_factory()
    try:
        ids = []
        for day in range(1, 4):
            payload = make_payload(recorded_at=f"2026-10-0{day}T00:00:00Z")
            ids.append(client.post("/usage_data", data=json.dumps(payload),
                                   headers={"Content-Type": "application/json"}
                                   ).json["conv_index"]["usage_data_id"])
        assert redis.Redis.from_url(server.url).llen("rq:queue:pings") == 3
        server.stop()
        server.start()  # comes back with nothing (no persistence)
        assert redis.Redis.from_url(server.url).llen("rq:queue:pings") == 0

        result = app.test_cli_runner().invoke(args=["queue", "requeue-stuck"])
        assert "3 re-queued" in result.output
        result = app.test_cli_runner().invoke(args=["worker", "--burst", "--quiet"])
        assert result.exit_code == 0, result.output
        statuses = {client.get(f"/api/v1/pings/{i}", headers=auth).json["status"] for i in ids}
        assert statuses == {"processed"}
    finally:
        server.stop()
