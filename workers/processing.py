"""What a worker does with one archived ping. No Flask, no RQ: callable from jobs, CLI and tests."""
from __future__ import annotations

from .installations import deployment_of, format_timestamp, tier_of, utc_now
from .payloads import parse_object, unpack_archive


class PingNotFound(LookupError):
    """The ping id is not in the archive."""


def load_payload(storage, ping_id: int) -> dict:
    blob = storage.payload_blob(ping_id)
    if blob is None:
        raise PingNotFound(f"ping {ping_id} is not in the archive")
    return parse_object(unpack_archive(blob))


def process_ping(storage, ping_id: int) -> str:
    """Apply one ping to everything derived from it. Idempotent: a second run changes nothing."""
    ping = storage.ping(ping_id)
    if ping is None:
        raise PingNotFound(f"ping {ping_id} is not in the archive")
    if ping["status"] == "processed":
        return "already processed"
    payload = load_payload(storage, ping_id)
    with storage.write():
        record_installation(storage, ping, payload)
        storage.mark_processed(ping_id, format_timestamp(utc_now()))
    return "processed"


def record_installation(storage, ping: dict, payload: dict) -> None:
    active_users = payload.get("active_user_count")
    storage.upsert_installation(
        uuid=ping["uuid"],
        hostname=ping["hostname"],
        seen_at=ping["received_at"],
        ping_id=ping["id"],
        version=ping["version"],
        edition=ping["edition"],
        tier=tier_of(ping["edition"]),
        deployment=deployment_of(ping["uuid"], payload.get("gitlab_dedicated")),
        installation_type=_text(payload.get("installation_type")),
        active_user_count=active_users if _is_count(active_users) else None,
        unique_instance_id=_text(payload.get("unique_instance_id")),
    )


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
