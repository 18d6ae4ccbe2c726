"""Entry points RQ runs. Each opens (once per process) the storage named by the environment."""
from __future__ import annotations

import logging

from rq import Queue, get_current_job

from . import processing, rollups
from . import queue as queue_module
from .installations import format_timestamp, utc_now
from .payloads import PayloadError
from .settings import Settings
from .storage import Storage

log = logging.getLogger(__name__)
PERMANENT_ERRORS = (processing.PingNotFound, PayloadError)
_storage: Storage | None = None


def current_storage() -> Storage:
    global _storage
    settings = Settings.from_env()
    if _storage is None or _storage.path != settings.database:
        _storage = Storage.open(settings, durable=False)
    return _storage


def describe_error(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"{name}: {exc}"[:2000]


class BatchFailed(RuntimeError):
    """Some pings of a batch failed; the job is retried for them (done ones are skipped)."""


def process_ping(ping_id: int) -> str:
    """One ping (HTTP ingest queues each ping on its own, for the shortest lag)."""
    storage = current_storage()
    try:
        outcome = processing.process_ping(storage, ping_id, Settings.from_env())
    except Exception as exc:
        _record_failure(storage, ping_id, exc, get_current_job())
        raise
    _schedule_refresh()
    return outcome


def process_pings(ping_ids: list[int]) -> dict:
    """A batch of pings (imports and repairs): one RQ job and one write transaction for the
    batch. A failing ping does not stop the others; the job is retried for the failed ones."""
    storage, job = current_storage(), get_current_job()
    outcomes = processing.process_batch(storage, ping_ids, Settings.from_env())
    failed = []
    for ping_id, outcome in outcomes.items():
        if isinstance(outcome, Exception):
            _record_failure(storage, ping_id, outcome, job)
            failed.append(ping_id)
    _schedule_refresh()
    if failed:
        raise BatchFailed(f"{len(failed)} of {len(ping_ids)} pings failed: {failed[:20]}")
    return {"processed": len(ping_ids)}


def _record_failure(storage, ping_id: int, exc: Exception, job) -> None:
    # A ping that cannot be found or parsed will not get better by waiting: fail it now.
    final = job is None or not job.retries_left or isinstance(exc, PERMANENT_ERRORS)
    storage.mark_attempt_failed(ping_id, describe_error(exc), format_timestamp(utc_now()), final)
    log.warning("ping %s failed (%s): %s", ping_id, "final" if final else "will retry",
                type(exc).__name__)


def _schedule_refresh() -> None:
    job = get_current_job()
    if job is not None and current_storage().dirty_months():
        queue_module.schedule_refresh(Queue(job.origin, connection=job.connection))


def refresh_rollups() -> list[str]:
    """Refresh every month marked dirty since the last refresh."""
    return rollups.refresh_dirty(current_storage())
