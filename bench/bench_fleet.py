"""Benchmark data: a dictionary that defines every counter, and realistic ~2,000-counter pings."""
from __future__ import annotations

import json
from pathlib import Path

from workers.fleet import Fleet, MetricSpec, month_start, padding_specs

STAGES = ["plan", "create", "verify", "package", "deploy", "secure", "govern", "monitor"]
GROUPS = {"plan": "project_management", "create": "source_code", "verify": "pipeline_execution",
          "package": "package_registry", "deploy": "environments", "secure": "static_analysis",
          "govern": "compliance", "monitor": "respond"}


def bench_specs(counters: int = 2000) -> list[MetricSpec]:
    specs = padding_specs(counters)
    return [MetricSpec(s.key_path, s.time_frame, STAGES[i % len(STAGES)]) for i, s in enumerate(specs)]


def write_dictionary(directory: Path, specs: list[MetricSpec], rolled_up_limit: int | None = None) -> Path:
    """One YAML definition per counter; at most `rolled_up_limit` 28d/all metrics (others 7d)."""
    directory.mkdir(parents=True, exist_ok=True)
    rolled = 0
    smau_done: set[str] = set()
    for i, spec in enumerate(specs):
        time_frame = spec.time_frame
        if time_frame in ("28d", "all"):
            rolled += 1
            if rolled_up_limit is not None and rolled > rolled_up_limit:
                time_frame = "7d"
        indicators = []
        if time_frame == "28d" and spec.stage not in smau_done:
            indicators = ["smau", "gmau", "paid_gmau"]
            smau_done.add(spec.stage)
        (directory / f"m{i:05d}.yml").write_text(
            f"key_path: {spec.key_path}\n"
            f"description: benchmark counter {i}\n"
            f"product_group: {GROUPS[spec.stage]}\n"
            "value_type: number\nstatus: active\n"
            f"time_frame: {time_frame}\n"
            "data_source: database\ndata_category: optional\n"
            f"performance_indicator_type: {json.dumps(indicators)}\n"
            "tiers: [free, premium, ultimate]\nmilestone: '16.0'\n")
    return directory


def write_pings(path: Path, specs: list[MetricSpec], installations: int, months: int,
                seed: int = 11, weeks: int | None = None, monthly: bool = False) -> int:
    """Weekly pings (or one every 4 weeks with `monthly`) as NDJSON import lines."""
    fleet = Fleet(specs, installations=installations, seed=seed, failure_rate=0.005)
    count = 0
    with path.open("w") as out:
        for received_at, payload in fleet.pings(month_start(months - 1), weeks or months * 52 // 12,
                                                every=4 if monthly else 1):
            out.write(json.dumps({"received_at": received_at, "payload": payload}) + "\n")
            count += 1
    return count
