"""Helpers for the fault, security and load tests: `pingtally serve` as a real process, a
small HTTP client, and the two checks every fault test ends with: each acknowledged ping is
in the archive once and processed, and the rollups equal those of a clean run of the same
pings (same payloads, same receive times) in a fresh database.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ops_support import PINGTALLY, ROOT, wait_for
from payloads import make_payload
from redis_server import free_port

from ping_server.intake import accept_ping
from workers import exports, processing
from workers.payloads import parse_object, unpack_archive
from workers.storage import Storage

JSON = {"Content-Type": "application/json"}
COMPARED = ("smau", "gmau", "paid_gmau", "umau", "cmau", "features")
SMAU_KEY = ("usage_activity_by_stage_monthly", "create", "action_monthly_active_users_project_repo")


class Server:
    """`pingtally serve` (gunicorn) on a free port; its output (access log included) is kept."""

    def __init__(self, env: dict, workers: int = 2, extra_args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [PINGTALLY, "serve", "--port", str(self.port), "--workers", str(workers), *extra_args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._up, timeout=30, interval=0.1, what="pingtally serve to answer")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"pingtally serve exited:\n{self.output()}")
        try:
            return request(self.url, "GET", "/healthz")[0] == 200
        except OSError:
            return False

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.output()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@contextmanager
def served(env: dict | None = None, workers: int = 2):
    server = Server(dict(os.environ if env is None else env), workers)
    try:
        yield server
    finally:
        server.stop()
        server.log.close()


def request(base_url: str, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None, timeout: float = 30, connection=None):
    """(status, headers, parsed JSON or text) of one request; `connection` to keep one alive."""
    conn = connection or http.client.HTTPConnection(base_url.split("//")[1], timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        if connection is None:
            conn.close()
    kind = response.getheader("Content-Type", "")
    parsed = json.loads(data) if kind.startswith("application/json") else data.decode()
    return response.status, dict(response.getheaders()), parsed


def fleet_payload(n: int, installations: int = 7) -> dict:
    """The n-th ping of a small fleet: distinct recorded_at, varying SMAU values."""
    installation = n % installations
    payload = make_payload(
        uuid=f"fault-{installation:03d}", hostname=f"gitlab-{installation}.example.com",
        recorded_at=f"2026-10-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
        edition=("CE", "EE", "EEP", "EEU")[installation % 4])
    section, stage, metric = SMAU_KEY
    payload[section][stage][metric] = (n * 37) % 1000
    payload["counts"]["issues"] = 1000 + n
    return payload


# -- the checks ----------------------------------------------------------------------------

def archive_rows(database) -> list[dict]:
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(
            "SELECT id, uuid, hostname, recorded_at, received_at, status, error, attempts "
            "FROM pings ORDER BY id")]


def processed(database) -> int:
    return processed_among(database, 0, 2**63 - 1)


def processed_among(database, first: int, last: int) -> int:
    """How many pings with ids in [first, last] are processed."""
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM pings WHERE status = 'processed' "
                            "AND id BETWEEN ? AND ?", [first, last]).fetchone()[0]


def assert_exactly_once(database, acknowledged: set[int], failed: set[int] = frozenset()) -> None:
    """Every acknowledged id is in the archive once, nothing else is, and each is processed
    (the `failed` ones: failed with an error)."""
    rows = archive_rows(database)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(acknowledged), (set(ids) ^ set(acknowledged))
    keys = [(r["uuid"], r["hostname"], r["recorded_at"]) for r in rows]
    assert len(keys) == len(set(keys)), "a ping was archived twice"
    wrong = {r["id"]: (r["status"], r["error"]) for r in rows
             if (r["status"] != "failed" or not r["error"]) and r["id"] in failed
             or r["status"] != "processed" and r["id"] not in failed}
    assert wrong == {}


def rollup_rows(storage) -> dict[str, list[dict]]:
    """What the exports would write, for every rollup kind, plus the installations (without
    ping ids, which differ between databases)."""
    found = {kind: list(exports.rows(storage, exports.ExportRequest(kind))) for kind in COMPARED}
    found["installations"] = [{k: v for k, v in row.items() if k != "ping_id"} for row in
                              exports.rows(storage, exports.ExportRequest("installations"))]
    return found


def clean_run(settings, database, directory: Path, exclude=frozenset()) -> dict[str, list[dict]]:
    """The rollups of the archive's pings (less `exclude`) imported afresh, with their receive
    times, into a new database and processed in id order, with nothing going wrong."""
    # No depth cap: pings archived before it existed are replayed too.
    clean = replace(settings, database=directory / "clean-run.db", max_json_depth=10**9)
    with sqlite3.connect(database) as conn:
        pings = conn.execute("SELECT p.id, p.received_at, b.body FROM pings p "
                             "JOIN ping_payloads b ON b.ping_id = p.id ORDER BY p.id").fetchall()
    storage = Storage.open(clean)
    try:
        for ping_id, received_at, blob in pings:
            if ping_id in exclude:
                continue
            payload = parse_object(unpack_archive(blob))
            accepted = accept_ping(storage, None, clean, payload, received_at=received_at,
                                   source="import")
            processing.process_ping(storage, accepted.ping_id, clean)
        return rollup_rows(storage)
    finally:
        storage.close()


def assert_rollups_equal_a_clean_run(settings, directory: Path, exclude=frozenset()) -> dict:
    storage = Storage.open(settings)
    try:
        after_faults = rollup_rows(storage)
    finally:
        storage.close()
    expected = clean_run(settings, settings.database, directory, exclude)
    assert after_faults["smau"], "no SMAU rows: the comparison would prove nothing"
    for kind in expected:
        assert after_faults[kind] == expected[kind], kind
    return after_faults
