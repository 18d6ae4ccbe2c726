"""Accepting a ping: validate, archive durably, then queue. Shared by HTTP and `pingtally import`."""
from __future__ import annotations

from dataclasses import dataclass

from workers.installations import format_timestamp, utc_now
from workers.payloads import check_depth, dump_json, pack_archive
from workers.queue import try_enqueue

from .schemas import load_envelope


@dataclass(frozen=True)
class Accepted:
    ping_id: int
    duplicate: bool
    queued: bool


def accept_ping(storage, queue, settings, payload: dict, raw: bytes | None = None,
                received_at: str | None = None, source: str = "http") -> Accepted:
    """Archive a payload and queue it. Raises marshmallow.ValidationError for a bad envelope.

    `raw` is the body exactly as received (kept as the source of truth); when it is None the
    payload is serialised. `queue` may be None to archive only (the ping then waits as pending).
    Raises PayloadError for JSON nested deeper than PINGTALLY_MAX_JSON_DEPTH.
    """
    check_depth(payload, settings.max_json_depth)
    envelope = load_envelope(payload)
    body = raw if raw is not None else dump_json(payload)
    result = storage.archive_ping(
        uuid=envelope["uuid"],
        hostname=envelope["hostname"],
        recorded_at=envelope["recorded_at"],
        received_at=received_at or format_timestamp(utc_now()),
        version=envelope["version"],
        edition=envelope.get("edition"),
        source=source,
        body=pack_archive(body),
        payload_bytes=len(body),
    )
    if not result.created:
        return Accepted(result.ping_id, duplicate=True, queued=False)
    queued = queue is not None and try_enqueue(storage, queue, result.ping_id, settings)
    return Accepted(result.ping_id, duplicate=False, queued=queued)
