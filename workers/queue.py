"""The Redis/RQ side: one queue of tiny jobs, each carrying only a ping id.

Redis is a work queue, not a store: the archive in SQLite says which pings still wait, and
`requeue_stuck` puts any that Redis lost (or never got) back on the queue.
"""
from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from .installations import format_timestamp, utc_now

log = logging.getLogger(__name__)

RETRY_INTERVALS = [10, 60, 300]
JOB_TIMEOUT = 600
RESULT_TTL = 3600
# A job that is waiting or running is in hand; any other state means the ping needs a new job.
IN_HAND = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def connect(url: str) -> Redis:
    """A client that fails fast when Redis is away, so ingest never hangs on it."""
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30)


def ping_queue(connection: Redis, settings) -> Queue:
    return Queue(settings.queue_name, connection=connection)


def job_id(ping_id: int) -> str:
    return f"ping-{ping_id}"


def ping_id_of(job_identifier: str) -> int | None:
    prefix, _, number = job_identifier.partition("-")
    return int(number) if prefix == "ping" and number.isdigit() else None


def enqueue_ping(queue: Queue, ping_id: int, settings) -> Job:
    return queue.enqueue(
        "workers.jobs.process_ping",
        ping_id,
        job_id=job_id(ping_id),
        retry=Retry(max=settings.job_retries, interval=RETRY_INTERVALS[: settings.job_retries] or 0),
        failure_ttl=settings.failure_ttl,
        result_ttl=RESULT_TTL,
        job_timeout=JOB_TIMEOUT,
        description=f"process ping {ping_id}",
    )


def try_enqueue(storage, queue: Queue, ping_id: int, settings) -> bool:
    """Enqueue a freshly archived ping; if Redis is away, leave it waiting in SQLite."""
    try:
        enqueue_ping(queue, ping_id, settings)
    except RedisError as exc:
        log.warning("Redis unavailable, ping %s waits in the archive: %s", ping_id, type(exc).__name__)
        return False
    storage.mark_enqueued([ping_id], format_timestamp(utc_now()))
    return True


def job_in_hand(queue: Queue, ping_id: int) -> bool:
    from . import queue_health

    try:
        job = Job.fetch(job_id(ping_id), connection=queue.connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    # A job left STARTED by a killed worker: recover it now, not when RQ's registry TTL ends.
    if status == JobStatus.STARTED and queue_health.abandoned(job):
        queue_health.release_abandoned(queue, job)
        return False
    return status in IN_HAND


def requeue_stuck(storage, queue: Queue, settings, progress=None) -> dict:
    """Enqueue every waiting ping that has no live job (Redis lost it, or it never reached Redis)."""
    # Jobs whose worker died are moved out of the started registry by RQ's own cleanup.
    queue.started_job_registry.cleanup()
    waiting = storage.waiting_ping_ids()
    requeued = []
    for ping_id in waiting:
        if not job_in_hand(queue, ping_id):
            enqueue_ping(queue, ping_id, settings)
            requeued.append(ping_id)
            if progress and len(requeued) % 1000 == 0:
                progress(len(requeued))
    if requeued:
        storage.mark_enqueued(requeued, format_timestamp(utc_now()))
    return {"waiting": len(waiting), "requeued": len(requeued)}


REFRESH_JOB_ID = "refresh-rollups"


def schedule_refresh(queue: Queue) -> bool:
    """Put one rollup refresh at the back of the queue unless one is already waiting there.

    During a burst the refresh runs once per pass through the queue, not once per ping.
    """
    try:
        job = Job.fetch(REFRESH_JOB_ID, connection=queue.connection)
        if job.get_status(refresh=False) == JobStatus.QUEUED:
            return False
    except NoSuchJobError:
        pass
    queue.enqueue("workers.jobs.refresh_rollups", job_id=REFRESH_JOB_ID, failure_ttl=86400,
                  result_ttl=600, job_timeout=3600, description="refresh dirty rollup months")
    return True
