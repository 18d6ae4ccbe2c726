"""A bounded load test: concurrent clients on loopback against `pingtally serve` (gunicorn,
2 processes) with a real `pingtally worker` running, then a drain.

Reports pings/s held, latency percentiles and errors, and checks that every acknowledged ping
is processed exactly once after the drain. Slow (about 90 s): run it with

    scripts/test -m slow -k load -s                # 16 clients, 60 s
    PINGTALLY_LOAD_CLIENTS=32 PINGTALLY_LOAD_SECONDS=30 scripts/test -m slow -k load -s

The figures in docs/reliability.md come from this test on the project's 2-core machine.
"""
import http.client
import json
import os
import statistics
import threading
import time
from collections import Counter

import pytest

from fault_support import JSON, assert_exactly_once, processed, served
from ops_support import start_worker, stop, wait_for
from payloads import padded_payload

from workers.settings import Settings

pytestmark = pytest.mark.slow

CLIENTS = int(os.environ.get("PINGTALLY_LOAD_CLIENTS", "16"))
SECONDS = float(os.environ.get("PINGTALLY_LOAD_SECONDS", "60"))
INSTALLATIONS = 2000


def test_bounded_load_then_drain(env, monkeypatch):
    # The limiter runs on every request (its cost is measured) but never refuses.
    monkeypatch.setenv("PINGTALLY_RATE_LIMIT_ADDRESS", "10000000/minute")
    monkeypatch.setenv("PINGTALLY_RATE_LIMIT_UUID", "10000000/minute")
    settings = Settings.from_env()
    template = json.dumps(padded_payload(30_000))  # about 2,000 counters, like a real ping
    acknowledged: set[int] = set()
    latencies: list[float] = []
    finished_at: list[float] = []
    statuses: Counter = Counter()
    counter = iter(range(10**9))
    lock = threading.Lock()

    with served() as web:
        worker = start_worker("under-load")
        deadline = time.monotonic() + SECONDS

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=60)
            while time.monotonic() < deadline:
                n = next(counter)
                body = (template.replace('"uuid": "0f1f2f3f', f'"uuid": "load-{n % INSTALLATIONS}', 1)
                        .replace("2026-10-07T10:00:00.000", f"2026-10-07T{n // 3600 % 24:02d}:"
                                 f"{n // 60 % 60:02d}:{n % 60:02d}.{n // 86400:03d}", 1))
                started = time.monotonic()
                try:
                    conn.request("POST", "/usage_data", body.encode(), JSON)
                    response = conn.getresponse()
                    data = response.read()
                    status = response.status
                except OSError as exc:
                    status, data = type(exc).__name__, b""
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=60)
                ended = time.monotonic()
                with lock:
                    statuses[status] += 1
                    latencies.append(ended - started)
                    finished_at.append(ended)
                    if status in (200, 201):
                        acknowledged.add(json.loads(data)["conv_index"]["usage_data_id"])
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        backlog = len(acknowledged) - processed(settings.database)
        drain_started = time.monotonic()
        try:
            wait_for(lambda: processed(settings.database) >= len(acknowledged), timeout=600,
                     interval=0.5, what="the worker to drain the backlog")
            drain = time.monotonic() - drain_started
        finally:
            stop(worker)

    latencies.sort()
    per_second = Counter(int(t - began) for t in finished_at)
    steady = [per_second[s] for s in range(1, int(elapsed) - 1)] or [len(latencies)]
    figures = {
        "clients": CLIENTS, "seconds": round(elapsed, 1), "requests": len(latencies),
        "acknowledged": len(acknowledged), "errors": len(latencies) - statuses[201],
        "statuses": dict(statuses),
        "pings_per_second": round(len(latencies) / elapsed, 1),
        "slowest_second": min(steady), "median_second": statistics.median(steady),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "backlog_at_end": backlog, "drain_seconds": round(drain, 1),
    }
    print("LOAD", json.dumps(figures))
    assert figures["errors"] == 0, statuses
    assert len(acknowledged) == statuses[201]  # every acknowledgement a new ping
    assert_exactly_once(settings.database, acknowledged)
