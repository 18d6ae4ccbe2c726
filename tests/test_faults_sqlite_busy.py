"""SQLite busy: another process holds the write lock (a long write transaction) while pings
arrive at a real `pingtally serve`.

Ingest waits up to PINGTALLY_SQLITE_BUSY_MS, then answers 503 with Retry-After and a JSON
error, never 500, and archives nothing; the sender's retry after the lock is gone is accepted
once. Reads (receipts) keep working meanwhile: WAL readers do not wait for the writer.
"""
import json
import time

from fault_support import (JSON, assert_exactly_once, assert_rollups_equal_a_clean_run,
                           fleet_payload, request, served)
from ops_support import write_lock

from workers.settings import Settings

BUSY_MS = 300


def test_ingest_waits_for_the_busy_timeout_then_answers_503_with_retry_after(
        tmp_path, env, monkeypatch, auth, run_worker):
    monkeypatch.setenv("PINGTALLY_SQLITE_BUSY_MS", str(BUSY_MS))
    settings = Settings.from_env()
    acknowledged = set()
    with served() as web:
        def post(n):
            return request(web.url, "POST", "/usage_data", json.dumps(fleet_payload(n)).encode(),
                           JSON)

        for n in range(3):
            status, _, body = post(n)
            assert status == 201
            acknowledged.add(body["conv_index"]["usage_data_id"])

        with write_lock(settings.database):
            started = time.monotonic()
            status, headers, body = post(3)
            waited = time.monotonic() - started
            refused = [request(web.url, "POST", path, json.dumps(report).encode(), JSON)
                       for path, report in (
                           ("/usage_ping_errors", {"error": {"message": "timeout", "uuid": "u"}}),
                           ("/usage_ping_metadata", {"metadata": {"uuid": "u", "metrics": []}}))]
            receipt = request(web.url, "GET", f"/api/v1/pings/{min(acknowledged)}", headers=auth)
            ready = request(web.url, "GET", "/readyz")

        assert status == 503, body
        assert BUSY_MS / 1000 <= waited < 5, waited
        assert int(headers["Retry-After"]) >= 1
        assert body == {"error": "database busy, try again shortly"}
        for other_status, other_headers, other_body in refused:
            assert (other_status, "Retry-After" in other_headers) == (503, True), other_body
            assert isinstance(other_body["error"], str)
        assert receipt[0] == 200 and receipt[2]["status"] == "queued"
        assert ready[0] == 503 and ready[2]["failed"] == ["sqlite"]

        status, _, body = post(3)  # the sender tries again once the lock is gone
        assert status == 201  # not a duplicate: nothing was archived while busy
        acknowledged.add(body["conv_index"]["usage_data_id"])
        assert "Traceback" not in web.output()

    print(f"busy: 503 after {waited:.2f} s (busy timeout {BUSY_MS} ms), "
          f"Retry-After {headers['Retry-After']}")
    run_worker()
    assert_exactly_once(settings.database, acknowledged)
    assert_rollups_equal_a_clean_run(settings, tmp_path)
