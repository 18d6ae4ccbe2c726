"""GET /metrics: Prometheus text, read from SQLite and Redis at scrape time.

`pingtally serve` runs several gunicorn processes, and any of them may answer a scrape. Counters
kept in a process would differ from one process to the next, so there are none: a custom
collector reads the shared stores on every scrape, and every process gives the same answer.
"""
from __future__ import annotations

import threading
from datetime import timedelta

from flask import Blueprint, Response, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString
from redis.exceptions import RedisError

from workers import operations, queue_health
from workers.installations import format_timestamp, parse_timestamp, utc_now
from workers.storage import Storage
from workers.storage.ops_sql import LATENCY_BUCKETS

from .auth import require_token
from .db import get_queue, get_storage, settings

bp = Blueprint("metrics", __name__)
bp.before_request(require_token)

# A processed ping's duration no longer changes once this long has passed (its enqueue time can
# be written a moment after processing; see OpsSQL.processing_latency).
SETTLED_AFTER = timedelta(minutes=5)


class SettledLatency:
    """The processing-time histogram without re-reading all history on every scrape.

    Durations of pings processed before a watermark are settled, so they are summed once and
    kept; each scrape reads only what was processed since (a range on the processed_at index).
    Every process still reports the same figures: the sum over the same rows of the database.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, path) -> None:
        self._path, self._watermark = path, None
        self._counts, self._sum, self._count = [0] * len(LATENCY_BUCKETS), 0.0, 0

    def read(self, storage: Storage, now, processed_total: int) -> tuple[list[int], float, int]:
        settled_until = format_timestamp(now - SETTLED_AFTER)
        with self._lock:
            # Another file, or one restored from a backup: start over.
            if self._path != storage.path or self._count > processed_total:
                self._reset(storage.path)
            if self._watermark is None or settled_until > self._watermark:
                counts, total, count = storage.processing_latency(self._watermark, settled_until)
                self._counts = [a + b for a, b in zip(self._counts, counts)]
                self._sum += total
                self._count += count
                self._watermark = settled_until
            counts, total, count = storage.processing_latency(self._watermark, None)
            return ([a + b for a, b in zip(self._counts, counts)], self._sum + total,
                    self._count + count)


settled_latency = SettledLatency()


class PingtallyCollector:
    """Builds every metric family from the database and Redis when collected."""

    def __init__(self, storage: Storage, connection, queue_name: str):
        self.storage = storage
        self.connection = connection
        self.queue_name = queue_name

    def collect(self):
        now = utc_now()
        yield from self._pings(now)
        yield from self._derived(now)
        yield from self._redis(now)

    def _pings(self, now):
        storage = self.storage
        statuses = storage.status_counts()
        yield CounterMetricFamily("pingtally_pings_received",
                                  "Pings archived (HTTP and import) since the database was made.",
                                  value=storage.received_count())
        by_status = GaugeMetricFamily(
            "pingtally_pings", "Archived pings by outcome now: queued, processed, failed.",
            labels=["status"])
        for status, count in statuses.items():
            by_status.add_metric([status], count)
        yield by_status
        yield CounterMetricFamily("pingtally_pings_processed", "Pings processed successfully.",
                                  value=statuses["processed"])

        lag = storage.pipeline_lag()
        yield GaugeMetricFamily("pingtally_pings_waiting",
                                "Pings archived and not processed yet.", value=lag["waiting"])
        yield GaugeMetricFamily("pingtally_pings_never_enqueued",
                                "Waiting pings that never reached Redis (requeue-stuck fixes).",
                                value=lag["never_enqueued"])
        yield GaugeMetricFamily("pingtally_pings_retrying",
                                "Waiting pings that failed at least once and will be retried.",
                                value=lag["retrying"])
        oldest = lag["oldest_waiting_since"]
        yield GaugeMetricFamily(
            "pingtally_pings_oldest_waiting_age_seconds",
            "Age of the oldest waiting ping, from its hand-off to Redis (or its receipt).",
            value=(now - parse_timestamp(oldest)).total_seconds() if oldest else 0)

        counts, total, count = settled_latency.read(storage, now, statuses["processed"])
        histogram = HistogramMetricFamily(
            "pingtally_ping_processing_seconds",
            "Seconds from a ping's hand-off to Redis until processed (queue wait plus work).")
        buckets = [(floatToGoString(bound), cumulative)
                   for bound, cumulative in zip(LATENCY_BUCKETS, counts)]
        histogram.add_metric([], buckets + [("+Inf", count)], sum_value=total)
        yield histogram

    def _derived(self, now):
        storage = self.storage
        codes = GaugeMetricFamily(
            "pingtally_metric_failures",
            "Metric values that were failure codes (-1, -2, -3, -1000...) in the month snapshots "
            "of the latest two months.",
            labels=["month", "code"])
        for month, code, count in storage.failure_codes():
            codes.add_metric([month, code], count)
        yield codes

        freshness = storage.rollup_freshness()
        yield GaugeMetricFamily("pingtally_rollup_dirty_months",
                                "Months whose rollups are older than their snapshots.",
                                value=freshness["dirty_months"])
        last = freshness["last_refreshed_at"]
        if last:
            moment = parse_timestamp(last)
            yield GaugeMetricFamily("pingtally_rollup_last_refresh_timestamp_seconds",
                                    "When a rollup month was last refreshed (Unix time).",
                                    value=moment.timestamp())
            yield GaugeMetricFamily("pingtally_rollup_last_refresh_age_seconds",
                                    "Seconds since a rollup month was last refreshed.",
                                    value=(now - moment).total_seconds())

        yield GaugeMetricFamily("pingtally_installations", "Installations ever seen.",
                                value=storage.installation_count())
        yield GaugeMetricFamily(
            "pingtally_installations_silent",
            f"Installations with no ping for more than {operations.SILENT_AFTER.days} days.",
            value=storage.silent_installation_count(operations.silent_cutoff(now)))

    def _redis(self, now):
        up = GaugeMetricFamily("pingtally_redis_up", "1 when Redis answered this scrape.")
        try:
            self.connection.ping()
            picture = queue_health.snapshot(self.connection, [self.queue_name], now)
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        jobs = GaugeMetricFamily("pingtally_queue_jobs", "RQ jobs per queue and state.",
                                 labels=["queue", "state"])
        oldest = GaugeMetricFamily("pingtally_queue_oldest_job_age_seconds",
                                   "Age of the job at the head of the queue (0 when empty).",
                                   labels=["queue"])
        for stats in picture["queues"]:
            for state in ("queued", *queue_health.REGISTRIES):
                jobs.add_metric([stats["name"], state], stats[state])
            oldest.add_metric([stats["name"]], stats["oldest_queued_age_seconds"] or 0)
        yield jobs
        yield oldest

        workers = GaugeMetricFamily("pingtally_workers", "RQ workers registered, by state.",
                                    labels=["state"])
        states: dict[str, int] = {"busy": 0, "idle": 0}
        dead = 0
        for worker in picture["workers"]:
            states[worker["state"]] = states.get(worker["state"], 0) + 1
            dead += worker["alive"] is False
        for state, count in sorted(states.items()):
            workers.add_metric([state], count)
        yield workers
        yield GaugeMetricFamily("pingtally_workers_dead",
                                "Registered workers whose process is gone (killed mid-job).",
                                value=dead)


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry(auto_describe=False)  # one per scrape
    collector = PingtallyCollector(get_storage(), get_queue().connection, settings().queue_name)
    registry.register(collector)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(registry), content_type=content_type)
