"""The Redis/RQ side: one queue of tiny jobs, each carrying only a ping id.

Redis is a work queue, not a store: the archive in SQLite says which pings still wait, and
`requeue_stuck` puts any that Redis lost (or never got) back on the queue.
"""
from __future__ import annotations

import logging
import secrets

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


BATCH_SIZE = 50


def _enqueue(queue: Queue, function: str, argument, identifier: str, settings, description: str) -> Job:
    retries = settings.job_retries
    return queue.enqueue(
        function,
        argument,
        job_id=identifier,
        retry=Retry(max=retries, interval=RETRY_INTERVALS[:retries]) if retries > 0 else None,
        failure_ttl=settings.failure_ttl,
        result_ttl=RESULT_TTL,
        job_timeout=JOB_TIMEOUT,
        description=description,
    )


def enqueue_ping(queue: Queue, ping_id: int, settings) -> Job:
    return _enqueue(queue, "workers.jobs.process_ping", ping_id, job_id(ping_id), settings,
                    f"process ping {ping_id}")


def batch_job_id(ping_ids: list[int]) -> str:
    # The random part keeps a re-queued batch from reusing an abandoned job's key.
    return f"pings-{ping_ids[0]}-{ping_ids[-1]}-{secrets.token_hex(3)}"


def enqueue_batch(queue: Queue, ping_ids: list[int], settings) -> Job:
    """One job for several pings: imports and repairs share RQ's per-job overhead."""
    if len(ping_ids) == 1:
        return enqueue_ping(queue, ping_ids[0], settings)
    return _enqueue(queue, "workers.jobs.process_pings", list(ping_ids), batch_job_id(ping_ids),
                    settings, f"process {len(ping_ids)} pings {ping_ids[0]}..{ping_ids[-1]}")


def try_enqueue(storage, queue: Queue, ping_id: int, settings) -> bool:
    """Enqueue a freshly archived ping; if Redis is away, leave it waiting in SQLite."""
    try:
        job = enqueue_ping(queue, ping_id, settings)
    except RedisError as exc:
        log.warning("Redis unavailable, ping %s waits in the archive: %s", ping_id, type(exc).__name__)
        return False
    storage.mark_enqueued([ping_id], format_timestamp(utc_now()), job.id)
    return True


def enqueue_in_batches(storage, queue: Queue, ping_ids: list[int], settings, progress=None) -> None:
    """Enqueue archived pings, BATCH_SIZE per job, and note each ping's job in the archive."""
    for start in range(0, len(ping_ids), BATCH_SIZE):
        batch = ping_ids[start:start + BATCH_SIZE]
        job = enqueue_batch(queue, batch, settings)
        storage.mark_enqueued(batch, format_timestamp(utc_now()), job.id)
        if progress:
            progress(start + len(batch))


def try_enqueue_batch(storage, queue: Queue, ping_ids: list[int], settings) -> bool:
    """Enqueue archived pings in batches; if Redis is away they wait in SQLite."""
    try:
        enqueue_in_batches(storage, queue, ping_ids, settings)
    except RedisError as exc:
        log.warning("Redis unavailable, %d pings wait in the archive: %s", len(ping_ids),
                    type(exc).__name__)
        return False
    return True


IN_HAND_NOW, ABANDONED, GONE = "in hand", "abandoned", "gone"


def job_state(queue: Queue, identifier: str | None, queued_ids: set[str] | None = None) -> str:
    """IN_HAND_NOW while the RQ job is waiting or running on a live worker; ABANDONED when its
    worker died mid-job (released here at once, not when RQ's registry TTL ends); else GONE.

    `queued_ids` (the queue's job ids, read once by the caller) exposes a job that says QUEUED
    but sits in no queue: a worker killed between dequeueing it and starting it leaves it in
    RQ's intermediate list, where nobody would pick it up for minutes.
    """
    from . import queue_health

    if identifier is None:
        return GONE
    try:
        job = Job.fetch(identifier, connection=queue.connection)
    except NoSuchJobError:
        return GONE
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED and queue_health.abandoned(job):
        queue_health.release_abandoned(queue, job)
        return ABANDONED
    if status == JobStatus.QUEUED:
        if queued_ids is None:
            queued_ids = set(queue.get_job_ids())
        if identifier not in queued_ids:
            queue.connection.lrem(queue.intermediate_queue.key, 0, identifier)
            return GONE
    return IN_HAND_NOW if status in IN_HAND else GONE


def requeue_stuck(storage, queue: Queue, settings, progress=None) -> dict:
    """Enqueue every waiting ping that has no live job (Redis lost it, or it never reached Redis).

    A ping whose worker died mid-job counts that as a failed attempt, so a ping that kills
    its worker every time ends up failed instead of going round for ever.
    """
    # Jobs whose worker died are moved out of the started registry by RQ's own cleanup.
    queue.started_job_registry.cleanup()
    waiting = storage.waiting_pings()
    queued_ids = set(queue.get_job_ids())
    states: dict[str, str] = {}
    stuck, gave_up = [], 0
    for ping_id, identifier in waiting:
        if identifier not in states:
            states[identifier] = job_state(queue, identifier, queued_ids)
        state = states[identifier]
        if state == ABANDONED:
            attempts = storage.ping(ping_id)["attempts"]
            final = attempts + 1 > settings.job_retries
            storage.mark_attempt_failed(ping_id, WORKER_DIED, format_timestamp(utc_now()), final)
            if final:
                gave_up += 1
                continue
        if state != IN_HAND_NOW:
            stuck.append(ping_id)
    enqueue_in_batches(storage, queue, stuck, settings, progress)
    return {"waiting": len(waiting), "requeued": len(stuck), "failed": gave_up}


WORKER_DIED = "WorkerDied: the worker processing this ping stopped in the middle of it"


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
