"""`pingtally import`: NDJSON of archived pings through the same door as HTTP."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import islice

from marshmallow import ValidationError

from workers.installations import format_timestamp, parse_timestamp
from workers.payloads import PayloadError, parse_object

from workers.queue import try_enqueue_batch

from .intake import accept_ping

MAX_REJECTS_KEPT = 1000
BATCH_SIZE = 50


@dataclass
class ImportReport:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    waiting: int = 0  # archived, but Redis was away: they wait for requeue-stuck
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejected_count: int = 0

    def reject(self, line_number: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTS_KEPT:
            self.rejected.append((line_number, reason))


def split_line(obj: dict) -> tuple[dict, str | None]:
    """A line is `{"received_at": ..., "payload": {...}}` or a bare payload (received now)."""
    if "payload" in obj and set(obj) <= {"payload", "received_at"}:
        payload = obj["payload"]
        if not isinstance(payload, dict):
            raise PayloadError("`payload` must be a JSON object")
        received_at = obj.get("received_at")
        if received_at is None:
            return payload, None
        try:
            return payload, format_timestamp(parse_timestamp(received_at))
        except (TypeError, ValueError):
            raise PayloadError(f"`received_at` is not an ISO 8601 timestamp: {received_at!r}") from None
    return obj, None


def describe_invalid(exc: ValidationError) -> str:
    messages = exc.normalized_messages()
    if isinstance(messages, dict):
        return "; ".join(f"{name}: {' '.join(map(str, errs))}" for name, errs in messages.items())
    return str(messages)


def import_lines(lines, storage, queue, settings, progress=None, progress_every: float = 2.0,
                 batch_size: int = BATCH_SIZE) -> ImportReport:
    """Archive every valid line, `batch_size` lines per transaction and per queue job."""
    report = ImportReport()
    last_progress = time.monotonic()
    numbered = enumerate(lines, start=1)
    for chunk in iter(lambda: list(islice(numbered, batch_size)), []):
        with storage.write():
            new_ids = [i for i in (_import_line(storage, settings, report, n, line)
                                   for n, line in chunk) if i is not None]
        if new_ids:
            queued = queue is not None and try_enqueue_batch(storage, queue, new_ids, settings)
            report.waiting += 0 if queued else len(new_ids)
        if progress and time.monotonic() - last_progress >= progress_every:
            progress(report)
            last_progress = time.monotonic()
    return report


def _import_line(storage, settings, report: ImportReport, number: int, line) -> int | None:
    """Archive one line; the new ping's id, or None (blank, duplicate or rejected)."""
    report.lines = number
    if not line.strip():
        return None
    try:
        payload, received_at = split_line(parse_object(line))
        accepted = accept_ping(storage, None, settings, payload, received_at=received_at,
                               source="import")
    except PayloadError as exc:
        report.reject(number, str(exc))
        return None
    except ValidationError as exc:
        report.reject(number, describe_invalid(exc))
        return None
    if accepted.duplicate:
        report.duplicates += 1
        return None
    report.accepted += 1
    return accepted.ping_id
