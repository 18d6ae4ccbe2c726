"""GET /metrics: Prometheus text read from SQLite and Redis at scrape time."""
import json
import os
import signal
import subprocess
import urllib.request

from ops_support import PINGTALLY, ROOT, post_ping, wait_for
from prometheus_client.parser import text_string_to_metric_families
from redis_server import free_port
from tests_support import unused_redis_url
from workers.installations import format_timestamp, utc_now


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} for every sample."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels):
    return found[(name, frozenset(labels.items()))]


def scrape(client, auth) -> dict:
    response = client.get("/metrics", headers=auth)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


def test_metrics_need_the_token(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json["error"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_metrics_follow_the_pipeline(client, auth, run_worker):
    post_ping(client, recorded_at="2026-10-01T00:00:00Z")
    post_ping(client, recorded_at="2026-10-02T00:00:00Z", counts={"issues": -1})

    before = scrape(client, auth)
    assert value(before, "pingtally_pings_received_total") == 2
    assert value(before, "pingtally_pings", status="queued") == 2
    assert value(before, "pingtally_pings", status="processed") == 0
    assert value(before, "pingtally_pings_waiting") == 2
    assert value(before, "pingtally_pings_never_enqueued") == 0
    assert value(before, "pingtally_queue_jobs", queue="pings", state="queued") == 2
    assert value(before, "pingtally_queue_oldest_job_age_seconds", queue="pings") >= 0
    assert value(before, "pingtally_redis_up") == 1
    assert value(before, "pingtally_ping_processing_seconds_count") == 0

    run_worker()

    after = scrape(client, auth)
    assert value(after, "pingtally_pings", status="processed") == 2
    assert value(after, "pingtally_pings_processed_total") == 2
    assert value(after, "pingtally_pings_waiting") == 0
    assert value(after, "pingtally_queue_jobs", queue="pings", state="queued") == 0
    assert value(after, "pingtally_queue_oldest_job_age_seconds", queue="pings") == 0
    assert value(after, "pingtally_ping_processing_seconds_count") == 2
    assert value(after, "pingtally_ping_processing_seconds_bucket", le="+Inf") == 2
    assert value(after, "pingtally_ping_processing_seconds_bucket", le="3600.0") == 2
    assert value(after, "pingtally_ping_processing_seconds_sum") >= 0
    month = format_timestamp(utc_now())[:7]
    assert value(after, "pingtally_metric_failures", month=month, code="-1") == 1  # counts.issues
    assert value(after, "pingtally_installations") == 1
    assert value(after, "pingtally_rollup_dirty_months") == 0
    assert value(after, "pingtally_rollup_last_refresh_age_seconds") < 60
    assert value(after, "pingtally_workers", state="busy") == 0


def test_metrics_still_answer_when_redis_is_down(env, monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    app, client, auth = runner_factory()
    post_ping(client)
    found = scrape(client, auth)
    assert value(found, "pingtally_redis_up") == 0
    assert value(found, "pingtally_pings_never_enqueued") == 1
    assert not any(name == "pingtally_queue_jobs" for name, _ in found)


def test_histogram_folds_settled_history_once_and_matches_a_full_count(client, auth, storage,
                                                                       run_worker):
    from datetime import timedelta

    from ping_server.metrics import settled_latency

    for day in (1, 2, 3):
        post_ping(client, recorded_at=f"2026-10-0{day}T00:00:00Z")
    run_worker()
    hour_ago = format_timestamp(utc_now() - timedelta(hours=1))
    with storage.write():  # two of them processed an hour ago, 90 s after their hand-off
        storage.conn.execute(
            "UPDATE pings SET enqueued_at = ?, processed_at = strftime('%Y-%m-%dT%H:%M:%fZ', ?, "
            "'+90 seconds') WHERE id <= 2", [hour_ago, hour_ago])

    first = scrape(client, auth)
    assert settled_latency._count == 2  # the settled hour-old pings, folded in
    assert value(first, "pingtally_ping_processing_seconds_count") == 3
    assert value(first, "pingtally_ping_processing_seconds_bucket", le="60.0") == 1
    assert value(first, "pingtally_ping_processing_seconds_bucket", le="300.0") == 3

    post_ping(client, recorded_at="2026-10-04T00:00:00Z")
    run_worker()
    second = scrape(client, auth)
    counts, total, count = storage.processing_latency()  # everything, recomputed
    assert value(second, "pingtally_ping_processing_seconds_count") == count == 4
    assert value(second, "pingtally_ping_processing_seconds_bucket", le="60.0") == counts[9] == 2
    assert abs(value(second, "pingtally_ping_processing_seconds_sum") - total) < 1e-6


def _request(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def test_every_gunicorn_process_gives_the_same_answer(env):
    """`pingtally serve` runs several processes; a scrape may land on any of them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([PINGTALLY, "serve", "--port", str(port), "--workers", "3"], cwd=ROOT,
                              env=dict(os.environ), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def up():
            try:
                return _request(f"{base}/healthz")
            except OSError:
                return None

        wait_for(up, timeout=20, what="gunicorn to answer")
        for day in range(1, 7):
            payload = {"uuid": f"u-{day}", "hostname": "h", "version": "16.11.0",
                       "recorded_at": f"2026-10-0{day}T00:00:00Z", "edition": "CE"}
            _request(f"{base}/usage_data", json.dumps(payload).encode(),
                     {"Content-Type": "application/json"})
        auth = {"Authorization": f"Bearer {env['PINGTALLY_API_TOKEN']}"}
        seen = set()
        for _ in range(12):
            found = samples(_request(f"{base}/metrics", headers=auth))
            seen.add((value(found, "pingtally_pings_received_total"),
                      value(found, "pingtally_queue_jobs", queue="pings", state="queued"),
                      value(found, "pingtally_pings_waiting")))
        assert seen == {(6, 6, 6)}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
