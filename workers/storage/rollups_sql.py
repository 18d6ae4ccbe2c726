"""SQL for monthly rollups (rules 9-12): computing them and reading them back.

One month's rollups come from a handful of ordered scans (values grouped by metric and
attribute combination, failures, the active window); the breakdowns are then folded from the
combinations in Python. Medians are exact for whole-fleet rows (scope 'all', no breakdown),
read by offset from the value-ordered primary key; breakdown rows leave the median empty,
since a median cannot be assembled from the medians of parts.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from contextlib import contextmanager

# breakdown name -> position in a combo row (tier, deployment, edition, version_minor,
# installation_type, paid)
DIMENSIONS = {"tier": 0, "deployment": 1, "edition": 2, "version": 3, "installation_type": 4}
ROLLED_UP = "('28d', 'all')"

ROLLUP_COLUMNS = ("month", "metric_id", "scope", "dimension", "dim_value",
                  "reporting_installations", "active_installations", "using_installations",
                  "failing_installations", "total", "median")

# Rule 11: installations with a snapshot in the month or the 2 before it, each counted once
# with its latest snapshot in that window.
_ACTIVE_SQL = """
SELECT s.combo_id, s.version_key, count(*)
FROM snapshots s
JOIN (SELECT installation_id, max(month) AS month FROM snapshots
      WHERE month BETWEEN :first_month AND :month GROUP BY installation_id) latest
  USING (installation_id, month)
GROUP BY s.combo_id, s.version_key
"""

_VALUES_SQL = """
SELECT metric_id, combo_id, count(*), sum(monthly_value > 0), sum(monthly_value)
FROM snapshot_values WHERE month = :month
GROUP BY metric_id, combo_id
"""

_FAILURES_SQL = """
SELECT metric_id, combo_id, count(*) FROM snapshot_failures WHERE month = :month
GROUP BY metric_id, combo_id
"""

# Rule 12: the median over the installations using the feature (monthly value > 0).
_MEDIAN_SQL = """
SELECT avg(monthly_value) FROM (
    SELECT monthly_value FROM snapshot_values
    WHERE month = :month AND metric_id = :metric AND monthly_value > 0
    ORDER BY monthly_value LIMIT 2 - (:n % 2) OFFSET (:n - 1) / 2
)
"""


class RollupsSQL:
    @contextmanager
    def read_snapshot(self):
        """A read transaction: every query inside sees the same state of the database."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("ROLLBACK")

    def compute_rollups(self, month: str, first_month: str) -> list[tuple]:
        """Every rollup row of one month (call inside read_snapshot)."""
        if not self.conn.execute("SELECT 1 FROM snapshots WHERE month = ? LIMIT 1", [month]).fetchone():
            return []  # no installation pinged this month: nothing to report
        params = {"month": month, "first_month": first_month}
        metrics = {metric_id: bool(paid) for metric_id, paid in self.conn.execute(
            f"SELECT id, is_paid_gmau FROM metrics WHERE in_dictionary AND time_frame IN {ROLLED_UP}")}
        combos = {row[0]: row[1:] for row in self.conn.execute(
            "SELECT id, tier, deployment, edition, version_minor, installation_type, paid FROM combos")}
        keys_of = {combo_id: _keys(attributes) for combo_id, attributes in combos.items()}
        all_keys_of = {combo_id: [k for k in keys if k[0] == "all"] for combo_id, keys in keys_of.items()}

        # reporting, active, using, failing, total
        rows: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, 0])

        # Sum each (metric, combination) row into every (scope, dimension, value) it belongs to.
        for metric_id, combo_id, reporting, using, total in self.conn.execute(_VALUES_SQL, params):
            if metric_id in metrics:
                for key in keys_of[combo_id] if metrics[metric_id] else all_keys_of[combo_id]:
                    row = rows[(metric_id, *key)]
                    row[0] += reporting
                    row[2] += using
                    row[4] += total
        for metric_id, combo_id, failing in self.conn.execute(_FAILURES_SQL, params):
            if metric_id in metrics:
                for key in keys_of[combo_id] if metrics[metric_id] else all_keys_of[combo_id]:
                    rows[(metric_id, *key)][3] += failing
        self._fold_active(rows, metrics, keys_of, params)

        result = []
        for (metric_id, scope, dimension, dim_value), (reporting, active, using, failing, total) \
                in rows.items():
            median = None
            if scope == "all" and dimension == "" and using:
                median = self.conn.execute(
                    _MEDIAN_SQL, {"month": month, "metric": metric_id, "n": using}).fetchone()[0]
            result.append((month, metric_id, scope, dimension, dim_value, reporting, active,
                           using, failing, total, median))
        return result

    def _fold_active(self, rows, metrics, keys_of, params) -> None:
        """Active installations per metric: those on a version inside its seen-valid range."""
        by_key: dict[tuple, list[tuple[str, int]]] = defaultdict(list)
        for combo_id, version_key, count in self.conn.execute(_ACTIVE_SQL, params):
            for key in keys_of[combo_id]:
                by_key[key].append((version_key, count))
        cumulative = {}
        for key, buckets in by_key.items():
            merged: dict[str, int] = defaultdict(int)
            for version_key, count in buckets:
                merged[version_key] += count
            versions = sorted(merged)
            running, sums = 0, []
            for version_key in versions:
                running += merged[version_key]
                sums.append(running)
            cumulative[key] = (versions, sums)
        for metric_id, low, high in self.conn.execute(
                "SELECT metric_id, min_version_key, max_version_key FROM metric_version_ranges"):
            if metric_id not in metrics:
                continue
            for key, (versions, sums) in cumulative.items():
                if key[0] == "paid" and not metrics[metric_id]:
                    continue
                first, last = bisect_left(versions, low), bisect_right(versions, high)
                if last > first:
                    rows[(metric_id, *key)][1] = sums[last - 1] - (sums[first - 1] if first else 0)

    def store_rollups(self, month: str, rows: list[tuple], seen_mark: int | None,
                      refreshed_at: str, fingerprint: str | None) -> None:
        """Replace a month's rollups; clear its dirty mark unless it moved since we read."""
        with self.write():
            self.conn.execute("DELETE FROM rollups WHERE month = ?", [month])
            self.conn.executemany(
                f"INSERT INTO rollups ({', '.join(ROLLUP_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in ROLLUP_COLUMNS)})", rows)
            if seen_mark is not None:
                self.conn.execute("DELETE FROM dirty_months WHERE month = ? AND mark = ?",
                                  [month, seen_mark])
            self.conn.execute(
                "INSERT INTO rollup_refreshes (month, refreshed_at, dictionary_fingerprint) "
                "VALUES (?, ?, ?) ON CONFLICT (month) DO UPDATE SET "
                "refreshed_at = excluded.refreshed_at, "
                "dictionary_fingerprint = excluded.dictionary_fingerprint",
                [month, refreshed_at, fingerprint])

    def snapshot_months(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT month FROM snapshots ORDER BY month")]

    def rollup_months(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT month FROM rollups ORDER BY month")]

    def drop_rollups_outside(self, months: list[str]) -> None:
        """Remove rollups of months that no longer have any snapshot."""
        with self.write():
            for table in ("rollups", "rollup_refreshes"):
                self.conn.execute(
                    f"DELETE FROM {table} WHERE month NOT IN ({', '.join('?' for _ in months)})", months)

    def rollup_fingerprint_rows(self, month: str) -> dict[tuple, tuple]:
        """A month's rollups keyed for comparison (used by rebuild to report changes)."""
        return {
            (r[0], r[1], r[2], r[3]): tuple(r[4:])
            for r in self.conn.execute(
                "SELECT m.key_path, r.scope, r.dimension, r.dim_value, r.reporting_installations, "
                "r.active_installations, r.using_installations, r.failing_installations, r.total, "
                "r.median FROM rollups r JOIN metrics m ON m.id = r.metric_id WHERE r.month = ?",
                [month])
        }


def _keys(attributes: tuple) -> list[tuple[str, str, str]]:
    """The (scope, dimension, value) rows one combination of attributes contributes to."""
    scopes = ("all", "paid") if attributes[5] else ("all",)
    keys = []
    for scope in scopes:
        keys.append((scope, "", ""))
        keys.extend((scope, name, attributes[position]) for name, position in DIMENSIONS.items())
    return keys
