"""The operator's picture (queues, workers, lag, throughput, failures, silent installations)
and the one repair that is not `requeue_stuck`: putting failed pings back on the queue.

Shared by the HTTP views, /ops and `pingtally queue status`. Nothing here deletes data.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from redis.exceptions import RedisError

from . import operations, queue_health
from . import queue as rq_queue
from .installations import format_timestamp, parse_timestamp, utc_now

THROUGHPUT_WINDOWS = (5, 60)  # minutes
REPORT_WINDOW = timedelta(days=30)  # instance error reports and metric timings


def _age(since: str | None, now: datetime) -> float | None:
    if not since:
        return None
    return max(0.0, round((now - parse_timestamp(since)).total_seconds(), 3))


def pipeline(storage, now: datetime) -> dict:
    lag = storage.pipeline_lag()
    lag["oldest_waiting_age_seconds"] = _age(lag["oldest_waiting_since"], now)
    counts = storage.status_counts()
    throughput = {}
    for minutes in THROUGHPUT_WINDOWS:
        processed = storage.processed_since(format_timestamp(now - timedelta(minutes=minutes)))
        throughput[f"processed_last_{minutes}m"] = processed
        throughput[f"per_minute_last_{minutes}m"] = round(processed / minutes, 2)
    throughput["failed_last_60m"] = storage.failed_since(format_timestamp(now - timedelta(hours=1)))
    return {"pings": counts, "lag": lag, "throughput": throughput}


def failures(storage) -> dict:
    rows = storage.failed_pings()
    return {"failed_pings": len(rows),
            "fingerprints": [g.as_dict() for g in operations.group_failures(rows)]}


def redis_picture(connection, settings, now: datetime) -> dict:
    """Queues and workers from RQ; when Redis does not answer, say so instead of failing."""
    try:
        connection.ping()
        picture = queue_health.snapshot(connection, [settings.queue_name], now)
    except RedisError as exc:
        return {"redis": {"ok": False, "error": f"{type(exc).__name__}: {exc}"},
                "queues": [], "workers": []}
    return {"redis": {"ok": True, "error": None}, **picture}


def overview(storage, connection, settings, now: datetime | None = None) -> dict:
    """Everything /api/v1/queues, /ops and `pingtally queue status` show."""
    now = now or utc_now()
    return {
        "generated_at": format_timestamp(now),
        **redis_picture(connection, settings, now),
        "pipeline": pipeline(storage, now),
        "failures": failures(storage),
    }


def missing(storage, now: datetime | None = None,
            after: timedelta = operations.SILENT_AFTER) -> dict:
    now = now or utc_now()
    silent = [operations.describe_silent(row, now)
              for row in storage.silent_installations(operations.silent_cutoff(now, after))]
    return {
        "generated_at": format_timestamp(now),
        "silent_after_days": after.days,
        "installations_known": storage.installation_count(),
        "silent": silent,
        "cohorts": operations.silent_cohorts(silent),
    }


def instance_errors(storage, now: datetime | None = None,
                    window: timedelta = REPORT_WINDOW) -> list[dict]:
    since = format_timestamp((now or utc_now()) - window) if window else None
    return operations.group_instance_errors(storage.instance_error_reports(since))


def metric_timings(storage, now: datetime | None = None, window: timedelta = REPORT_WINDOW,
                   limit: int = 20) -> list[dict]:
    since = format_timestamp((now or utc_now()) - window) if window else None
    return storage.metric_timings(since, limit)


def requeue_failed(storage, queue, settings, fingerprint: str | None = None) -> dict:
    """Put failed pings (all, or those whose error has `fingerprint`) back on the queue.

    SQLite first (status back to queued), then Redis: if Redis is away the pings wait in the
    archive and `requeue_stuck` enqueues them later.
    """
    ids = operations.ping_ids_with_fingerprint(storage.failed_pings(), fingerprint)
    if not ids:
        return {"fingerprint": fingerprint, "matched": 0, "requeued": 0, "enqueued": 0}
    old_jobs = {storage.ping(ping_id)["job_id"] for ping_id in ids} - {None}
    storage.requeue_failed(ids)
    try:
        # The old jobs would still count as failed in RQ (and in `rq info`) for failure_ttl.
        for identifier in old_jobs:
            queue.failed_job_registry.remove(identifier)
    except RedisError:
        pass
    enqueued = rq_queue.try_enqueue_batch(storage, queue, ids, settings)
    return {"fingerprint": fingerprint, "matched": len(ids), "requeued": len(ids),
            "enqueued": len(ids) if enqueued else 0}


def requeue_stuck(storage, queue, settings) -> dict:
    return rq_queue.requeue_stuck(storage, queue, settings)
