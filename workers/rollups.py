"""Monthly rollups (DESIGN.md rules 9-12): refreshing the months pings touched.

The SQL lives in storage; this module decides which months to refresh and in what order.
A refresh reads in one consistent snapshot and writes in one short transaction, so ingest and
workers are never held up for the duration of the aggregation.
"""
from __future__ import annotations

from .installations import format_timestamp, utc_now

RULES_VERSION = "2026.11-1"
ESTIMATION_METHOD = "active-3-months-version-range-v1"


def previous_month(month: str, back: int) -> str:
    year, number = int(month[:4]), int(month[5:7]) - back
    while number <= 0:
        number += 12
        year -= 1
    return f"{year:04d}-{number:02d}"


def refresh_month(storage, month: str, seen_mark: int | None = None) -> int:
    """Recompute one month's rollups; returns the number of rows written."""
    with storage.read_snapshot():
        if seen_mark is None:
            seen_mark = storage.dirty_months().get(month)
        rows = storage.compute_rollups(month, previous_month(month, 2))
        fingerprint = storage.dictionary_fingerprint()
    storage.store_rollups(month, rows, seen_mark, format_timestamp(utc_now()), fingerprint)
    return len(rows)


def refresh_dirty(storage, months: list[str] | None = None, progress=None) -> list[str]:
    """Refresh every dirty month (or only those of `months`), oldest first."""
    dirty = storage.dirty_months()
    todo = [m for m in dirty if months is None or m in months]
    for month in todo:
        refresh_month(storage, month, dirty[month])
        if progress:
            progress(month)
    return todo


def ensure_fresh(storage, first: str | None = None, last: str | None = None) -> list[str]:
    """Before reading rollups of [first, last]: refresh any of those months still dirty."""
    months = [m for m in storage.dirty_months()
              if (first is None or m >= first) and (last is None or m <= last)]
    return refresh_dirty(storage, months) if months else []
