"""Helpers for the operator-surface tests: real worker processes, failing pings, polling."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from rq import Worker
from rq.job import Job

from payloads import make_payload
from workers import queue as rq_queue

ROOT = Path(__file__).resolve().parent.parent
PINGTALLY = str(Path(sys.executable).parent / "pingtally")
CORRUPT_BODY = b"\x00"


def worker_registered(queue, name: str) -> bool:
    return any(w.name == name for w in Worker.all(connection=queue.connection))


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def post_ping(client, **overrides) -> int:
    response = client.post("/usage_data", data=json.dumps(make_payload(**overrides)),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.json
    return response.json["conv_index"]["usage_data_id"]


def corrupt(database, ping_id: int) -> bytes:
    """Replace a ping's archived body with garbage; return the original, to put it back."""
    with sqlite3.connect(database) as conn:
        [original] = conn.execute("SELECT body FROM ping_payloads WHERE ping_id = ?",
                                  [ping_id]).fetchone()
        conn.execute("UPDATE ping_payloads SET body = ? WHERE ping_id = ?", [CORRUPT_BODY, ping_id])
    return original


def restore(database, ping_id: int, body: bytes) -> None:
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE ping_payloads SET body = ? WHERE ping_id = ?", [body, ping_id])


def drain_with_retries(queue, run_worker, rounds: int = 6) -> None:
    """Run the worker until no retry is pending, moving scheduled retries onto the queue at
    once instead of waiting out RQ's retry intervals (10 s, 1 min, 5 min)."""
    registry = queue.scheduled_job_registry
    for _ in range(rounds):
        run_worker()
        scheduled = registry.get_job_ids(cleanup=False)
        if not scheduled:
            return
        for job_id in scheduled:
            registry.requeue(job_id)
    raise AssertionError("retries still pending")


def job_status(queue, ping_id: int):
    return Job.fetch(rq_queue.job_id(ping_id), connection=queue.connection).get_status(refresh=True)


@contextmanager
def write_lock(database):
    """Hold SQLite's write lock (BEGIN IMMEDIATE) from outside, so a worker's job blocks."""
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def start_worker(name: str, *args: str, env_overrides: dict | None = None) -> subprocess.Popen:
    """`pingtally worker` as a real process (in a session of its own, with the test's
    PINGTALLY_* environment); its output goes to a temporary file, read back by `stop`."""
    env = {**os.environ, **(env_overrides or {})}
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([PINGTALLY, "worker", "--name", name, "--quiet", *args], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log = log
    return process


def stop(process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10) -> str:
    """Send `sig` to the worker, wait for it, then end what it started (RQ's scheduler runs in a
    child process that outlives a SIGKILLed parent)."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    process.log.seek(0)
    output = process.log.read().decode(errors="replace")
    process.log.close()
    return output
