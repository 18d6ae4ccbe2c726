"""GET /api/v1/pings/<id> and the worker job that moves a ping from queued to processed."""
import json

from payloads import make_payload
from workers import processing


def post(client, payload):
    return client.post("/usage_data", data=json.dumps(payload),
                       headers={"Content-Type": "application/json"})


def test_api_needs_the_token(client):
    ping_id = post(client, make_payload()).json["conv_index"]["usage_data_id"]
    response = client.get(f"/api/v1/pings/{ping_id}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["error"]
    wrong = client.get(f"/api/v1/pings/{ping_id}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_receipt_moves_from_queued_to_processed(client, auth, run_worker):
    ping_id = post(client, make_payload()).json["conv_index"]["usage_data_id"]
    receipt = client.get(f"/api/v1/pings/{ping_id}", headers=auth).json
    assert receipt["status"] == "queued"
    assert receipt["processed_at"] is None
    assert receipt["received_at"].endswith("Z")

    run_worker()

    receipt = client.get(f"/api/v1/pings/{ping_id}", headers=auth).json
    assert receipt["status"] == "processed"
    assert receipt["processed_at"] >= receipt["received_at"]
    assert receipt["error"] is None


def test_unknown_ping_is_404(client, auth):
    response = client.get("/api/v1/pings/999", headers=auth)
    assert response.status_code == 404
    assert "999" in response.json["error"]


def test_worker_records_the_installation(client, run_worker, storage):
    post(client, make_payload(edition="EEU", active_user_count=42, gitlab_dedicated=True))
    run_worker()
    row = storage.installation(make_payload()["uuid"], make_payload()["hostname"])
    assert row["tier"] == "ultimate"
    assert row["deployment"] == "dedicated"
    assert row["active_user_count"] == 42
    assert row["version"] == "16.11.2-ee"


def test_installation_follows_its_latest_ping_in_any_order(storage, settings):
    from ping_server.intake import accept_ping

    later = accept_ping(storage, None, settings, make_payload(version="17.0.0", recorded_at="2026-10-14T00:00:00Z"),
                        received_at="2026-10-14T00:00:00.000000Z")
    earlier = accept_ping(storage, None, settings, make_payload(version="16.0.0"),
                          received_at="2026-10-07T00:00:00.000000Z")
    processing.process_ping(storage, later.ping_id, settings)
    processing.process_ping(storage, earlier.ping_id, settings)
    row = storage.installation(make_payload()["uuid"], make_payload()["hostname"])
    assert row["version"] == "17.0.0"
    assert row["first_seen_at"] == "2026-10-07T00:00:00.000000Z"
    assert row["last_seen_at"] == "2026-10-14T00:00:00.000000Z"


def test_processing_twice_changes_nothing(storage, settings):
    from ping_server.intake import accept_ping

    ping_id = accept_ping(storage, None, settings, make_payload()).ping_id
    processing.process_ping(storage, ping_id, settings)
    before = storage.ping(ping_id), storage.installation(make_payload()["uuid"], make_payload()["hostname"])
    assert processing.process_ping(storage, ping_id, settings) == "already processed"
    after = storage.ping(ping_id), storage.installation(make_payload()["uuid"], make_payload()["hostname"])
    assert before == after


def test_a_failing_job_records_the_error_in_the_receipt(client, auth, storage, run_worker, settings):
    ping_id = post(client, make_payload()).json["conv_index"]["usage_data_id"]
    storage.conn.execute("UPDATE ping_payloads SET body = x'00' WHERE ping_id = ?", [ping_id])
    run_worker()
    receipt = client.get(f"/api/v1/pings/{ping_id}", headers=auth).json
    assert receipt["error"].startswith("zlib.error:")  # the corrupt archive entry
    assert receipt["status"] == "queued"  # retries are scheduled, not yet exhausted


def test_an_archived_body_that_cannot_be_parsed_fails_at_once(client, auth, storage, run_worker):
    import zlib

    ping_id = post(client, make_payload()).json["conv_index"]["usage_data_id"]
    storage.conn.execute("UPDATE ping_payloads SET body = ? WHERE ping_id = ?",
                         [zlib.compress(b"{not json"), ping_id])
    run_worker()
    receipt = client.get(f"/api/v1/pings/{ping_id}", headers=auth).json
    assert receipt["status"] == "failed"  # no retries: waiting would not make it parse
    assert receipt["attempts"] == 1
    assert receipt["error"].startswith("workers.payloads.PayloadError")
