"""SQL for the operator surface: pipeline lag, throughput, failures, silent installations,
instance reports and the figures /metrics exports. Read-only: nothing here changes data."""
from __future__ import annotations

# Seconds; the upper bounds of the processing-time histogram (+Inf is implied).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)

_SECONDS_BETWEEN = "(julianday({end}) - julianday({start})) * 86400.0"


class OpsSQL:
    def _rows(self, sql: str, params=()) -> list[dict]:
        cursor = self.conn.execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    # -- the pipeline ----------------------------------------------------------------------

    def pipeline_lag(self) -> dict:
        """Pings archived but not processed yet: how many, how many never reached Redis, how
        many are between retries, and the oldest hand-off (or receipt, if never handed off)."""
        row = self.conn.execute(
            """SELECT count(*), count(*) FILTER (WHERE enqueued_at IS NULL),
                      count(*) FILTER (WHERE error IS NOT NULL),
                      min(coalesce(enqueued_at, received_at)), min(received_at)
               FROM pings WHERE status = 'queued'"""
        ).fetchone()
        return {"waiting": row[0], "never_enqueued": row[1], "retrying": row[2],
                "oldest_waiting_since": row[3], "oldest_received_at": row[4]}

    def status_counts(self) -> dict[str, int]:
        """Archived pings per status (queued, processed, failed), from the status index."""
        counts = {"queued": 0, "processed": 0, "failed": 0}
        counts.update(self.conn.execute("SELECT status, count(*) FROM pings GROUP BY status"))
        return counts

    def received_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM pings").fetchone()[0]

    # `+status` keeps the planner on the processed_at index: a range, not every processed ping.
    def processed_since(self, since: str) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM pings WHERE processed_at >= ? AND +status = 'processed'", [since]
        ).fetchone()[0]

    def failed_since(self, since: str) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM pings WHERE processed_at >= ? AND +status = 'failed'", [since]
        ).fetchone()[0]

    def failed_pings(self) -> list[tuple[int, str, str]]:
        """(ping_id, error, failed_at) of every ping that failed for good, newest first."""
        return self.conn.execute(
            "SELECT id, error, processed_at FROM pings WHERE status = 'failed' ORDER BY id DESC"
        ).fetchall()

    def processing_latency(self, processed_from: str | None = None,
                           processed_before: str | None = None,
                           bounds=LATENCY_BUCKETS) -> tuple[list[int], float, int]:
        """For pings processed in [processed_from, processed_before): cumulative counts per
        histogram bound, the sum and the count of seconds from hand-off to Redis until
        processed (queue wait plus work).

        Processing can finish a moment before the enqueue time is written, so durations are
        clamped at zero.
        """
        seconds = _SECONDS_BETWEEN.format(end="processed_at", start="enqueued_at")
        buckets = ", ".join("count(*) FILTER (WHERE s <= ?)" for _ in bounds)
        where, params = ["processed_at IS NOT NULL"], list(bounds)
        if processed_from:
            where.append("processed_at >= ?")
            params.append(processed_from)
        if processed_before:
            where.append("processed_at < ?")
            params.append(processed_before)
        row = self.conn.execute(
            f"""SELECT {buckets}, total(s), count(*) FROM (
                    SELECT max(0.0, {seconds}) AS s FROM pings
                    WHERE {" AND ".join(where)}
                      AND +status = 'processed' AND enqueued_at IS NOT NULL)""",
            params,
        ).fetchone()
        return list(row[: len(bounds)]), row[-2], row[-1]

    # -- derived data ----------------------------------------------------------------------

    def failure_codes(self, months: int = 2) -> list[tuple[str, str, int]]:
        """(month, code, count): metric failure codes (rule 5) in the latest `months` months
        of snapshots. Older months are left out: the table grows with every month."""
        first = "\uffff"
        for _ in range(months):  # each step is one primary-key probe
            month = self.conn.execute(
                "SELECT max(month) FROM snapshot_failures WHERE month < ?", [first]
            ).fetchone()[0]
            if month is None:
                break
            first = month
        return self.conn.execute(
            "SELECT month, code, count(*) FROM snapshot_failures WHERE month >= ? "
            "GROUP BY month, code ORDER BY month, code",
            [first],
        ).fetchall()

    def rollup_freshness(self) -> dict:
        dirty = self.conn.execute("SELECT count(*) FROM dirty_months").fetchone()[0]
        last = self.conn.execute("SELECT max(refreshed_at) FROM rollup_refreshes").fetchone()[0]
        return {"dirty_months": dirty, "last_refreshed_at": last}

    # -- installations and what they report about themselves ---------------------------------

    def installation_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM installations").fetchone()[0]

    def silent_installation_count(self, cutoff: str) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM installations WHERE last_seen_at < ?", [cutoff]
        ).fetchone()[0]

    def silent_installations(self, cutoff: str) -> list[dict]:
        """Installations whose latest ping was received before `cutoff`, longest silent first."""
        return self._rows(
            """SELECT uuid, hostname, version, edition, tier, deployment, first_seen_at,
                      last_seen_at, last_ping_id
               FROM installations WHERE last_seen_at < ? ORDER BY last_seen_at, id""",
            [cutoff],
        )

    def instance_error_reports(self, since: str | None = None) -> list[dict]:
        sql = "SELECT received_at, uuid, hostname, version, message FROM instance_errors"
        params = []
        if since:
            sql += " WHERE received_at >= ?"
            params.append(since)
        return self._rows(sql + " ORDER BY received_at", params)

    def metric_timings(self, since: str | None = None, limit: int = 20) -> list[dict]:
        """Per metric name in /usage_ping_metadata reports: reports, median and max seconds,
        errors; slowest median first."""
        where, params = "", []
        if since:
            where, params = "WHERE m.received_at >= ?", [since]
        return self._rows(
            f"""
            WITH t AS (
                SELECT t.name, t.time_elapsed, t.error
                FROM instance_metric_timings t JOIN instance_metadata m ON m.id = t.metadata_id
                {where}
            ), ranked AS (
                SELECT name, time_elapsed,
                       row_number() OVER (PARTITION BY name ORDER BY time_elapsed) AS n,
                       count(*) OVER (PARTITION BY name) AS c
                FROM t WHERE time_elapsed IS NOT NULL
            ), medians AS (
                SELECT name, avg(time_elapsed) AS median FROM ranked
                WHERE n IN ((c + 1) / 2, (c + 2) / 2) GROUP BY name
            )
            SELECT t.name, count(*) AS reports, medians.median AS median_seconds,
                   max(t.time_elapsed) AS max_seconds,
                   count(*) FILTER (WHERE coalesce(t.error, '') != '') AS errors
            FROM t LEFT JOIN medians ON medians.name = t.name
            GROUP BY t.name
            ORDER BY median_seconds DESC NULLS LAST, max_seconds DESC, t.name
            LIMIT ?""",
            [*params, int(limit)],
        )
