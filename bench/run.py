"""pingtally benchmarks: each measured side by side with a floor doing the same storage work.

    .venv/bin/python bench/run.py            # the standard run (about 4 minutes on 2 cores)
    .venv/bin/python bench/run.py --full     # adds the 10,000-installation rebuild
    .venv/bin/python bench/run.py --only e2e,http

Prints one table and a final summary line. Needs `redis-server` on the PATH (a private one is
started on a free port). Everything runs in a temporary directory.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_fleet import bench_specs, write_dictionary, write_pings  # noqa: E402
from redis_server import RedisServer, free_port  # noqa: E402

PINGTALLY = str(Path(sys.executable).with_name("pingtally"))
RESULTS: list[dict] = []
NEWLINE = b"\n"


def record(name, value, unit, floor=None, target=None, met=None, note=""):
    ratio = value / floor if floor else None
    RESULTS.append({"name": name, "value": value, "unit": unit, "floor": floor, "ratio": ratio,
                    "target": target, "met": met, "note": note})
    shown = f"{value:,.2f} {unit}" + (f" (floor {floor:,.2f}, x{ratio:.2f})" if floor else "")
    print(f"  {name}: {shown} {note}", file=sys.stderr, flush=True)


class Env:
    """A temporary database, dictionary and private Redis for one benchmark."""

    def __init__(self, base: Path, name: str, redis: RedisServer, dictionary: Path):
        self.dir = base / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.vars = dict(os.environ, PINGTALLY_DATABASE=str(self.dir / "pingtally.db"),
                         PINGTALLY_REDIS_URL=redis.url.replace("/0", f"/{abs(hash(name)) % 15 + 1}"),
                         PINGTALLY_METRICS_DIRS=str(dictionary), PINGTALLY_API_TOKEN="bench",
                         # the load comes from one loopback address: measure ingest, not the limiter
                         PINGTALLY_RATE_LIMIT_ADDRESS="off", PINGTALLY_RATE_LIMIT_UUID="off")
        import redis as redis_lib
        redis_lib.Redis.from_url(self.vars["PINGTALLY_REDIS_URL"]).flushdb()

    def run(self, *args, stdin=None) -> float:
        started = time.perf_counter()
        subprocess.run([PINGTALLY, *args], env=self.vars, check=True, stdin=stdin,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started

    def popen(self, *args):
        return subprocess.Popen([PINGTALLY, *args], env=self.vars, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    @property
    def database(self) -> Path:
        return Path(self.vars["PINGTALLY_DATABASE"])


# -- the floor: the same storage work with nothing else ------------------------------------

def numeric_leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from numeric_leaves(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}{key}", value


def floor_store(lines: list[bytes], database: Path) -> float:
    """Parse, walk every numeric leaf, insert the rows with executemany in one transaction per
    ping, keep the compressed raw body."""
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, body BLOB)")
    conn.execute("CREATE TABLE leaf (ping_id INTEGER, key_path TEXT, value NUMERIC)")
    started = time.perf_counter()
    for line in lines:
        payload = json.loads(line)["payload"]
        conn.execute("BEGIN")
        ping_id = conn.execute("INSERT INTO raw (body) VALUES (?)",
                               [zlib.compress(json.dumps(payload).encode(), 6)]).lastrowid
        conn.executemany("INSERT INTO leaf VALUES (?, ?, ?)",
                         [(ping_id, k, v) for k, v in numeric_leaves(payload)])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


# -- 1. end to end ---------------------------------------------------------------------------

def bench_end_to_end(base, redis, dictionary, specs):
    pings_file = base / "e2e.ndjson"
    count = write_pings(pings_file, specs, installations=120, months=2)  # ~8 weekly pings each
    lines = pings_file.read_bytes().splitlines()
    floor = floor_store(lines, base / "floor.db")

    one = Env(base, "e2e-one", redis, dictionary)
    one.run("dictionary", "load")
    t_import = one.run("import", str(pings_file))
    t_work = one.run("worker", "--burst", "--quiet")
    total = t_import + t_work
    record("end-to-end import+worker (1 worker)", count / total, "pings/s", floor=count / floor,
           target="<= 2.5x floor time", met=total / floor <= 2.5,
           note=f"{count} pings, ~{len(lines[0]) // 1000} KB, {total:.1f}s vs floor {floor:.1f}s")
    RESULTS[-1]["ratio"] = total / floor
    size = one.database.stat().st_size + _wal_size(one.database)
    record("database bytes per ping (2,000 counters)", size / count / 1000, "KB",
           target="<= 25 KB", met=size / count <= 25_000)

    two = Env(base, "e2e-two", redis, dictionary)
    two.run("dictionary", "load")
    two.run("import", str(pings_file))
    started = time.perf_counter()
    workers = [two.popen("worker", "--burst", "--quiet") for _ in range(2)]
    for w in workers:
        w.wait()
    t_two = time.perf_counter() - started
    record("worker drain, 2 workers vs 1", count / t_two, "pings/s", floor=count / t_work,
           target="2 workers faster", met=t_two < t_work,
           note=f"{t_two:.1f}s vs {t_work:.1f}s")
    return one


def _wal_size(database: Path) -> int:
    wal = Path(str(database) + "-wal")
    return wal.stat().st_size if wal.exists() else 0


# -- 2. HTTP ingest -----------------------------------------------------------------------------

def bench_http(base, redis, dictionary, specs, seconds=10.0, clients=8):
    env = Env(base, "http", redis, dictionary)
    env.run("dictionary", "load")
    port = free_port()
    server = env.popen("serve", "--port", str(port), "--workers", "2")
    try:
        _wait_for_port(port)
        template = json.loads(_one_payload(base, specs))
        bodies = []
        for i in range(400):
            template["recorded_at"] = f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}.000Z"
            template["uuid"] = f"bench-{i}"
            bodies.append(json.dumps(template).encode())
        # The cost of one POST on its own: sequential requests on one keep-alive connection.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sequential = []
        for n in range(200):
            body = _unique(bodies, 10**8 + n)
            started = time.perf_counter()
            conn.request("POST", "/usage_data", body, {"Content-Type": "application/json"})
            conn.getresponse().read()
            sequential.append(time.perf_counter() - started)
        conn.close()
        record(f"one POST /usage_data, {len(bodies[0]) // 1000} KB, sequential", 
               statistics.median(sequential) * 1000, "ms", note="median of 200")
        latencies, errors = [], []
        stop = time.perf_counter() + seconds
        counter = iter(range(10**9))

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while time.perf_counter() < stop:
                n = next(counter)
                body = bodies[n % len(bodies)] if n < len(bodies) else _unique(bodies, n)
                started = time.perf_counter()
                conn.request("POST", "/usage_data", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                latencies.append(time.perf_counter() - started)
                if response.status not in (200, 201):
                    errors.append(response.status)
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    floor = _floor_ingest(bodies[:200], base / "ingest-floor.db")
    rate = len(latencies) / elapsed
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    record(f"HTTP ingest, {clients} clients, {len(bodies[0]) // 1000} KB", rate, "pings/s",
           floor=floor, target=">= 300/s, no errors", met=rate >= 300 and not errors,
           note=f"{len(latencies):,} requests, {len(errors)} errors")
    record("HTTP ingest p50 latency", p50, "ms")
    record("HTTP ingest p99 latency", p99, "ms", target="< 50 ms", met=p99 < 50)


def _unique(bodies, n):
    body = bodies[n % len(bodies)]
    return body.replace(b'"uuid": "bench-', f'"uuid": "b{n}-'.encode(), 1)


def _one_payload(base, specs) -> bytes:
    path = base / "one.ndjson"
    write_pings(path, specs, installations=1, months=1, weeks=1)
    return json.dumps(json.loads(path.read_bytes().splitlines()[0])["payload"]).encode()


def _floor_ingest(bodies, database: Path) -> float:
    """Parse each body and archive it durably (FULL sync), nothing else: pings/s."""
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, uuid TEXT, body BLOB)")
    started = time.perf_counter()
    for body in bodies:
        payload = json.loads(body)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw (uuid, body) VALUES (?, ?)", [payload["uuid"], zlib.compress(body, 1)])
        conn.execute("COMMIT")
    return len(bodies) / (time.perf_counter() - started)


def _wait_for_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/login")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


# -- 3. rollup refresh and rebuild ---------------------------------------------------------------

def bench_refresh(base, dictionary, installations=10_000):
    """One month's refresh with `installations` x 300 rollup metrics (snapshots written directly:
    this measures the refresh, not the ingest)."""
    from workers import catalog, rollups
    from workers.settings import Settings
    from workers.storage import Storage

    settings = Settings(database=base / "refresh.db", metrics_dirs=(dictionary,))
    storage = Storage.open(settings, durable=False)
    catalog.ensure_loaded(storage, settings)
    ids = [r[0] for r in storage.conn.execute(
        "SELECT id FROM metrics WHERE time_frame IN ('28d', 'all')")]
    rng = random.Random(3)
    versions = ["00016.00011.00002", "00017.00002.00000", "00017.00005.00000", "00018.00002.00000"]
    months = ["2026-08", "2026-09", "2026-10"]
    with storage.write():
        storage.conn.execute("INSERT INTO pings (id, uuid, hostname, recorded_at, received_at, month, "
                             "source, payload_bytes) VALUES (1, 'b', 'b', 'b', 'b', 'b', 'import', 0)")
        storage.conn.executemany(
            "INSERT INTO installations (id, uuid, hostname, first_seen_at, last_seen_at, last_ping_id, "
            "tier, deployment) VALUES (?, ?, 'h', '', '', 1, 'free', 'self-managed')",
            [(i, f"u{i}") for i in range(1, installations + 1)])
        storage.conn.executemany("INSERT INTO metric_version_ranges VALUES (?, ?, ?)",
                                 [(m, versions[0], versions[-1]) for m in ids])
        for month in months:
            for i in range(1, installations + 1):
                tier = rng.choice(["free", "free", "starter", "premium", "ultimate"])
                version = rng.choice(versions)
                snapshot = {"installation_id": i, "month": month, "ping_id": 1, "received_at": month,
                            "version": version, "version_key": version, "version_minor": version[:11],
                            "edition": "EEP", "tier": tier, "paid": int(tier != "free"),
                            "deployment": rng.choice(["self-managed", "dedicated"]),
                            "installation_type": "omnibus-gitlab"}
                if month != months[-1]:  # earlier months only need to exist for the active window
                    snapshot["combo_id"] = storage.combo_id(snapshot)
                    storage.conn.execute("INSERT INTO snapshots VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                         list(snapshot.values()))
                    continue
                values = {m: int(rng.expovariate(1 / 50)) for m in ids if rng.random() < 0.97}
                failures = {m: "-1" for m in ids if m not in values}
                storage.replace_snapshot(snapshot, values, failures)
    started = time.perf_counter()
    rows = rollups.refresh_month(storage, months[-1])
    elapsed = time.perf_counter() - started
    record(f"rollup refresh, 1 month, {installations:,} installations x {len(ids)} metrics",
           elapsed, "s", target="< 2 s", met=elapsed < 2, note=f"{rows:,} rollup rows")
    storage.close()


def bench_rebuild(base, redis, small_dictionary, small_specs, sizes):
    """Full rebuild of 12 months of monthly pings; time per ping should not grow with size."""
    per_ping = {}
    for installations in sizes:
        env = Env(base, f"rebuild-{installations}", redis, small_dictionary)
        env.run("dictionary", "load")
        pings_file = env.dir / "pings.ndjson"
        count = write_pings(pings_file, small_specs, installations=installations, months=12,
                            weeks=None, monthly=True)
        env.run("import", "--no-queue", str(pings_file))
        elapsed = env.run("rebuild")
        per_ping[installations] = elapsed / count
        record(f"rebuild 12 months, {installations:,} installations", elapsed, "s",
               note=f"{count:,} pings, {elapsed / count * 1000:.2f} ms/ping")
        if installations == sizes[0]:
            bench_exports(env, redis)
    first, last = sizes[0], sizes[-1]
    growth = per_ping[last] / per_ping[first]
    record(f"rebuild time per ping, {last:,} vs {first:,} installations", growth, "x",
           target="<= 1.2 (linear)", met=growth <= 1.2)


# -- 4. exports ----------------------------------------------------------------------------------

def bench_exports(env, redis):
    """24 months of SMAU and features over HTTP (the 12 rebuilt months, copied 12 months back)."""
    conn = sqlite3.connect(env.database)
    conn.execute(
        "INSERT INTO rollups SELECT printf('%04d-%s', CAST(substr(month, 1, 4) AS INTEGER) - 1, "
        "substr(month, 6, 2)), metric_id, scope, dimension, dim_value, reporting_installations, "
        "active_installations, using_installations, failing_installations, total, median FROM rollups")
    conn.commit()
    months = conn.execute("SELECT count(DISTINCT month) FROM rollups").fetchone()[0]
    conn.close()
    port = free_port()
    server = env.popen("serve", "--port", str(port), "--workers", "2")
    try:
        _wait_for_port(port)
        for kind in ("smau", "features"):
            timings = []
            for _ in range(15):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                started = time.perf_counter()
                conn.request("GET", f"/api/v1/rollups/{kind}?format=csv",
                             headers={"Authorization": "Bearer bench"})
                response = conn.getresponse()
                body = response.read()
                timings.append(time.perf_counter() - started)
                conn.close()
            median = statistics.median(timings) * 1000
            record(f"export {kind}, {months} months, over HTTP", median, "ms",
                   target="< 100 ms", met=median < 100,
                   note=f"{body.count(NEWLINE) - 1:,} rows, median of 15")
    finally:
        server.terminate()
        server.wait()


# -- 5. worker memory ---------------------------------------------------------------------------

def bench_memory(base, redis, small_dictionary, small_specs, pings=10_000):
    env = Env(base, "memory", redis, small_dictionary)
    env.run("dictionary", "load")
    pings_file = env.dir / "pings.ndjson"
    count = write_pings(pings_file, small_specs, installations=pings // 52 + 1, months=12)
    env.run("import", str(pings_file))
    worker = env.popen("worker", "--burst", "--quiet")
    samples = []
    conn = sqlite3.connect(env.database)
    while worker.poll() is None:
        done = conn.execute("SELECT count(*) FROM pings WHERE status = 'processed'").fetchone()[0]
        samples.append((done, _rss_kb(worker.pid)))
        time.sleep(0.5)
    conn.close()
    samples = [(d, r) for d, r in samples if r]
    curve = {share: max([r for d, r in samples if d <= count * share] or [0]) / 1024
             for share in (0.25, 0.5, 0.75, 1.0)}
    growth = curve[1.0] - curve[0.5]
    record(f"worker memory growth over {count:,} pings (2nd half)", growth, "MB",
           target="no growth (< 5 MB)", met=growth < 5,
           note="anonymous RSS at 25/50/75/100%: " + " / ".join(f"{v:.0f}" for v in curve.values()) + " MB")


def _rss_kb(pid) -> int | None:
    """Anonymous resident memory (heap, SQLite's page cache); file pages mapped from the
    database by mmap are the OS page cache, not the worker's memory, and are left out."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# -- main -----------------------------------------------------------------------------------

def print_table():
    print(f"{'benchmark':58} {'pingtally':>16} {'floor':>12} {'ratio':>7}  {'target':18} met")
    for r in RESULTS:
        value = f"{r['value']:,.2f} {r['unit']}"
        floor = f"{r['floor']:,.2f}" if r["floor"] else ""
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else ""
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        print(f"{r['name'][:58]:58} {value:>16} {floor:>12} {ratio:>7}  {(r['target'] or ''):18} {met}")
        if r["note"]:
            print(f"{'':60}{r['note']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also rebuild 10,000 installations")
    parser.add_argument("--only", default="e2e,http,refresh,rebuild,memory")
    args = parser.parse_args()
    only = set(args.only.split(","))
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="pingtally-bench-"))
    redis = RedisServer(base / "redis").start()
    try:
        specs = bench_specs(2000)
        dictionary = write_dictionary(base / "dictionary", specs, rolled_up_limit=300)
        small_specs = bench_specs(300)
        small_dictionary = write_dictionary(base / "small-dictionary", small_specs)
        if "e2e" in only:
            print("end to end...", file=sys.stderr)
            bench_end_to_end(base, redis, dictionary, specs)
        if "http" in only:
            print("HTTP ingest...", file=sys.stderr)
            bench_http(base, redis, dictionary, bench_specs(2700))  # ~100 KB payloads
        if "refresh" in only:
            print("rollup refresh...", file=sys.stderr)
            bench_refresh(base, dictionary)
        if "rebuild" in only:
            print("rebuild and exports...", file=sys.stderr)
            bench_rebuild(base, redis, small_dictionary, small_specs,
                          [1000, 2000, 10_000] if args.full else [1000, 2000])
        if "memory" in only:
            print("worker memory...", file=sys.stderr)
            bench_memory(base, redis, small_dictionary, small_specs)
    finally:
        redis.stop()
        shutil.rmtree(base, ignore_errors=True)
    print_table()
    met = [r for r in RESULTS if r["met"] is not None]
    print(f"\n{sum(r['met'] for r in met)}/{len(met)} targets met in {time.perf_counter() - started:.0f} s "
          f"on {os.cpu_count()} cores (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version})")


if __name__ == "__main__":
    main()
