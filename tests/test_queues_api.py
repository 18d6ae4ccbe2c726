"""GET /api/v1/queues and the requeue actions, against real Redis and real RQ workers."""
import pytest
import redis

from ops_support import (corrupt, drain_with_retries, post_ping, restore, start_worker, stop,
                         wait_for, worker_registered)
from tests_support import unused_redis_url
from workers import operations

ENDPOINTS = [
    ("get", "/api/v1/queues"),
    ("get", "/api/v1/installations/missing"),
    ("get", "/api/v1/instance-errors"),
    ("get", "/api/v1/metric-timings"),
    ("post", "/api/v1/queues/requeue-failed"),
    ("post", "/api/v1/queues/requeue-stuck"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_operator_api_needs_the_token(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert "token" in response.json["error"]
    wrong = getattr(client, method)(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def pings_queue(picture):
    return next(q for q in picture["queues"] if q["name"] == "pings")


def test_waiting_pings_show_as_queue_depth_and_lag_until_a_worker_drains_them(
        client, auth, run_worker):
    ids = [post_ping(client, recorded_at=f"2026-10-0{day}T00:00:00Z") for day in (1, 2, 3)]

    picture = client.get("/api/v1/queues", headers=auth).json
    queue = pings_queue(picture)
    assert picture["redis"]["ok"] is True
    assert queue["queued"] == 3
    assert queue["oldest_queued_job"] == f"ping-{ids[0]}"
    assert queue["oldest_queued_age_seconds"] >= 0
    lag = picture["pipeline"]["lag"]
    assert lag["waiting"] == 3 and lag["never_enqueued"] == 0
    assert lag["oldest_waiting_age_seconds"] is not None
    assert picture["pipeline"]["throughput"]["processed_last_5m"] == 0

    run_worker()

    picture = client.get("/api/v1/queues", headers=auth).json
    queue = pings_queue(picture)
    assert queue["queued"] == 0 and queue["oldest_queued_age_seconds"] is None
    assert queue["finished"] >= 3
    assert picture["pipeline"]["lag"]["waiting"] == 0
    assert picture["pipeline"]["throughput"]["processed_last_5m"] == 3
    assert picture["pipeline"]["throughput"]["processed_last_60m"] == 3
    assert picture["pipeline"]["pings"] == {"queued": 0, "processed": 3, "failed": 0}


def test_ping_that_never_reached_redis_is_reported_and_redis_outage_is_named(
        env, monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    app, client, auth = runner_factory()
    post_ping(client)

    response = client.get("/api/v1/queues", headers=auth)
    assert response.status_code == 200
    picture = response.json
    assert picture["redis"]["ok"] is False and "Connection" in picture["redis"]["error"]
    assert picture["queues"] == [] and picture["workers"] == []
    assert picture["pipeline"]["lag"]["never_enqueued"] == 1


def test_failing_jobs_are_grouped_by_fingerprint_and_requeued_by_fingerprint(
        client, auth, settings, queue, run_worker):
    bad = [post_ping(client, recorded_at=f"2026-10-0{day}T00:00:00Z") for day in (1, 2)]
    good = post_ping(client, recorded_at="2026-10-03T00:00:00Z")
    originals = {ping_id: corrupt(settings.database, ping_id) for ping_id in bad}

    run_worker()  # first attempt fails: the pings wait for a retry
    lag = client.get("/api/v1/queues", headers=auth).json["pipeline"]["lag"]
    assert lag["retrying"] == 2 and lag["waiting"] == 2
    drain_with_retries(queue, run_worker)

    picture = client.get("/api/v1/queues", headers=auth).json
    assert picture["pipeline"]["pings"] == {"queued": 0, "processed": 1, "failed": 2}
    assert pings_queue(picture)["failed"] == 2  # RQ's failed registry agrees
    [group] = picture["failures"]["fingerprints"]
    assert group["count"] == 2
    assert sorted(group["sample_ping_ids"]) == sorted(bad)
    assert group["exception"]  # e.g. "error" (zlib) or "PayloadError"
    assert good not in group["sample_ping_ids"]

    unknown = client.post("/api/v1/queues/requeue-failed", json={"fingerprint": "0" * 12},
                          headers=auth)
    assert unknown.json == {"fingerprint": "0" * 12, "matched": 0, "requeued": 0, "enqueued": 0}

    for ping_id, body in originals.items():
        restore(settings.database, ping_id, body)
    response = client.post("/api/v1/queues/requeue-failed",
                           json={"fingerprint": group["fingerprint"]}, headers=auth)
    assert response.status_code == 200
    assert response.json["requeued"] == 2 and response.json["enqueued"] == 2

    picture = client.get("/api/v1/queues", headers=auth).json
    assert pings_queue(picture)["queued"] == 1  # requeued pings go back as one batch job
    assert pings_queue(picture)["failed"] == 0  # the old failed jobs left RQ's failed registry
    assert picture["failures"]["failed_pings"] == 0

    run_worker()
    picture = client.get("/api/v1/queues", headers=auth).json
    assert picture["pipeline"]["pings"] == {"queued": 0, "processed": 3, "failed": 0}
    assert client.get(f"/api/v1/pings/{bad[0]}", headers=auth).json["status"] == "processed"


def test_requeue_failed_rejects_a_body_that_is_not_an_object(client, auth):
    response = client.post("/api/v1/queues/requeue-failed", data="[1]", headers={
        **auth, "Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON object" in response.json["error"]


def test_requeue_stuck_action_puts_back_what_redis_lost(client, auth, redis_url, run_worker):
    ping_id = post_ping(client)
    redis.Redis.from_url(redis_url).flushall()

    response = client.post("/api/v1/queues/requeue-stuck", headers=auth)
    assert response.status_code == 200
    assert response.json == {"waiting": 1, "requeued": 1, "failed": 0}
    run_worker()
    assert client.get(f"/api/v1/pings/{ping_id}", headers=auth).json["status"] == "processed"


def test_live_worker_is_listed_with_state_heartbeat_and_counts(client, auth, queue):
    worker = start_worker("ops-api-worker")
    try:
        wait_for(lambda: worker_registered(queue, "ops-api-worker"), what="the worker to register")
        ping_id = post_ping(client)
        wait_for(lambda: client.get(f"/api/v1/pings/{ping_id}", headers=auth).json["status"]
                 == "processed", what="the worker to process the ping")

        def listed():
            workers = client.get("/api/v1/queues", headers=auth).json["workers"]
            row = next((w for w in workers if w["name"] == "ops-api-worker"), None)
            return row if row and row["successful_jobs"] >= 1 else None

        row = wait_for(listed, what="the success count")
        assert row["state"] in ("idle", "busy")
        assert row["alive"] is True
        assert row["queues"] == ["pings"]
        assert row["last_heartbeat"] and row["heartbeat_age_seconds"] < 60
        assert row["failed_jobs"] == 0
        assert row["pid"] == worker.pid
    finally:
        stop(worker)
    assert not worker_registered(queue, "ops-api-worker")


@pytest.mark.parametrize("message,normalised", [
    ("ping 123 is not in the archive", "ping <n> is not in the archive"),
    ("Error -3 while decompressing data: incorrect header check",
     "Error <n> while decompressing data: incorrect header check"),
    ("KeyError 'counts_monthly'", "KeyError <str>"),
    ("unable to open /var/lib/pingtally/db-7.sqlite", "unable to open <path>"),
    ("uuid 0f1f2f3f-0000-4000-8000-000000000001 at 2026-10-01T12:00:00.5Z",
     "uuid <id> at <time>"),
    ("POST https://gitlab.example.com/api?x=1 took 12.5 s", "POST <url> took <n> s"),
    ("object at 0x7f3a2c", "object at <hex>"),
    ("utf8 codec", "utf8 codec"),
])
def test_messages_are_normalised_before_fingerprinting(message, normalised):
    assert operations.normalise_message(message) == normalised


def test_fingerprint_ignores_what_varies_but_not_the_exception_type():
    a = operations.error_fingerprint("PingNotFound: ping 12 is not in the archive")
    b = operations.error_fingerprint("PingNotFound: ping 9071 is not in the archive")
    c = operations.error_fingerprint("LookupError: ping 12 is not in the archive")
    assert a == b != c
    groups = operations.group_failures([(1, "E: x 1", None), (2, "E: x 2", "t2"), (3, "F: y", "t1")])
    assert [(g.count, g.sample_ping_ids, g.last_failed_at) for g in groups] == [
        (2, [1, 2], "t2"), (1, [3], "t1")]
