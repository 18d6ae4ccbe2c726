"""A worker killed mid-job: requeue-stuck recovers its ping at once, not after RQ's TTL.

The job is made slow by holding SQLite's write lock from the test, so the worker blocks
inside the job (its busy timeout is raised so it waits instead of failing).
"""
import signal

from ops_support import job_status, post_ping, start_worker, stop, wait_for, write_lock
from rq import Worker
from rq.job import JobStatus

SLOW = {"PINGTALLY_SQLITE_BUSY_MS": "60000"}


def worker_names(queue):
    return {w.name for w in Worker.all(connection=queue.connection)}


def test_ping_of_a_worker_killed_mid_job_is_recovered_by_requeue_stuck(
        client, auth, settings, queue, runner, run_worker):
    ping_id = post_ping(client)
    with write_lock(settings.database):
        worker = start_worker("doomed-worker", env_overrides=SLOW)
        try:
            wait_for(lambda: job_status(queue, ping_id) == JobStatus.STARTED, what="the job to start")
        finally:
            stop(worker, signal.SIGKILL)

    # What RQ alone sees: a started job and a registered worker, for job timeout + 60 s.
    assert job_status(queue, ping_id) == JobStatus.STARTED
    assert "doomed-worker" in worker_names(queue)
    assert queue.started_job_registry.get_job_count(cleanup=True) == 1  # not expired yet
    [row] = [w for w in client.get("/api/v1/queues", headers=auth).json["workers"]
             if w["name"] == "doomed-worker"]
    assert row["alive"] is False and row["current_job"] == f"ping-{ping_id}"
    assert client.get(f"/api/v1/pings/{ping_id}", headers=auth).json["status"] == "queued"

    result = runner.invoke(args=["queue", "requeue-stuck"])
    assert result.exit_code == 0, result.output
    assert "1 ping(s) waiting, 1 re-queued" in result.output
    assert job_status(queue, ping_id) == JobStatus.QUEUED
    assert queue.started_job_registry.get_job_count(cleanup=False) == 0
    assert "doomed-worker" not in worker_names(queue)

    run_worker()  # a new worker processes it
    assert client.get(f"/api/v1/pings/{ping_id}", headers=auth).json["status"] == "processed"
    assert queue.failed_job_registry.count == 0


def test_job_of_a_live_busy_worker_is_left_alone(client, auth, settings, queue, runner):
    ping_id = post_ping(client)
    worker = start_worker("busy-worker", env_overrides=SLOW)
    try:
        with write_lock(settings.database):
            wait_for(lambda: job_status(queue, ping_id) == JobStatus.STARTED, what="the job to start")
            result = runner.invoke(args=["queue", "requeue-stuck"])
            assert "1 ping(s) waiting, 0 re-queued" in result.output
            assert job_status(queue, ping_id) == JobStatus.STARTED
            assert queue.count == 0
        wait_for(lambda: client.get(f"/api/v1/pings/{ping_id}", headers=auth).json["status"]
                 == "processed", what="the live worker to finish")
    finally:
        stop(worker)
    assert job_status(queue, ping_id) == JobStatus.FINISHED


def test_started_job_whose_worker_key_is_gone_counts_as_stuck(
        client, settings, queue, runner, run_worker):
    """Another host's worker cannot be checked by pid: an expired worker key is the signal."""
    ping_id = post_ping(client)
    with write_lock(settings.database):
        worker = start_worker("remote-worker", env_overrides=SLOW)
        try:
            wait_for(lambda: job_status(queue, ping_id) == JobStatus.STARTED, what="the job to start")
        finally:
            stop(worker, signal.SIGKILL)
    queue.connection.delete("rq:worker:remote-worker")  # what the key's TTL does eventually

    result = runner.invoke(args=["queue", "requeue-stuck"])
    assert "1 re-queued" in result.output
    run_worker()
    assert job_status(queue, ping_id) == JobStatus.FINISHED


def test_a_ping_that_kills_its_worker_every_time_ends_up_failed(
        client, auth, settings, queue, runner, monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_JOB_RETRIES", "1")
    app, client, auth = runner_factory()
    ping_id = post_ping(client)
    outputs = []
    for attempt in range(2):
        with write_lock(settings.database):
            worker = start_worker(f"doomed-{attempt}", env_overrides=SLOW)
            try:
                wait_for(lambda: queue.started_job_registry.get_job_count(cleanup=False) == 1,
                         what="the job to start")
            finally:
                stop(worker, signal.SIGKILL)
        outputs.append(app.test_cli_runner().invoke(args=["queue", "requeue-stuck"]).output)
    assert "1 re-queued" in outputs[0]
    assert "1 ping(s) marked failed" in outputs[1]
    receipt = client.get(f"/api/v1/pings/{ping_id}", headers=auth).json
    assert receipt["status"] == "failed"
    assert receipt["error"].startswith("WorkerDied")
    assert receipt["attempts"] == 2
