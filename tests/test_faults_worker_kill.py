"""Workers SIGKILLed in the middle of batch jobs, again and again, while they write.

tests/test_worker_faults.py shows one killed job being released at once by requeue-stuck.
Here the kills land inside real write transactions (batches of 50 imported pings), and the
end state is checked as a whole: every ping processed exactly once, and the rollups equal
those of a clean run. SQLite rolls back the killed transaction; the ping stays queued in the
archive and a new worker (which runs requeue-stuck as it starts) takes it.
"""
import json
import random
import signal
import time

from fault_support import (archive_rows, assert_exactly_once, assert_rollups_equal_a_clean_run,
                           fleet_payload, processed, processed_among)
from ops_support import start_worker, stop, wait_for
from rq import Worker

from workers.settings import Settings

KILLS = 3
PINGS = 600
MONTHS = ("2026-08", "2026-09", "2026-10")


def inside_a_batch(queue, worker_name: str, database) -> bool:
    """The worker runs a job of pings (not the rollup refresh) whose writes are not committed."""
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + worker_name,
                                connection=queue.connection)
    job = (worker.get_current_job_id() or "") if worker else ""
    if not job.startswith("pings-"):
        return False
    first, last = (int(n) for n in job.split("-")[1:3])
    return processed_among(database, first, last) == 0


def test_workers_killed_mid_batch_lose_and_double_nothing(tmp_path, env, monkeypatch, runner,
                                                          queue):
    monkeypatch.setenv("PINGTALLY_JOB_RETRIES", "10")  # a batch may be killed several times
    settings = Settings.from_env()
    lines = [json.dumps({"received_at": f"{MONTHS[n % 3]}-{1 + n % 27:02d}T12:00:{n % 60:02d}Z",
                         "payload": fleet_payload(n, installations=12)}) for n in range(PINGS)]
    source = tmp_path / "fleet.ndjson"
    source.write_text("\n".join(lines))
    result = runner.invoke(args=["import", str(source)])
    assert f"{PINGS} accepted" in result.output, result.output

    rng = random.Random(7)
    outputs = []  # each worker, as it starts, releases the job its killed predecessor held
    for attempt in range(KILLS):
        before = processed(settings.database)
        worker = start_worker(f"killed-{attempt}")
        try:
            wait_for(lambda: processed(settings.database) > before, timeout=30, interval=0.005,
                     what="the worker to get going")
            # Anywhere: inside a batch's reads or its write transaction, or between RQ's
            # dequeue and its start mark (the test below pins that case down); the first
            # kill surely inside a job.
            time.sleep(rng.uniform(0, 0.05))
            if attempt == 0:
                wait_for(lambda: inside_a_batch(queue, "killed-0", settings.database),
                         timeout=10, interval=0.001, what="a batch to be running")
        finally:
            outputs.append(stop(worker, signal.SIGKILL))
    assert processed(settings.database) < PINGS, "the kills came too late to interrupt anything"

    worker = start_worker("survivor")
    try:
        wait_for(lambda: all(r["status"] == "processed" for r in archive_rows(settings.database)),
                 timeout=60, interval=0.2, what="the last worker to process every ping")
    finally:
        outputs.append(stop(worker))
    assert sum("was abandoned by worker killed-" in output for output in outputs) >= 1
    rows = archive_rows(settings.database)
    assert len(rows) == PINGS
    assert any(r["attempts"] > 1 for r in rows)  # the batch killed before its commit
    assert_exactly_once(settings.database, {r["id"] for r in rows})
    assert_rollups_equal_a_clean_run(settings, tmp_path)


def test_a_job_dequeued_by_a_worker_killed_before_it_started_is_requeued(client, queue, runner,
                                                                          run_worker):
    from ops_support import post_ping

    ping_id = post_ping(client)
    # What RQ's dequeue does first (LMOVE to the intermediate list); the worker dies before
    # it marks the job started.
    Queue = type(queue)
    assert Queue.lmove(queue.connection, queue.key, timeout=None) is not None
    assert queue.count == 0 and queue.intermediate_queue.get_job_ids() == [f"ping-{ping_id}"]

    result = runner.invoke(args=["queue", "requeue-stuck"])
    assert "1 re-queued" in result.output
    run_worker()
    assert client.get(f"/api/v1/pings/{ping_id}",
                      headers={"Authorization": "Bearer test-token"}).json["status"] == "processed"
