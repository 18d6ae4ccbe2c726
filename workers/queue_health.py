"""What RQ knows: queue depths and registries, workers, and jobs whose worker is gone.

Reads Redis with RQ's own classes, so the figures match `rq info` and rq-dashboard. The one
repair here (`release_abandoned`) only touches RQ bookkeeping, never a ping.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timezone

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

REGISTRIES = ("started", "failed", "deferred", "scheduled", "finished", "canceled")
ABANDONED_JOB_TTL = 7 * 24 * 3600
log = logging.getLogger(__name__)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def worker_liveness(fields: dict) -> bool | None:
    """From a worker's Redis hash: False when it is certainly dead, True when certainly alive,
    None when only its heartbeat TTL can tell (it runs on another host).

    A SIGKILLed worker leaves its hash behind until the heartbeat TTL (job timeout + 60 s)
    runs out; on the same host its recorded pid settles the question at once. This assumes
    workers on the same hostname share the pid namespace (true for processes on one machine
    or in one container).
    """
    if not fields:
        return False
    if fields.get("death"):
        return False
    pid, hostname = fields.get("pid"), fields.get("hostname")
    if pid and hostname == socket.gethostname():
        return pid_alive(int(pid))
    return None


def _worker_fields(connection: Redis, name: str) -> dict:
    raw = connection.hgetall(Worker.redis_worker_namespace_prefix + name)
    return {_text(k): _text(v) for k, v in raw.items()}


def abandoned(job: Job) -> bool:
    """True when `job` is marked started but no live worker is running it: the worker's key
    expired or was removed, its process is gone, or it has moved on to another job."""
    if job.get_status(refresh=True) != JobStatus.STARTED:
        return False
    if not job.worker_name:
        return False
    fields = _worker_fields(job.connection, job.worker_name)
    alive = worker_liveness(fields)
    if alive is False:
        return True
    if fields.get("current_job") != job.id:
        # Re-read: the worker may have finished this job between the two reads.
        return job.get_status(refresh=True) == JobStatus.STARTED
    return False


def release_abandoned(queue: Queue, job: Job) -> None:
    """Clear what a dead worker left in RQ for `job`: its entry in the started registry (which
    RQ's own cleanup would otherwise fail or retry later, racing the new job), its `started`
    status (the job ends as failed and expires like other failed jobs, unless a new job of the
    same id replaces it) and the dead worker's registration, so `rq info` stops listing it."""
    log.warning("job %s was abandoned by worker %s; its pings are queued again",
                job.id, job.worker_name)
    registry = queue.started_job_registry
    stale = [entry for entry in queue.connection.zrange(registry.key, 0, -1)
             if registry.parse_job_id(entry) == job.id]
    with queue.connection.pipeline() as pipe:
        if stale:
            pipe.zrem(registry.key, *stale)
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        pipe.expire(job.key, job.failure_ttl or ABANDONED_JOB_TTL)
        pipe.execute()
    name = job.worker_name
    if name and worker_liveness(_worker_fields(queue.connection, name)) is False:
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name,
                                    connection=queue.connection)
        if worker is not None:
            worker.register_death()


# -- read-only views -------------------------------------------------------------------------

def _oldest_queued(queue: Queue, now: datetime) -> tuple[str | None, float | None]:
    """The job at the head of the queue (RQ pops from the left) and its age in seconds."""
    for job_id in queue.get_job_ids(0, 4):
        try:
            job = Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            continue
        enqueued_at = _aware(job.enqueued_at)
        if enqueued_at is not None:
            return job_id, max(0.0, (now - enqueued_at).total_seconds())
    return None, None


def queue_stats(queue: Queue, now: datetime) -> dict:
    """Counts per registry without running RQ's cleanup (a read must not move jobs)."""
    oldest_id, oldest_age = _oldest_queued(queue, now)
    stats = {"name": queue.name, "queued": queue.count,
             "oldest_queued_job": oldest_id, "oldest_queued_age_seconds": oldest_age}
    for name in REGISTRIES:
        registry = getattr(queue, f"{name}_job_registry")
        stats[name] = registry.get_job_count(cleanup=False)
    return stats


def queues(connection: Redis, names=()) -> list[Queue]:
    """Every queue RQ knows in this Redis, plus `names` even while they are empty."""
    found = {q.name: q for q in Queue.all(connection=connection)}
    for name in names:
        found.setdefault(name, Queue(name, connection=connection))
    return [found[name] for name in sorted(found)]


def worker_rows(connection: Redis, now: datetime) -> list[dict]:
    rows = []
    for worker in Worker.all(connection=connection):
        fields = _worker_fields(connection, worker.name)
        heartbeat = _aware(worker.last_heartbeat)
        rows.append({
            "name": worker.name,
            "state": worker.get_state(),
            "alive": worker_liveness(fields),
            "queues": worker.queue_names(),
            "current_job": worker.get_current_job_id(),
            "last_heartbeat": heartbeat.isoformat() if heartbeat else None,
            "heartbeat_age_seconds": (now - heartbeat).total_seconds() if heartbeat else None,
            "successful_jobs": worker.successful_job_count,
            "failed_jobs": worker.failed_job_count,
            "working_seconds": worker.total_working_time,
            "hostname": worker.hostname,
            "pid": worker.pid,
        })
    return sorted(rows, key=lambda r: r["name"])


def snapshot(connection: Redis, queue_names, now: datetime) -> dict:
    """Queues and workers as one JSON-ready dict."""
    return {
        "queues": [queue_stats(q, now) for q in queues(connection, queue_names)],
        "workers": worker_rows(connection, now),
    }
