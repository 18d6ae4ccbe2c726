"""SQL for month snapshots: the month's last ping per installation and its values (rules 3-6)."""
from __future__ import annotations

from .clauses import month_range

SNAPSHOT_COLUMNS = ("installation_id", "month", "ping_id", "received_at", "version", "version_key",
                    "version_minor", "edition", "tier", "paid", "deployment", "installation_type",
                    "combo_id")
COMBO_COLUMNS = ("tier", "deployment", "edition", "version_minor", "installation_type", "paid")

# Rule 6: an all-time counter's monthly value is its growth since the installation's most recent
# earlier month with a valid value (LAG over the valid rows only); a 28d value is taken as is.
MONTHLY_VALUES_SQL = """
UPDATE snapshot_values AS target INDEXED BY snapshot_values_by_installation
SET monthly_value = calc.monthly_value
FROM (
    SELECT v.month, v.metric_id,
           max(0, v.value - coalesce(lag(v.value) OVER (PARTITION BY v.metric_id ORDER BY v.month), 0))
               AS monthly_value
    FROM snapshot_values v INDEXED BY snapshot_values_by_installation
    JOIN metrics m ON m.id = v.metric_id AND m.time_frame = 'all'
    WHERE v.installation_id = :installation
) AS calc
WHERE target.installation_id = :installation AND target.month = calc.month
  AND target.metric_id = calc.metric_id AND calc.month >= :from_month
  AND target.monthly_value IS NOT calc.monthly_value
"""


class SnapshotsSQL:
    def installation_id(self, uuid: str, hostname: str) -> int | None:
        row = self.conn.execute("SELECT id FROM installations WHERE uuid = ? AND hostname = ?",
                                [uuid, hostname]).fetchone()
        return row[0] if row else None

    def snapshot_key(self, installation_id: int, month: str) -> tuple[str, int] | None:
        """(received_at, ping_id) of the ping that currently stands for this month."""
        row = self.conn.execute(
            "SELECT received_at, ping_id FROM snapshots WHERE installation_id = ? AND month = ?",
            [installation_id, month]).fetchone()
        return tuple(row) if row else None

    def replace_snapshot(self, snapshot: dict, values: dict, failures: dict,
                         monthly_values: dict | None = None) -> None:
        """Make this ping the month's snapshot (call inside a write transaction).

        `monthly_values` (metric id -> monthly value) may be given when the caller has already
        applied rule 6; values without one are stored as their own monthly value.
        """
        inst, month = snapshot["installation_id"], snapshot["month"]
        combo = snapshot["combo_id"] = self.combo_id(snapshot)
        monthly_values = monthly_values or {}
        self.conn.execute(
            f"INSERT OR REPLACE INTO snapshots ({', '.join(SNAPSHOT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in SNAPSHOT_COLUMNS)})",
            [snapshot[c] for c in SNAPSHOT_COLUMNS])
        self.conn.execute("DELETE FROM snapshot_values INDEXED BY snapshot_values_by_installation "
                          "WHERE installation_id = ? AND month = ?", [inst, month])
        self.conn.execute("DELETE FROM snapshot_failures INDEXED BY snapshot_failures_by_installation "
                          "WHERE installation_id = ? AND month = ?", [inst, month])
        self.conn.executemany(
            "INSERT INTO snapshot_values (month, metric_id, combo_id, monthly_value, installation_id, "
            "value) VALUES (?, ?, ?, ?, ?, ?)",
            [(month, metric_id, combo, monthly_values.get(metric_id, value), inst, value)
             for metric_id, value in values.items()])
        self.conn.executemany(
            "INSERT INTO snapshot_failures (month, metric_id, installation_id, combo_id, code) "
            "VALUES (?, ?, ?, ?, ?)",
            [(month, metric_id, inst, combo, code) for metric_id, code in failures.items()])

    def combo_id(self, snapshot: dict) -> int:
        """Id of the snapshot's combination of breakdown attributes (created on first use)."""
        key = tuple(snapshot[c] if snapshot[c] is not None else "unknown" for c in COMBO_COLUMNS)
        cache = self.__dict__.setdefault("_combos", {})
        if key not in cache:
            self.conn.execute(
                f"INSERT INTO combos ({', '.join(COMBO_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING", key)
            cache[key] = self.conn.execute(
                f"SELECT id FROM combos WHERE {' AND '.join(c + ' = ?' for c in COMBO_COLUMNS)}",
                key).fetchone()[0]
        return cache[key]

    def snapshot_months_of(self, installation_id: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT month FROM snapshots WHERE installation_id = ? ORDER BY month", [installation_id])]

    def values_in_month(self, installation_id: int, month: str) -> dict[int, float]:
        return dict(self.conn.execute(
            "SELECT metric_id, value FROM snapshot_values INDEXED BY snapshot_values_by_installation "
            "WHERE installation_id = ? AND month = ?",
            [installation_id, month]))

    def latest_values_before(self, installation_id: int, month: str, metric_ids) -> dict[int, float]:
        """For each metric, its value in the installation's most recent month before `month`
        that has a valid one."""
        found: dict[int, float] = {}
        wanted = set(metric_ids)
        for metric_id, value in self.conn.execute(
                "SELECT metric_id, value FROM snapshot_values INDEXED BY snapshot_values_by_installation "
                "WHERE installation_id = ? AND month < ? "
                "ORDER BY month DESC", [installation_id, month]):
            if metric_id in wanted and metric_id not in found:
                found[metric_id] = value
                if len(found) == len(wanted):
                    break
        return found

    def recompute_monthly_values(self, installation_id: int, from_month: str) -> None:
        self.conn.execute(MONTHLY_VALUES_SQL, {"installation": installation_id, "from_month": from_month})

    def widen_version_ranges(self, metric_ids, version_key: str) -> bool:
        """Rule 11 bookkeeping; True when some metric's first..last version range grew.

        A per-process cache remembers, per version, the metrics already known to cover it, so the
        usual ping (same version as before, same metrics) costs one set operation.
        """
        covered = self.__dict__.setdefault("_covered", {}).setdefault(version_key, set())
        todo = [m for m in set(metric_ids) - covered]
        if not todo:
            return False
        before = self.conn.total_changes
        self.conn.executemany(
            "INSERT INTO metric_version_ranges (metric_id, min_version_key, max_version_key) "
            "VALUES (?, ?, ?) ON CONFLICT (metric_id) DO UPDATE SET "
            "min_version_key = min(min_version_key, excluded.min_version_key), "
            "max_version_key = max(max_version_key, excluded.max_version_key) "
            "WHERE excluded.min_version_key < min_version_key "
            "OR excluded.max_version_key > max_version_key",
            [(m, version_key, version_key) for m in todo])
        covered.update(todo)
        return self.conn.total_changes != before

    def clear_derived(self, first: str | None, last: str | None) -> None:
        """Delete snapshots (and, for a full range, installations and version ranges)."""
        full = first is None and last is None
        params: list = []
        where = " WHERE true" + month_range("month", first, last, params)
        with self.write():
            for table in ("snapshot_values", "snapshot_failures", "snapshots"):
                self.conn.execute(f"DELETE FROM {table}{where}", params)
            if full:
                self.conn.execute("DELETE FROM metric_version_ranges")
                self.conn.execute("DELETE FROM installations")
                self.conn.execute("DELETE FROM dirty_months")
        self.forget_caches()

    def forget_caches(self) -> None:
        """Drop per-process caches (after a rollback, or when derived data was cleared)."""
        self.__dict__.pop("_covered", None)
        self.__dict__.pop("_combos", None)

    def mark_dirty(self, months) -> None:
        self.conn.executemany(
            "INSERT INTO dirty_months (month, mark) VALUES (?, 1) "
            "ON CONFLICT (month) DO UPDATE SET mark = mark + 1",
            [(m,) for m in sorted(set(months))])

    def mark_all_months_dirty(self) -> None:
        self.conn.execute(
            "INSERT INTO dirty_months (month, mark) SELECT DISTINCT month, 1 FROM snapshots WHERE true "
            "ON CONFLICT (month) DO UPDATE SET mark = mark + 1")

    def dirty_months(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT month, mark FROM dirty_months ORDER BY month"))

    def set_ping_counts(self, ping_id: int, leaves: int, unknown_keys: int, failures: int) -> None:
        self.conn.execute("UPDATE pings SET leaves = ?, unknown_keys = ?, failures = ? WHERE id = ?",
                          [leaves, unknown_keys, failures, ping_id])
