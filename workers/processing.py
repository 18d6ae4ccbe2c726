"""What a worker does with one archived ping. No Flask, no RQ: callable from jobs, CLI and tests."""
from __future__ import annotations

from dataclasses import dataclass

from .catalog import catalog_for
from .installations import (deployment_of, format_timestamp, is_paid, tier_of, utc_now,
                            version_key, version_minor)
from .normalise import MAX_STORABLE, normalise
from .payloads import parse_object, unpack_archive

ACTIVE_WINDOW_MONTHS = 3  # rule 11: the month and the two before it
WRITE_CHUNK = 50  # pings per write transaction in a batch (= a whole import batch)


class PingNotFound(LookupError):
    """The ping id is not in the archive."""


def load_payload(storage, ping_id: int) -> dict:
    blob = storage.payload_blob(ping_id)
    if blob is None:
        raise PingNotFound(f"ping {ping_id} is not in the archive")
    return parse_object(unpack_archive(blob))


@dataclass
class Prepared:
    """A ping read, parsed and normalised: the work done before taking the write lock."""

    ping: dict
    payload: dict
    normalised: object


def prepare(storage, ping_id: int, catalog, force: bool = False) -> Prepared | None:
    """None when the ping is already processed (and not forced)."""
    ping = storage.ping(ping_id)
    if ping is None:
        raise PingNotFound(f"ping {ping_id} is not in the archive")
    if ping["status"] == "processed" and not force:
        return None
    payload = load_payload(storage, ping_id)
    return Prepared(ping, payload, normalise(payload, catalog.refs))


def apply(storage, prepared: Prepared, catalog) -> str:
    """Write one prepared ping (call inside a write transaction)."""
    ping, payload, normalised = prepared.ping, prepared.payload, prepared.normalised
    installation_id = record_installation(storage, ping, payload)
    replaced = apply_to_month(storage, installation_id, ping, payload, normalised,
                              catalog.all_time_ids)
    storage.set_ping_counts(ping["id"], normalised.leaves, normalised.unknown_keys,
                            len(normalised.failures))
    storage.mark_processed(ping["id"], format_timestamp(utc_now()))
    return "processed" if replaced else "processed (not the month's last ping)"


def process_ping(storage, ping_id: int, settings, force: bool = False) -> str:
    """Apply one ping to everything derived from it. Idempotent: a second run changes nothing."""
    catalog = catalog_for(storage, settings)
    prepared = prepare(storage, ping_id, catalog, force)
    if prepared is None:
        return "already processed"
    with storage.write():
        return apply(storage, prepared, catalog)


def process_batch(storage, ping_ids: list[int], settings, force: bool = False) -> dict:
    """Several pings: all reading and parsing first, then one write transaction in which each
    ping has its own savepoint. Returns ping id -> outcome, or the exception that ping raised.

    Holding the write lock once per batch, and only for the writes, is what lets several
    workers share one SQLite file without queueing on each other.
    """
    catalog = catalog_for(storage, settings)
    outcomes: dict[int, object] = {}
    ready: list[Prepared] = []
    for ping_id in ping_ids:
        try:
            prepared = prepare(storage, ping_id, catalog, force)
        except Exception as exc:  # noqa: BLE001 - reported per ping
            outcomes[ping_id] = exc
            continue
        if prepared is None:
            outcomes[ping_id] = "already processed"
        else:
            ready.append(prepared)
    # One write transaction per chunk: fewer lock hand-overs between workers (each hand-over
    # also empties the other connection's page cache). Measured against chunks of 10 in
    # bench/run.py: two workers came out slower than one with the smaller chunks.
    for start in range(0, len(ready), WRITE_CHUNK):
        with storage.write():
            for prepared in ready[start:start + WRITE_CHUNK]:
                try:
                    with storage.write():  # a savepoint: one bad ping does not undo the rest
                        outcomes[prepared.ping["id"]] = apply(storage, prepared, catalog)
                except Exception as exc:  # noqa: BLE001 - reported per ping
                    outcomes[prepared.ping["id"]] = exc
    return outcomes


def record_installation(storage, ping: dict, payload: dict) -> int:
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
    return storage.installation_id(ping["uuid"], ping["hostname"])


def apply_to_month(storage, installation_id: int, ping: dict, payload: dict, normalised,
                   all_time_ids: frozenset[int]) -> bool:
    """Rules 3-6: make this ping its month's snapshot if it is the month's last; True if it did."""
    month = ping["month"]
    key = version_key_text(ping["version"])
    if storage.widen_version_ranges(normalised.valid_metric_ids, key):
        storage.mark_all_months_dirty()  # rule 11: active installations may change anywhere
    current = storage.snapshot_key(installation_id, month)
    if current is not None and current > (ping["received_at"], ping["id"]):
        return False
    months = storage.snapshot_months_of(installation_id)
    in_order = not months or months[-1] <= month
    # The usual case, pings arriving in time order: rule 6 is applied here from the previous
    # month's values. Otherwise (a late ping for an earlier month) it is recomputed in SQL for
    # this month and every later one.
    monthly = monthly_values(storage, installation_id, month, months, normalised.values,
                             [m for m in normalised.values if m in all_time_ids]) if in_order else None
    tier = tier_of(ping["edition"])
    storage.replace_snapshot(
        {
            "installation_id": installation_id,
            "month": month,
            "ping_id": ping["id"],
            "received_at": ping["received_at"],
            "version": ping["version"],
            "version_key": key,
            "version_minor": version_minor(ping["version"]),
            "edition": ping["edition"],
            "tier": tier,
            "paid": int(is_paid(tier)),
            "deployment": deployment_of(ping["uuid"], payload.get("gitlab_dedicated")),
            "installation_type": _text(payload.get("installation_type")),
        },
        normalised.values,
        normalised.failures,
        monthly,
    )
    if not in_order:
        storage.recompute_monthly_values(installation_id, month)
    # This month, the months whose deltas follow from it, and the 2 months whose active window
    # includes it.
    storage.mark_dirty([month, *following_months(month, ACTIVE_WINDOW_MONTHS - 1),
                        *(m for m in months if m > month)])
    return True


def monthly_values(storage, installation_id: int, month: str, months: list[str], values: dict,
                   all_time: list[int]) -> dict[int, float]:
    """Rule 6 for all-time counters: growth since the most recent earlier month with a value."""
    earlier = [m for m in months if m < month]
    if not all_time or not earlier:
        return {}
    previous = storage.values_in_month(installation_id, earlier[-1])
    missing = [m for m in all_time if m not in previous]
    if missing and len(earlier) > 1:
        previous.update(storage.latest_values_before(installation_id, earlier[-1], missing))
    return {m: max(0, values[m] - previous[m]) if m in previous else values[m] for m in all_time}


def version_key_text(version: str | None) -> str:
    """A version as text that sorts like the version: '16.11.2-ee' -> '00016.00011.00002'."""
    parts = list(version_key(version)) or [0]
    return ".".join(f"{p:05d}" for p in (parts + [0, 0, 0])[:3])


def following_months(month: str, count: int) -> list[str]:
    year, number = int(month[:4]), int(month[5:7])
    months = []
    for _ in range(count):
        year, number = (year + 1, 1) if number == 12 else (year, number + 1)
        months.append(f"{year:04d}-{number:02d}")
    return months


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_STORABLE
