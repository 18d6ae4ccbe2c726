"""Entry points RQ runs. Each opens (once per process) the storage named by the environment."""
from __future__ import annotations

import logging

from rq import Queue, get_current_job

from . import processing, rollups
from . import queue as queue_module
from .installations import format_timestamp, utc_now
from .settings import Settings
from .storage import Storage

log = logging.getLogger(__name__)
_storage: Storage | None = None


def current_storage() -> Storage:
    global _storage
    settings = Settings.from_env()
    if _storage is None or _storage.path != settings.database:
        _storage = Storage.open(settings, durable=False)
    return _storage


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def process_ping(ping_id: int) -> str:
    storage = current_storage()
    try:
        outcome = processing.process_ping(storage, ping_id, Settings.from_env())
    except Exception as exc:
        job = get_current_job()
        final = job is None or not job.retries_left or isinstance(exc, processing.PingNotFound)
        storage.mark_attempt_failed(ping_id, describe_error(exc), format_timestamp(utc_now()), final)
        log.warning("ping %s failed (%s): %s", ping_id, "final" if final else "will retry", type(exc).__name__)
        raise
    if storage.dirty_months():
        job = get_current_job()
        if job is not None:
            queue_module.schedule_refresh(Queue(job.origin, connection=job.connection))
    return outcome


def refresh_rollups() -> list[str]:
    """Refresh every month marked dirty since the last refresh."""
    return rollups.refresh_dirty(current_storage())
