"""Redis killed, and restarted empty, while pings arrive at a real `pingtally serve` with a
real `pingtally worker` running.

Ingest keeps acknowledging (pings wait in SQLite, the rate limiter fails open), and after
`pingtally queue requeue-stuck` every acknowledged ping is processed exactly once, with the
rollups of a clean run of the same pings.
"""
import json
import subprocess
import threading
import time
from collections import Counter

from fault_support import (JSON, archive_rows, assert_exactly_once,
                           assert_rollups_equal_a_clean_run, fleet_payload, request, served)
from ops_support import PINGTALLY, ROOT, start_worker, stop, wait_for
from redis_server import RedisServer

from workers.settings import Settings

PHASE = 25  # pings acknowledged in each phase: Redis up, Redis down, Redis back empty


class Sender(threading.Thread):
    """Posts the fleet's pings one after another until stopped; keeps every answer."""

    def __init__(self, url: str, pause: float = 0.005):
        super().__init__(daemon=True)
        self.url, self.pause = url, pause
        self.acknowledged: set[int] = set()
        self.statuses: Counter = Counter()
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            status, _, body = request(self.url, "POST", "/usage_data",
                                      json.dumps(fleet_payload(n)).encode(), JSON)
            self.statuses[status] += 1
            if status in (200, 201):
                self.acknowledged.add(body["conv_index"]["usage_data_id"])
            n += 1
            time.sleep(self.pause)

    def wait_for_more(self, count: int, what: str) -> None:
        target = len(self.acknowledged) + count
        wait_for(lambda: len(self.acknowledged) >= target, timeout=30, what=what)


class Supervisor(threading.Thread):
    """Keeps one `pingtally worker` running, as systemd (Restart=always) would: RQ's worker
    quits (with status 0) when Redis vanishes under a job it is running."""

    def __init__(self):
        super().__init__(daemon=True)
        self.workers = [start_worker("supervised-0")]
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(0.2):
            if self.workers[-1].poll() is not None:
                self.workers.append(start_worker(f"supervised-{len(self.workers)}"))

    def stop(self) -> int:
        """Stop the workers; how many times one had to be started again."""
        self.halt.set()
        self.join(timeout=10)
        for worker in self.workers:
            stop(worker)
        return len(self.workers) - 1


def test_redis_killed_and_restarted_empty_while_pings_arrive(tmp_path, env, monkeypatch):
    redis = RedisServer(tmp_path / "redis").start()
    monkeypatch.setenv("PINGTALLY_REDIS_URL", redis.url)
    # The limiter runs (and must fail open) but never refuses this steady sender.
    monkeypatch.setenv("PINGTALLY_RATE_LIMIT_ADDRESS", "100000/minute")
    monkeypatch.setenv("PINGTALLY_RATE_LIMIT_UUID", "100000/minute")
    settings = Settings.from_env()
    supervisor = Supervisor()
    supervisor.start()
    try:
        with served() as web:
            sender = Sender(web.url)
            sender.start()
            try:
                sender.wait_for_more(PHASE, "pings while Redis is up")
                redis.stop()  # SIGKILL: no persistence, the queue is gone
                sender.wait_for_more(PHASE, "pings while Redis is down")
                redis.start()  # back, empty
                sender.wait_for_more(PHASE, "pings after Redis came back")
            finally:
                sender.halt.set()
                sender.join(timeout=30)
        assert set(sender.statuses) == {201}, sender.statuses  # never refused, never a 5xx

        repair = subprocess.run([PINGTALLY, "queue", "requeue-stuck"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert repair.returncode == 0, repair.stderr
        assert "re-queued" in repair.stdout
        wait_for(lambda: all(r["status"] == "processed" for r in archive_rows(settings.database)),
                 timeout=60, interval=0.2, what="the workers to process every ping")
    finally:
        restarts = supervisor.stop()
        redis.stop()
    print(f"{len(sender.acknowledged)} pings acknowledged, {repair.stdout.strip()}, "
          f"worker restarted {restarts} time(s)")
    assert len(sender.acknowledged) >= 3 * PHASE
    assert_exactly_once(settings.database, sender.acknowledged)
    assert_rollups_equal_a_clean_run(settings, tmp_path)
