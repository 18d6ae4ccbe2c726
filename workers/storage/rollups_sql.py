"""SQL for monthly rollups (rules 9-12): computing them and reading them back for exports."""
from __future__ import annotations

from contextlib import contextmanager

DIMENSIONS = {  # breakdown name -> snapshot column
    "tier": "tier",
    "deployment": "deployment",
    "edition": "coalesce(edition, 'unknown')",
    "version": "version_minor",
    "installation_type": "coalesce(installation_type, 'unknown')",
}

# Installations active in a month: a snapshot in it or in the 2 months before (rule 11), each
# described by its latest snapshot in that window; one row per breakdown it belongs to, and a
# second copy of the whole set under scope 'paid' for the paid installations.
_WINDOW_SQL = """
CREATE TEMP TABLE rollup_window AS
WITH latest AS (
    SELECT s.* FROM snapshots s
    JOIN (SELECT installation_id, max(month) AS month FROM snapshots
          WHERE month BETWEEN :first_month AND :month GROUP BY installation_id) w
      USING (installation_id, month)
), dims AS (
    SELECT installation_id, paid, version_key, '' AS dimension, '' AS dim_value FROM latest
    {breakdowns}
)
SELECT installation_id, version_key, 'all' AS scope, dimension, dim_value FROM dims
UNION ALL
SELECT installation_id, version_key, 'paid', dimension, dim_value FROM dims WHERE paid
"""

_ACTIVE_SQL = """
WITH buckets AS (
    SELECT scope, dimension, dim_value, version_key, count(*) AS n
    FROM rollup_window GROUP BY scope, dimension, dim_value, version_key
)
SELECT r.metric_id, b.scope, b.dimension, b.dim_value, sum(b.n)
FROM metric_version_ranges r
JOIN metrics m ON m.id = r.metric_id AND m.in_dictionary AND m.time_frame IN ('28d', 'all')
JOIN buckets b ON b.version_key BETWEEN r.min_version_key AND r.max_version_key
WHERE b.scope = 'all' OR m.is_paid_gmau
GROUP BY r.metric_id, b.scope, b.dimension, b.dim_value
"""

_VALUES_SQL = """
SELECT v.metric_id, w.scope, w.dimension, w.dim_value,
       count(*), sum(v.monthly_value > 0), sum(v.monthly_value)
FROM snapshot_values v
JOIN metrics m ON m.id = v.metric_id AND m.in_dictionary
JOIN rollup_window w ON w.installation_id = v.installation_id
WHERE v.month = :month AND (w.scope = 'all' OR m.is_paid_gmau)
GROUP BY v.metric_id, w.scope, w.dimension, w.dim_value
"""

# Rule 12: median monthly value over the installations using the feature (value > 0).
_MEDIAN_SQL = """
SELECT metric_id, scope, dimension, dim_value, avg(monthly_value) FROM (
    SELECT v.metric_id, w.scope, w.dimension, w.dim_value, v.monthly_value,
           row_number() OVER part AS position,
           count(*) OVER (PARTITION BY v.metric_id, w.scope, w.dimension, w.dim_value) AS n
    FROM snapshot_values v
    JOIN metrics m ON m.id = v.metric_id AND m.in_dictionary
    JOIN rollup_window w ON w.installation_id = v.installation_id
    WHERE v.month = :month AND v.monthly_value > 0 AND (w.scope = 'all' OR m.is_paid_gmau)
    WINDOW part AS (PARTITION BY v.metric_id, w.scope, w.dimension, w.dim_value
                    ORDER BY v.monthly_value)
)
WHERE position IN ((n + 1) / 2, (n + 2) / 2)
GROUP BY metric_id, scope, dimension, dim_value
"""

_FAILURES_SQL = """
SELECT f.metric_id, w.scope, w.dimension, w.dim_value, count(*)
FROM snapshot_failures f
JOIN metrics m ON m.id = f.metric_id AND m.in_dictionary AND m.time_frame IN ('28d', 'all')
JOIN rollup_window w ON w.installation_id = f.installation_id
WHERE f.month = :month AND (w.scope = 'all' OR m.is_paid_gmau)
GROUP BY f.metric_id, w.scope, w.dimension, w.dim_value
"""

ROLLUP_COLUMNS = ("month", "metric_id", "scope", "dimension", "dim_value",
                  "reporting_installations", "active_installations", "using_installations",
                  "failing_installations", "total", "median")


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
        breakdowns = "\n".join(
            f"    UNION ALL SELECT installation_id, paid, version_key, '{name}', {column} FROM latest"
            for name, column in DIMENSIONS.items())
        params = {"month": month, "first_month": first_month}
        if not self.conn.execute("SELECT 1 FROM snapshots WHERE month = ? LIMIT 1", [month]).fetchone():
            return []  # no installation pinged this month: nothing to report
        self.conn.execute("DROP TABLE IF EXISTS temp.rollup_window")
        self.conn.execute(_WINDOW_SQL.format(breakdowns=breakdowns), params)
        self.conn.execute("CREATE INDEX temp.rollup_window_by_installation "
                          "ON rollup_window (installation_id)")
        rows: dict[tuple, list] = {}

        def row(key):
            if key not in rows:
                rows[key] = [0, 0, 0, 0, 0, None]  # reporting active using failing total median
            return rows[key]

        for *key, active in self.conn.execute(_ACTIVE_SQL):
            row(tuple(key))[1] = active
        for *key, reporting, using, total in self.conn.execute(_VALUES_SQL, params):
            r = row(tuple(key))
            r[0], r[2], r[4] = reporting, using, total
        for *key, median in self.conn.execute(_MEDIAN_SQL, params):
            row(tuple(key))[5] = median
        for *key, failing in self.conn.execute(_FAILURES_SQL, params):
            row(tuple(key))[3] = failing
        self.conn.execute("DROP TABLE temp.rollup_window")
        return [(month, *key, *values) for key, values in rows.items()]

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
            self.conn.execute(
                f"DELETE FROM rollups WHERE month NOT IN ({', '.join('?' for _ in months)})", months)
            self.conn.execute(
                f"DELETE FROM rollup_refreshes WHERE month NOT IN ({', '.join('?' for _ in months)})",
                months)

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
