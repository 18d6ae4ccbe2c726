"""POST /usage_data: GitLab's wire protocol, validation, duplicates, archive and queue."""
import gzip
import json

import pytest
from rq.job import Job

from payloads import make_payload, padded_payload
from workers.payloads import parse_object, unpack_archive


def post(client, payload, headers=None, **kwargs):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post("/usage_data", data=body,
                       headers={"Content-Type": "application/json", **(headers or {})}, **kwargs)


def test_accepts_a_ping_with_201_and_a_usage_data_id(client, storage):
    response = post(client, make_payload())
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    ping_id = response.json["conv_index"]["usage_data_id"]
    assert isinstance(ping_id, int) and ping_id > 0
    assert storage.ping(ping_id)["uuid"] == make_payload()["uuid"]


def test_the_archive_keeps_the_raw_body_byte_for_byte(client, storage):
    body = json.dumps(make_payload(), indent=1).encode()
    ping_id = post(client, body).json["conv_index"]["usage_data_id"]
    assert unpack_archive(storage.payload_blob(ping_id)) == body


def test_big_integers_stay_exact(client, storage):
    ping_id = post(client, make_payload()).json["conv_index"]["usage_data_id"]
    archived = parse_object(unpack_archive(storage.payload_blob(ping_id)))
    assert archived["database"]["pg_system_id"] == 6842684531675334351


def test_enqueues_a_tiny_job_carrying_only_the_id(client, queue):
    ping_id = post(client, make_payload()).json["conv_index"]["usage_data_id"]
    job = Job.fetch(f"ping-{ping_id}", connection=queue.connection)
    assert job.args == (ping_id,)
    assert job.retries_left == 3
    assert job.failure_ttl > 0
    assert queue.count == 1


def test_duplicate_returns_200_and_the_first_id(client, storage, queue):
    first = post(client, make_payload())
    again = post(client, make_payload(counts={"issues": 1}))
    assert again.status_code == 200
    assert again.json == first.json
    assert storage.conn.execute("SELECT count(*) FROM pings").fetchone()[0] == 1
    assert queue.count == 1


def test_same_instant_in_z_form_is_the_same_ping(client):
    first = post(client, make_payload(recorded_at="2026-10-07T10:00:00+00:00"))
    again = post(client, make_payload(recorded_at="2026-10-07T10:00:00Z"))
    assert again.status_code == 200
    assert again.json == first.json


def test_same_uuid_on_another_hostname_is_a_new_ping(client):
    first = post(client, make_payload())
    other = post(client, make_payload(hostname="other.example.com"))
    assert other.status_code == 201
    assert other.json != first.json


def test_gzip_body_is_accepted(client, storage):
    body = gzip.compress(json.dumps(make_payload()).encode())
    response = post(client, body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 201
    ping_id = response.json["conv_index"]["usage_data_id"]
    assert parse_object(unpack_archive(storage.payload_blob(ping_id)))["uuid"] == make_payload()["uuid"]


def test_gzip_bomb_is_refused_with_413(client, storage, monkeypatch):
    # 64 MiB of zeros inside a valid JSON string compresses to ~64 KiB; the cap is 16 MiB.
    bomb = gzip.compress(b'{"uuid": "' + b"0" * (64 * 1024 * 1024) + b'"}', 9)
    assert len(bomb) < 200_000
    response = post(client, bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "exceeds" in response.json["error"]
    assert storage.conn.execute("SELECT count(*) FROM pings").fetchone()[0] == 0


def test_body_over_the_cap_is_refused_with_413(env, monkeypatch):
    from ping_server import create_app
    from workers.settings import Settings

    monkeypatch.setenv("PINGTALLY_MAX_PAYLOAD_BYTES", "50000")
    client = create_app(Settings.from_env()).test_client()
    response = post(client, padded_payload(60_000))
    assert response.status_code == 413
    assert response.json["error"]
    assert post(client, padded_payload(10_000)).status_code == 201


def test_corrupt_gzip_is_400(client):
    response = post(client, b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json["error"]


def test_wrong_content_type_is_415(client):
    response = client.post("/usage_data", data=json.dumps(make_payload()),
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in response.json["error"]


def test_unknown_content_encoding_is_415(client):
    response = post(client, json.dumps(make_payload()), headers={"Content-Encoding": "br"})
    assert response.status_code == 415


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json", b"", b'{"a": NaN}',
                                  b"\xff\xfe{}", b"[" * 100_000])
def test_body_that_is_not_a_json_object_is_400(client, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json["error"]


@pytest.mark.parametrize("field, value", [
    ("uuid", ""), ("uuid", "   "), ("uuid", None), ("uuid", 12),
    ("recorded_at", "yesterday"), ("recorded_at", None), ("version", 16),
    ("hostname", ["a"]), ("edition", "Enterprise"), ("active_user_count", -1),
    ("active_user_count", "12"), ("active_user_count", True),
])
def test_bad_envelope_field_is_422_naming_the_field(client, storage, field, value):
    response = post(client, make_payload(**{field: value}))
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert storage.conn.execute("SELECT count(*) FROM pings").fetchone()[0] == 0


def test_missing_fields_are_all_named(client):
    response = post(client, {"counts": {}})
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"uuid", "hostname", "version", "recorded_at"}


def test_get_is_405_in_json(client):
    response = client.get("/usage_data")
    assert response.status_code == 405
    assert response.json["error"]


def test_ping_is_acknowledged_when_redis_is_down(env, tmp_path, monkeypatch):
    from ping_server import create_app
    from tests_support import unused_redis_url
    from workers.settings import Settings

    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    client = create_app(Settings.from_env()).test_client()
    response = post(client, make_payload())
    assert response.status_code == 201
