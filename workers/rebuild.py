"""`pingtally rebuild`: recompute everything derived from the archive (snapshots, rollups).

Run it after a dictionary change. Pings are replayed month by month, each month's latest ping
first: processing is order-independent, so the result is that of receive order, and the
month's earlier pings then leave its snapshot alone instead of writing it and being replaced.
Rebuilding twice gives the same result; the report says which months' rollups changed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import processing, rollups

BATCH = 100  # pings read and parsed together
# The write lock is held for about this long (at most one batch more), well under the 5 s
# default busy timeout, so ingest keeps answering while a rebuild runs.
TRANSACTION_SECONDS = 2.0


@dataclass
class RebuildReport:
    pings: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    months: dict[str, dict] = field(default_factory=dict)  # month -> added/removed/changed

    @property
    def changed_months(self) -> list[str]:
        return [m for m, c in self.months.items() if any(c.values())]


def compare(before: dict, after: dict) -> dict:
    return {
        "added": sum(1 for k in after if k not in before),
        "removed": sum(1 for k in before if k not in after),
        "changed": sum(1 for k in after if k in before and before[k] != after[k]),
    }


def _replay(storage, batch: list[int], settings, report: RebuildReport) -> None:
    outcomes = processing.process_batch(storage, batch, settings, force=True)
    # one bad ping must not stop the rebuild
    report.failed.extend((ping_id, f"{type(outcome).__name__}: {outcome}")
                         for ping_id, outcome in outcomes.items() if isinstance(outcome, Exception))
    report.pings += len(batch)


def rebuild(storage, settings, first: str | None = None, last: str | None = None,
            progress=None) -> RebuildReport:
    report = RebuildReport()
    months_before = set(storage.rollup_months())
    before = {m: storage.rollup_fingerprint_rows(m) for m in months_before}
    storage.clear_derived(first, last)
    months = storage.ping_ids_by_month(first, last)
    total = sum(len(ids) for ids in months.values())
    for month, ping_ids in months.items():
        start = 0
        while start < len(ping_ids):
            # A month's snapshot rows go into one key range per metric, spread across it, so
            # each commit rewrites pages all over the range: committing every few hundred pings
            # made the time per ping grow with the fleet. One commit every
            # TRANSACTION_SECONDS writes each page a few times per month (bench/README.md).
            with storage.write():
                opened = time.monotonic()
                while True:
                    _replay(storage, ping_ids[start:start + BATCH], settings, report)
                    start += BATCH
                    if start >= len(ping_ids) or time.monotonic() - opened >= TRANSACTION_SECONDS:
                        break
            if progress:
                progress(f"{month}: {report.pings:,}/{total:,} pings replayed")
    if first is None and last is None:
        storage.mark_dirty(storage.snapshot_months())
    rollups.refresh_dirty(storage, progress=(lambda m: progress(f"rollups of {m} refreshed"))
                          if progress else None)
    months_now = storage.snapshot_months()
    storage.drop_rollups_outside(months_now)
    for month in sorted(months_before | set(months_now)):
        report.months[month] = compare(before.get(month, {}), storage.rollup_fingerprint_rows(month))
    return report
