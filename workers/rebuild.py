"""`pingtally rebuild`: recompute everything derived from the archive (snapshots, rollups).

Run it after a dictionary change. Pings are replayed in receive order; rebuilding twice gives
the same result, and the report says which months' rollups changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import processing, rollups


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
    for index, ping_id in enumerate(ping_ids, start=1):
        try:
            processing.process_ping(storage, ping_id, settings, force=True)
        except Exception as exc:  # one bad ping must not stop the rebuild
            report.failed.append((ping_id, f"{type(exc).__name__}: {exc}"))
        report.pings = index
        if progress and index % 500 == 0:
            progress(f"{index}/{len(ping_ids)} pings replayed")
    if first is None and last is None:
        storage.mark_dirty(storage.snapshot_months())
    rollups.refresh_dirty(storage, progress=(lambda m: progress(f"rollups of {m} refreshed"))
                          if progress else None)
    months_now = storage.snapshot_months()
    storage.drop_rollups_outside(months_now)
    for month in sorted(months_before | set(months_now)):
        report.months[month] = compare(before.get(month, {}), storage.rollup_fingerprint_rows(month))
    return report
