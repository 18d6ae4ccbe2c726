"""The one owner of the SQLite file: connection setup, schema migrations and every SQL statement.

Writers open `BEGIN IMMEDIATE` transactions (see `Storage.write`), so several web and worker
processes can share the file: they queue on the write lock for up to the busy timeout instead
of failing at once with "database is locked".
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from .clauses import month_range
from .exports_sql import ExportsSQL
from .metrics_sql import MetricsSQL
from .ops_sql import OpsSQL
from .rollups_sql import RollupsSQL
from .schema import MIGRATIONS
from .snapshots_sql import SnapshotsSQL


class StorageBusy(RuntimeError):
    """The database stayed locked by another writer for longer than the busy timeout."""


def is_busy_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


@dataclass(frozen=True)
class ArchiveResult:
    ping_id: int
    created: bool


class Storage(MetricsSQL, SnapshotsSQL, RollupsSQL, ExportsSQL, OpsSQL):
    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000, durable: bool = True,
                 cache_mib: int = 16):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            str(path), timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        self.busy_timeout_ms = busy_timeout_ms
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._use_wal()
        # FULL: an acknowledged ping survives power loss, not only a process crash. Connections
        # that only write derived data (workers, rebuild) may use NORMAL: WAL stays consistent,
        # and a transaction lost to power loss leaves its ping queued in the archive, where
        # requeue-stuck finds it again.
        self.durable = durable
        self.conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        # Snapshot writes land all over large indexes: a bigger page cache (16 MiB by default;
        # it is also the bound on how far a worker's memory grows) and memory-mapped reads keep
        # them from going to disk (measured in bench/run.py).
        self.conn.execute(f"PRAGMA cache_size = -{int(cache_mib) * 1024}")
        self.conn.execute("PRAGMA mmap_size = 1073741824")
        self.conn.execute("PRAGMA temp_store = MEMORY")
        self.db = sqlite_utils.Database(self.conn)

    @classmethod
    def open(cls, settings, durable: bool = True, cache_mib: int = 16) -> "Storage":
        storage = cls(settings.database, settings.sqlite_busy_timeout_ms, durable, cache_mib)
        storage.migrate()
        return storage

    def close(self) -> None:
        self.conn.close()

    # -- transactions and schema ---------------------------------------------------------

    @contextmanager
    def write(self):
        """A write transaction that takes the write lock up front (`BEGIN IMMEDIATE`).

        Nested inside another write it becomes a savepoint, so callers can group many writes
        (an import batch) into one transaction.
        """
        if self.conn.in_transaction:
            with self.db.atomic():  # sqlite-utils: a SAVEPOINT inside the open transaction
                yield self.db
            return
        self._begin_immediate()
        try:
            yield self.db
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.forget_caches()  # they may name rows the rollback removed
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self.forget_caches()
                if is_busy_error(exc):
                    raise StorageBusy(str(exc)) from exc
                raise

    def _use_wal(self) -> None:
        """Switch the file to WAL once; several processes may start at the same moment, and
        the switch does not wait on the busy handler, so it is retried until the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy_error(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _begin_immediate(self) -> None:
        """Take the write lock, waiting up to the busy timeout.

        SQLite's own busy handler sleeps in steps growing to 100 ms, so a writer often sleeps
        long after the lock came free; polling every 0.5-5 ms here hands the lock over promptly
        (two workers were slower than one without it, bench/run.py).
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        delay = 0.0005
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not is_busy_error(exc):
                        raise
                    if time.monotonic() >= deadline:
                        raise StorageBusy(str(exc)) from exc
                time.sleep(delay)
                delay = min(delay * 1.5, 0.005)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        """Bring the schema up to date; safe when several processes start at once."""
        if self.schema_version >= len(MIGRATIONS):
            return self.schema_version
        with self.write():
            current = self.schema_version  # re-read under the write lock
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")
        return self.schema_version

    def check_writable(self) -> None:
        """Raise unless a write transaction can be opened now."""
        with self.write():
            pass

    # -- settings --------------------------------------------------------------------------

    def get_or_create_setting(self, key: str, make_value) -> str:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        if row:
            return row[0]
        with self.write():
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                [key, make_value()],
            )
            return self.conn.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()[0]

    # -- the archive -----------------------------------------------------------------------

    def archive_ping(self, *, uuid, hostname, recorded_at, received_at, version, edition,
                     source, body: bytes, payload_bytes: int) -> ArchiveResult:
        """Store a ping once; the same (uuid, hostname, recorded_at) returns the first one's id."""
        key = [uuid, hostname, recorded_at]
        with self.write():
            row = self.conn.execute(
                "SELECT id FROM pings WHERE uuid = ? AND hostname = ? AND recorded_at = ?", key
            ).fetchone()
            if row:
                return ArchiveResult(row[0], created=False)
            cursor = self.conn.execute(
                """INSERT INTO pings (uuid, hostname, recorded_at, received_at, month, version,
                                      edition, source, payload_bytes)
                   VALUES (?, ?, ?, ?, substr(?, 1, 7), ?, ?, ?, ?)""",
                [uuid, hostname, recorded_at, received_at, received_at, version, edition,
                 source, payload_bytes],
            )
            ping_id = cursor.lastrowid
            self.conn.execute("INSERT INTO ping_payloads (ping_id, body) VALUES (?, ?)", [ping_id, body])
            return ArchiveResult(ping_id, created=True)

    def mark_enqueued(self, ping_ids: list[int], at: str, job_id: str) -> None:
        # Not worth a second fsync per ping: if power loss drops this mark, the ping merely
        # looks never-queued, and requeue-stuck queues it again (processing is idempotent).
        if self.durable:
            self.conn.execute("PRAGMA synchronous = NORMAL")
        try:
            with self.write():
                self.conn.executemany(
                    "UPDATE pings SET enqueued_at = ?, job_id = ? WHERE id = ?",
                    [(at, job_id, i) for i in ping_ids]
                )
        finally:
            if self.durable:
                self.conn.execute("PRAGMA synchronous = FULL")

    def ping(self, ping_id: int) -> dict | None:
        cursor = self.conn.execute("SELECT * FROM pings WHERE id = ?", [ping_id])
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row))

    def payload_blob(self, ping_id: int) -> bytes | None:
        row = self.conn.execute("SELECT body FROM ping_payloads WHERE ping_id = ?", [ping_id]).fetchone()
        return row[0] if row else None

    def waiting_pings(self) -> list[tuple[int, str | None]]:
        """(id, RQ job id) of every ping archived and not yet processed or failed, oldest first."""
        return self.conn.execute(
            "SELECT id, job_id FROM pings WHERE status = 'queued' ORDER BY id").fetchall()

    def mark_processed(self, ping_id: int, at: str) -> None:
        """Call inside the write transaction that applied the ping."""
        self.conn.execute(
            "UPDATE pings SET processed_at = CASE WHEN status = 'processed' THEN processed_at "
            "ELSE ? END, attempts = attempts + (status != 'processed'), status = 'processed', "
            "error = NULL WHERE id = ?",
            [at, ping_id],
        )

    def mark_attempt_failed(self, ping_id: int, error: str, at: str, final: bool) -> None:
        with self.write():
            self.conn.execute(
                "UPDATE pings SET attempts = attempts + 1, error = ?, "
                "status = CASE WHEN ? THEN 'failed' ELSE status END, "
                "processed_at = CASE WHEN ? THEN ? ELSE processed_at END "
                "WHERE id = ? AND status != 'processed'",
                [error, final, final, at, ping_id],
            )

    def requeue_failed(self, ping_ids: list[int]) -> None:
        with self.write():
            self.conn.executemany(
                "UPDATE pings SET status = 'queued', enqueued_at = NULL, processed_at = NULL "
                "WHERE id = ? AND status = 'failed'",
                [(i,) for i in ping_ids],
            )

    def ping_ids_by_month(self, first: str | None, last: str | None) -> dict[str, list[int]]:
        """Archived pings of the months in [first, last], month by month, each month's pings
        latest first (receive time, then id)."""
        params: list = []
        sql = "SELECT month, id FROM pings WHERE true" + month_range("month", first, last, params)
        months: dict[str, list[int]] = {}
        for month, ping_id in self.conn.execute(
                sql + " ORDER BY month, received_at DESC, id DESC", params):
            months.setdefault(month, []).append(ping_id)
        return months

    # -- installations ---------------------------------------------------------------------

    def upsert_installation(self, *, uuid, hostname, seen_at, ping_id, version, edition, tier,
                            deployment, installation_type, active_user_count,
                            unique_instance_id) -> None:
        """Record an installation; its descriptive fields follow its latest ping, in any order."""
        self.conn.execute(
            """
            INSERT INTO installations (uuid, hostname, first_seen_at, last_seen_at, last_ping_id,
                version, edition, tier, deployment, installation_type, active_user_count,
                unique_instance_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (uuid, hostname) DO UPDATE SET
                first_seen_at = min(first_seen_at, excluded.first_seen_at),
                last_seen_at = CASE WHEN newer THEN excluded.last_seen_at ELSE last_seen_at END,
                last_ping_id = CASE WHEN newer THEN excluded.last_ping_id ELSE last_ping_id END,
                version = CASE WHEN newer THEN excluded.version ELSE version END,
                edition = CASE WHEN newer THEN excluded.edition ELSE edition END,
                tier = CASE WHEN newer THEN excluded.tier ELSE tier END,
                deployment = CASE WHEN newer THEN excluded.deployment ELSE deployment END,
                installation_type = CASE WHEN newer THEN excluded.installation_type
                                         ELSE installation_type END,
                active_user_count = CASE WHEN newer THEN excluded.active_user_count
                                         ELSE active_user_count END,
                unique_instance_id = CASE WHEN newer THEN excluded.unique_instance_id
                                          ELSE unique_instance_id END
            """.replace(
                "newer",
                "(excluded.last_seen_at, excluded.last_ping_id) >= (last_seen_at, last_ping_id)",
            ),
            [uuid, hostname, seen_at, seen_at, ping_id, version, edition, tier, deployment,
             installation_type, active_user_count, unique_instance_id],
        )

    def installation(self, uuid: str, hostname: str) -> dict | None:
        rows = list(self.db.query(
            "SELECT * FROM installations WHERE uuid = ? AND hostname = ?", [uuid, hostname]
        ))
        return rows[0] if rows else None

    # -- what instances report about themselves --------------------------------------------

    def record_instance_error(self, *, received_at, uuid, unique_instance_id, hostname, version,
                              message, elapsed, reported_time) -> int:
        with self.write():
            return self.conn.execute(
                """INSERT INTO instance_errors (received_at, uuid, unique_instance_id, hostname,
                       version, message, elapsed, reported_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [received_at, uuid, unique_instance_id, hostname, version, message, elapsed,
                 reported_time],
            ).lastrowid

    def record_metadata(self, *, received_at, uuid, unique_instance_id, metrics: list[dict]) -> int:
        with self.write():
            metadata_id = self.conn.execute(
                """INSERT INTO instance_metadata (received_at, uuid, unique_instance_id, metric_count)
                   VALUES (?, ?, ?, ?)""",
                [received_at, uuid, unique_instance_id, len(metrics)],
            ).lastrowid
            self.conn.executemany(
                """INSERT INTO instance_metric_timings (metadata_id, name, time_elapsed, error)
                   VALUES (?, ?, ?, ?)""",
                [(metadata_id, m["name"], m.get("time_elapsed"), m.get("error")) for m in metrics],
            )
            return metadata_id


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3 runs one per execute in a transaction)."""
    statements, current = [], []
    for line in script.splitlines():
        current.append(line)
        candidate = "\n".join(current)
        if sqlite3.complete_statement(candidate):
            statements.append(candidate.strip())
            current = []
    leftover = "\n".join(current).strip()
    if leftover:
        statements.append(leftover)
    return [s for s in statements if s.strip(" ;\n")]
