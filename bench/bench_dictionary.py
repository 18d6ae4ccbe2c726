"""Time loading a GitLab-sized metric dictionary.

Writes N small definition files (default 2,500; a mix of current- and old-schema files, spread
over counts_7d/counts_28d/counts_all/settings like a GitLab checkout) into a temporary
directory, then loads them with workers.dictionary.load_dictionary and prints the time.

    python bench/bench_dictionary.py [N] [--repeat R]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.dictionary import load_dictionary  # noqa: E402
from workers.stages import StageMap  # noqa: E402

GROUPS = ["source_code", "code_review", "pipeline_execution", "environments", "optimize",
          "compliance", "static_analysis", "package_registry", "geo", "respond"]
FOLDERS = {"7d": "counts_7d", "28d": "counts_28d", "all": "counts_all", "none": "settings"}

CURRENT = """---
key_path: {key}
description: Generated metric number {i} for the loading benchmark.
product_group: {group}
product_categories:
- category_{i}
value_type: number
status: active
milestone: "16.{minor}"
introduced_by_url: https://example.invalid/merge_requests/{i}
time_frame: {time_frame}
data_source: internal_events
data_category: optional
instrumentation_class: CountDistinctUsersMetric
events:
- name: event_{i}
  unique: user.id
performance_indicator_type: []
tiers:
- free
- premium
- ultimate
"""

OLD = """---
data_category: Optional
key_path: {key}
description: Generated metric number {i} for the loading benchmark.
product_section: dev
product_stage: create
product_group: group::{label}
product_category: category_{i}
value_type: number
status: data_available
time_frame: {time_frame}
data_source: redis_hll
distribution:
- ce
- ee
tier:
- free
- premium
- ultimate
performance_indicator_type: []
milestone: "<13.9"
"""


def generate(root: Path, count: int) -> None:
    frames = list(FOLDERS)
    for i in range(count):
        time_frame = frames[i % len(frames)]
        group = GROUPS[i % len(GROUPS)]
        folder = root / FOLDERS[time_frame]
        folder.mkdir(parents=True, exist_ok=True)
        template = OLD if i % 3 == 0 else CURRENT
        text = template.format(
            key=f"redis_hll_counters.bench_{group}.metric_{i}", i=i, group=group,
            label=group.replace("_", " "), time_frame=time_frame, minor=i % 12,
        )
        (folder / f"2024{i:010d}_metric_{i}.yml").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    stage_map = StageMap.load()
    with tempfile.TemporaryDirectory(prefix="pingtally-bench-") as tmp:
        root = Path(tmp) / "config" / "metrics"
        generate(root, args.count)
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            dictionary = load_dictionary([root], stage_map)
            timings.append(time.perf_counter() - start)
    print(
        f"{args.count} files -> {len(dictionary)} metrics, {len(dictionary.problems)} problems; "
        f"load best {min(timings):.3f}s, worst {max(timings):.3f}s over {args.repeat} runs"
    )


if __name__ == "__main__":
    main()
