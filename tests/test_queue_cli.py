"""`pingtally queue status|requeue-failed|requeue-stuck`, and RQ's own `rq info` on our Redis."""
import json
import subprocess
import sys
from pathlib import Path

from ops_support import (corrupt, drain_with_retries, post_ping, restore, start_worker, stop,
                         wait_for, worker_registered)

RQ = str(Path(sys.executable).parent / "rq")


def test_status_prints_queues_lag_and_workers(client, runner, queue):
    for day in (1, 2):
        post_ping(client, recorded_at=f"2026-10-0{day}T00:00:00Z")
    result = runner.invoke(args=["queue", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "Redis: ok"
    header = next(line for line in lines if line.startswith("queue "))
    assert header.split() == ["queue", "queued", "oldest", "started", "failed", "deferred",
                              "scheduled", "finished"]
    row = next(line for line in lines if line.startswith("pings "))
    assert row.split()[1] == "2"
    assert "2 ping(s) waiting in SQLite" in result.output
    assert "no worker registered" in result.output


def test_status_json_matches_the_api(client, auth, runner):
    post_ping(client)
    result = runner.invoke(args=["queue", "status", "--json"])
    assert result.exit_code == 0, result.output
    picture = json.loads(result.output)
    api = client.get("/api/v1/queues", headers=auth).json
    assert picture["pipeline"]["lag"]["waiting"] == api["pipeline"]["lag"]["waiting"] == 1
    assert [q["queued"] for q in picture["queues"]] == [q["queued"] for q in api["queues"]] == [1]


def test_requeue_failed_all_or_by_fingerprint(client, runner, settings, queue, run_worker):
    bad = post_ping(client, recorded_at="2026-10-01T00:00:00Z")
    original = corrupt(settings.database, bad)
    drain_with_retries(queue, run_worker)

    status = runner.invoke(args=["queue", "status"]).output
    assert "1 failed ping(s):" in status
    fingerprint = next(line.split()[0] for line in status.splitlines()
                       if line.rstrip().endswith(str(bad)) and "decompressing" in line)

    assert "no failed ping matches fingerprint ffffffffffff" in runner.invoke(
        args=["queue", "requeue-failed", "--fingerprint", "ffffffffffff"]).output
    restore(settings.database, bad, original)
    result = runner.invoke(args=["queue", "requeue-failed", "--fingerprint", fingerprint])
    assert result.exit_code == 0, result.output
    assert "1 failed ping(s) re-queued, 1 reached Redis" in result.output
    run_worker()
    assert "no failed ping matches" in runner.invoke(args=["queue", "requeue-failed"]).output
    assert "0 failed" in runner.invoke(args=["queue", "status"]).output


def test_rq_info_shows_the_queue_and_a_live_worker(client, queue, redis_url, runner):
    post_ping(client)
    worker = start_worker("rq-info-worker")
    try:
        wait_for(lambda: worker_registered(queue, "rq-info-worker"), what="the worker to register")
        wait_for(lambda: queue.count == 0, what="the worker to drain the queue")
        info = subprocess.run([RQ, "info", "--url", redis_url], capture_output=True, text=True,
                              timeout=30)
        assert info.returncode == 0, info.stderr
        assert "pings" in info.stdout
        assert "rq-info-worker" in info.stdout
        assert "1 workers, 1 queues" in info.stdout
        status = runner.invoke(args=["queue", "status"]).output
        assert "rq-info-worker" in status and "running" in status
    finally:
        stop(worker)


def test_requeue_failed_ping_of_an_import_batch(tmp_path, runner, settings, queue, run_worker):
    from payloads import make_payload

    lines = [json.dumps({"received_at": f"2026-10-0{day}T12:00:00Z",
                         "payload": make_payload(recorded_at=f"2026-10-0{day}T11:00:00Z")})
             for day in (1, 2, 3)]
    source = tmp_path / "pings.ndjson"
    source.write_text("\n".join(lines) + "\n")
    assert "3 accepted" in runner.invoke(args=["import", "--no-queue", str(source)]).output
    original = corrupt(settings.database, 2)
    assert "3 re-queued" in runner.invoke(args=["queue", "requeue-stuck"]).output
    assert queue.count == 1  # one batch job for the three
    drain_with_retries(queue, run_worker)

    status = runner.invoke(args=["queue", "status", "--json"]).output
    picture = json.loads(status)
    assert picture["pipeline"]["pings"] == {"queued": 0, "processed": 2, "failed": 1}
    assert picture["queues"][0]["failed"] == 1  # RQ holds the batch job as failed
    [group] = picture["failures"]["fingerprints"]
    assert group["sample_ping_ids"] == [2]

    restore(settings.database, 2, original)
    result = runner.invoke(args=["queue", "requeue-failed", "--fingerprint", group["fingerprint"]])
    assert "1 failed ping(s) re-queued, 1 reached Redis" in result.output
    assert queue.failed_job_registry.count == 0
    run_worker()
    picture = json.loads(runner.invoke(args=["queue", "status", "--json"]).output)
    assert picture["pipeline"]["pings"] == {"queued": 0, "processed": 3, "failed": 0}
