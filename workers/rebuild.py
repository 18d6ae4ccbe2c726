"""`pingtally rebuild`: recompute everything derived from the archive (snapshots, rollups).

Run it after a dictionary change. Pings are replayed in receive order; rebuilding twice gives
the same result, and the report says which months' rollups changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import processing, rollups

BATCH = 200  # pings per write transaction


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


def rebuild(storage, settings, first: str | None = None, last: str | None = None,
            progress=None) -> RebuildReport:
    report = RebuildReport()
    months_before = set(storage.rollup_months())
    before = {m: storage.rollup_fingerprint_rows(m) for m in months_before}
    storage.clear_derived(first, last)
    ping_ids = storage.ping_ids_in_months(first, last)
    for start in range(0, len(ping_ids), BATCH):
        batch = ping_ids[start:start + BATCH]
        outcomes = processing.process_batch(storage, batch, settings, force=True)
        # one bad ping must not stop the rebuild
        report.failed.extend((ping_id, f"{type(outcome).__name__}: {outcome}")
                             for ping_id, outcome in outcomes.items() if isinstance(outcome, Exception))
        report.pings = start + len(batch)
        if progress and (start // BATCH) % 10 == 9:
            progress(f"{report.pings}/{len(ping_ids)} pings replayed")
    if first is None and last is None:
        storage.mark_dirty(storage.snapshot_months())
    rollups.refresh_dirty(storage, progress=(lambda m: progress(f"rollups of {m} refreshed"))
                          if progress else None)
    months_now = storage.snapshot_months()
    storage.drop_rollups_outside(months_now)
    for month in sorted(months_before | set(months_now)):
        report.months[month] = compare(before.get(month, {}), storage.rollup_fingerprint_rows(month))
    return report
