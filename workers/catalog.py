"""The metric dictionary as the workers use it: loaded from YAML into SQLite, read back cached.

Every process reads the same dictionary from the database, so web and workers always agree;
`pingtally dictionary load` replaces it (then `pingtally rebuild` applies it to the archive).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .dictionary import Dictionary, default_metrics_dir, load_dictionary
from .normalise import MetricRef
from .stages import StageMap

ROLLED_UP_TIME_FRAMES = ("28d", "all")


def configured_dictionary(settings) -> Dictionary:
    """Read the YAML dictionary named by the settings (the bundled one by default)."""
    stage_map = StageMap.load(settings.stages_file)
    dirs = list(settings.metrics_dirs) or [default_metrics_dir()]
    return load_dictionary(dirs, stage_map)


def metric_row(metric) -> dict:
    indicators = set(metric.indicators)
    return {
        "key_path": metric.key_path,
        "stage": metric.stage,
        "section": metric.section,
        "product_group": metric.group,
        "time_frame": metric.time_frame,
        "value_type": metric.value_type,
        "status": metric.status,
        "active": int(metric.active),
        "activity": metric.activity,
        "indicators": ",".join(metric.indicators),
        # Indicator flags count only for active metrics: a removed metric no longer measures.
        "is_smau": int(metric.active and "smau" in indicators),
        "is_gmau": int(metric.active and "gmau" in indicators),
        "is_paid_gmau": int(metric.active and "paid_gmau" in indicators),
        "is_umau": int(metric.active and "umau" in indicators),
        "tiers": ",".join(metric.tiers),
        "milestone": metric.milestone,
        "description": metric.description,
        "source": metric.source,
    }


def store(storage, dictionary: Dictionary) -> dict:
    return storage.store_dictionary([metric_row(m) for m in dictionary], dictionary.fingerprint)


def ensure_loaded(storage, settings) -> None:
    """Load the configured dictionary into a database that has none yet."""
    if storage.dictionary_fingerprint() is None:
        store(storage, configured_dictionary(settings))


@dataclass(frozen=True)
class Catalog:
    fingerprint: str
    refs: dict[str, MetricRef]

    @cached_property
    def all_time_ids(self) -> frozenset[int]:
        return frozenset(ref.id for ref in self.refs.values() if ref.time_frame == "all")


_cache: dict[str, Catalog] = {}


def catalog_for(storage, settings) -> Catalog:
    """The loaded dictionary as key_path -> MetricRef, cached per process by fingerprint."""
    fingerprint = storage.dictionary_fingerprint()
    if fingerprint is None:
        ensure_loaded(storage, settings)
        fingerprint = storage.dictionary_fingerprint()
    cached = _cache.get(str(storage.path))
    if cached is None or cached.fingerprint != fingerprint:
        refs = {key_path: MetricRef(metric_id, time_frame, time_frame in ROLLED_UP_TIME_FRAMES)
                for metric_id, key_path, time_frame in storage.catalog_rows()}
        cached = _cache[str(storage.path)] = Catalog(fingerprint, refs)
    return cached
