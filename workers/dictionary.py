"""The metric dictionary: the one owner of metric definitions.

pingtally reads GitLab's metric-definition YAML files as they are: point it at a GitLab
checkout's ``config/metrics`` and ``ee/config/metrics`` (``PINGTALLY_METRICS_DIRS``) or use the
default dictionary in ``fixtures/metrics``. Both the current definition schema (``tiers``,
``product_group: source_code``, ``status: active|broken|removed``) and the older one
(``product_section``/``product_stage``, ``product_group: group::source code``, ``tier``,
``status: data_available|implemented|deprecated|...``) are understood.

Rules (see DESIGN.md, "Metric dictionary"):

* Directories are walked recursively for ``*.yml``/``*.yaml``. JSON schema files are never read;
  the ``aggregates``, ``schema`` and ``objects_schemas`` folders and hidden folders are skipped
  (GitLab keeps aggregate definitions, not metrics, in ``config/metrics/aggregates``).
* ``time_frame`` as a list defines one metric per element: ``7d`` adds ``_weekly`` to the key
  path, ``28d`` adds ``_monthly``, ``all`` adds nothing.
* Stage: the file's ``product_stage`` when present, else the stage of its ``product_group`` in
  the :class:`~workers.stages.StageMap`, else ``"unknown"``. Section likewise.
* Activity: ``read`` for visit/view counters, ``write`` otherwise; a file may say
  ``activity: read|write``.
* Broken files never stop a load: each becomes a :class:`Problem`; so does a key path defined
  by two files (the file first in path order wins).

Pure domain code: no framework imports.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from .stages import StageMap, normalise_group, normalise_key

__all__ = [
    "ACTIVITIES",
    "INACTIVE_STATUSES",
    "TIME_FRAMES",
    "UNKNOWN_STAGE",
    "Dictionary",
    "Metric",
    "Problem",
    "activity_of",
    "check",
    "default_metrics_dir",
    "load_dictionary",
]

UNKNOWN_STAGE = "unknown"
TIME_FRAMES = ("7d", "28d", "all", "none")
VALUE_TYPES = ("number", "string", "boolean", "object")
ACTIVITIES = ("read", "write")

#: Statuses (lowercased) of metrics that no longer deliver trustworthy values: removed from the
#: payload (``removed``; old schema ``deprecated`` and ``not_used``) or known to report wrong
#: numbers (``broken``). Every other status - ``active``, and the old ``data_available`` and
#: ``implemented`` - counts as active. Inactive metrics are still loaded and still roll up
#: (old pings carry them), but they are ignored by the indicator checks and, by default, by
#: :meth:`Dictionary.with_indicator` / :meth:`Dictionary.for_stage`.
INACTIVE_STATUSES = frozenset({"removed", "deprecated", "not_used", "broken"})

#: Suffix added to a key path per element of a list ``time_frame``.
_LIST_SUFFIX = {"7d": "_weekly", "28d": "_monthly", "all": ""}

_SKIPPED_DIRS = frozenset({"aggregates", "schema", "objects_schemas"})
_YAML_SUFFIXES = (".yml", ".yaml")

_READ_PREFIXES = ("analytics_unique_visits.", "compliance_unique_visits.")
_READ_TOKENS = frozenset(
    {"visit", "visits", "visited", "view", "views", "viewed", "pageview", "pageviews"}
)
_TOKEN_SPLIT = re.compile(r"[._]+")
_KEY_PATH = re.compile(r"[^\s.]+(?:\.[^\s.]+)*")

# Problem kinds.
INVALID_FILE = "invalid_file"
INVALID_FIELD = "invalid_field"
MISSING_DIR = "missing_dir"
DUPLICATE_KEY_PATH = "duplicate_key_path"
UNKNOWN_STAGE_PROBLEM = "unknown_stage"
UNMAPPED_STAGE = "unmapped_stage"
SMAU_DOUBLE_COUNT = "smau_double_count"
UMAU_DOUBLE_COUNT = "umau_double_count"
GMAU_WITHOUT_GROUP = "gmau_without_group"
INDICATOR_NOT_ROLLED_UP = "indicator_not_rolled_up"


# --------------------------------------------------------------------------------------------
# YAML


def _definition_loader() -> type:
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class DefinitionLoader(base):  # type: ignore[misc, valid-type]
        """Safe loader that leaves float-looking scalars as strings.

        GitLab writes milestones such as ``8.10`` unquoted in some files; read as floats they
        would become ``8.1``. No field pingtally reads is a float.
        """

    DefinitionLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return DefinitionLoader


_Loader = _definition_loader()


# --------------------------------------------------------------------------------------------
# Data types


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with the dictionary: a broken file, a clash, a doubtful indicator."""

    kind: str
    key_path: str | None
    file: str | None
    message: str

    def __str__(self) -> str:
        where = " ".join(part for part in (self.file, self.key_path) if part)
        return f"[{self.kind}] {where + ': ' if where else ''}{self.message}"


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of the Service Ping payload, identified by its dotted ``key_path``."""

    key_path: str
    description: str
    group: str | None  # group key: normalised, renamed groups resolved to their successor
    stage: str  # UNKNOWN_STAGE when neither the file nor the mapping places it
    section: str | None
    time_frame: str  # one of TIME_FRAMES, after list expansion
    value_type: str  # one of VALUE_TYPES
    status: str  # as written in the file
    indicators: tuple[str, ...]  # performance_indicator_type, lowercase
    tiers: tuple[str, ...]
    activity: str  # "read" | "write"
    source: str  # the definition file
    milestone: str | None

    @property
    def active(self) -> bool:
        """False for removed, deprecated, not-used and broken metrics (see INACTIVE_STATUSES)."""
        return self.status.strip().lower() not in INACTIVE_STATUSES

    @property
    def rolls_up(self) -> bool:
        """True when the metric has a monthly value: a 28-day or all-time number."""
        return self.time_frame in ("28d", "all") and self.value_type == "number"

    def canonical(self) -> list[Any]:
        """The metric's facts, without its file path, in a fixed order (for fingerprints)."""
        return [
            self.key_path,
            self.description,
            self.group,
            self.stage,
            self.section,
            self.time_frame,
            self.value_type,
            self.status,
            list(self.indicators),
            list(self.tiers),
            self.activity,
            self.milestone,
        ]


class Dictionary:
    """All metric definitions loaded from one set of directories, and the problems met."""

    __slots__ = ("metrics", "problems", "fingerprint", "known_stages")

    def __init__(
        self,
        metrics: Iterable[Metric] | dict[str, Metric],
        problems: Iterable[Problem] = (),
        known_stages: Iterable[str] | None = None,
    ) -> None:
        if isinstance(metrics, dict):
            metrics = metrics.values()
        by_key: dict[str, Metric] = {}
        for metric in sorted(metrics, key=lambda m: m.key_path):
            if metric.key_path in by_key:
                raise ValueError(f"duplicate key_path {metric.key_path!r}")
            by_key[metric.key_path] = metric
        self.metrics: dict[str, Metric] = by_key
        self.problems: list[Problem] = list(problems)
        # Stages of the mapping used at load time; None when not known (no stage check).
        self.known_stages: frozenset[str] | None = (
            frozenset(known_stages) if known_stages is not None else None
        )
        self.fingerprint: str = _fingerprint(by_key.values())

    def get(self, key_path: str) -> Metric | None:
        """The metric with this key path, or None."""
        return self.metrics.get(key_path)

    def stages(self) -> list[str]:
        """Sorted distinct stages of all metrics (including ``unknown`` when present)."""
        return sorted({metric.stage for metric in self.metrics.values()})

    def with_indicator(self, name: str, *, include_inactive: bool = False) -> list[Metric]:
        """Metrics flagged with a performance indicator (``smau``, ``gmau``...), by key path.

        Only active metrics unless ``include_inactive``.
        """
        wanted = name.strip().lower()
        return [
            metric
            for metric in self.metrics.values()
            if wanted in metric.indicators and (include_inactive or metric.active)
        ]

    def for_stage(self, stage: str, *, include_inactive: bool = False) -> list[Metric]:
        """Metrics of a stage, by key path. Only active metrics unless ``include_inactive``."""
        wanted = normalise_key(stage)
        return [
            metric
            for metric in self.metrics.values()
            if metric.stage == wanted and (include_inactive or metric.active)
        ]

    def __len__(self) -> int:
        return len(self.metrics)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self.metrics.values())

    def __contains__(self, key_path: object) -> bool:
        return key_path in self.metrics

    def __repr__(self) -> str:
        return (
            f"Dictionary({len(self.metrics)} metrics, {len(self.problems)} problems, "
            f"fingerprint={self.fingerprint[:12]})"
        )


def _fingerprint(metrics: Iterable[Metric]) -> str:
    rows = sorted(metric.canonical() for metric in metrics)
    text = json.dumps(["pingtally-dictionary/1", rows], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Activity


def activity_of(key_path: str) -> str:
    """``read`` for metrics counting visits or page views, else ``write``.

    Read: key paths under ``analytics_unique_visits.`` / ``compliance_unique_visits.``, or
    whose last segment has a whole token (split on ``_`` and ``.``) such as ``visits``,
    ``views`` or ``pageviews``. ``reviewed`` or ``preview`` do not match.
    """
    if key_path.startswith(_READ_PREFIXES):
        return "read"
    last = key_path.rsplit(".", 1)[-1].lower()
    if any(token in _READ_TOKENS for token in _TOKEN_SPLIT.split(last)):
        return "read"
    return "write"


# --------------------------------------------------------------------------------------------
# Loading


def default_metrics_dir() -> Path:
    """The default dictionary shipped with pingtally (``fixtures/metrics``)."""
    return Path(__file__).resolve().parents[1] / "fixtures" / "metrics"


def load_dictionary(dirs: Iterable[str | Path], stage_map: StageMap) -> Dictionary:
    """Load every metric definition below ``dirs``. Never raises for bad content: broken
    files, missing directories and clashing key paths end up in ``Dictionary.problems``."""
    problems: list[Problem] = []
    files: dict[str, str] = {}
    for entry in dirs:
        base = os.path.abspath(os.fspath(entry))
        if os.path.isfile(base):
            files.setdefault(base, base)
        elif os.path.isdir(base):
            for path in _definition_files(base):
                files.setdefault(path, path)
        else:
            problems.append(
                Problem(MISSING_DIR, None, str(entry), "metrics directory does not exist")
            )

    metrics: dict[str, Metric] = {}
    for path in sorted(files):
        found, file_problems = _parse_file(path, stage_map)
        problems.extend(file_problems)
        for metric in found:
            first = metrics.get(metric.key_path)
            if first is not None:
                problems.append(
                    Problem(
                        DUPLICATE_KEY_PATH,
                        metric.key_path,
                        path,
                        f"key_path already defined by {first.source}; this definition is ignored",
                    )
                )
                continue
            metrics[metric.key_path] = metric
    return Dictionary(metrics.values(), problems, known_stages=stage_map.stages())


def _definition_files(base: str) -> Iterator[str]:
    for root, subdirs, names in os.walk(base):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        for name in names:
            if name.endswith(_YAML_SUFFIXES) and not name.startswith("."):
                yield os.path.join(root, name)


def _parse_file(path: str, stage_map: StageMap) -> tuple[list[Metric], list[Problem]]:
    """Metrics defined by one file, and the problems found in it."""

    def invalid(message: str, key_path: str | None = None) -> tuple[list[Metric], list[Problem]]:
        return [], [Problem(INVALID_FILE, key_path, path, message)]

    try:
        with open(path, "rb") as handle:
            data = yaml.load(handle.read(), Loader=_Loader)  # noqa: S506 - safe loader subclass
    except OSError as exc:
        return invalid(f"cannot read file: {exc.strerror or exc}")
    except yaml.YAMLError as exc:
        return invalid(f"YAML syntax error: {' '.join(str(exc).split())}")

    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        return invalid(f"not a metric definition: expected a mapping, got {kind}")

    key_path = data.get("key_path")
    if not isinstance(key_path, str) or not key_path.strip():
        return invalid("missing or empty key_path")
    key_path = key_path.strip()
    if not _KEY_PATH.fullmatch(key_path):
        return invalid(f"key_path {key_path!r} is not a dotted path", key_path)

    value_type = data.get("value_type")
    if not isinstance(value_type, str) or value_type.strip().lower() not in VALUE_TYPES:
        return invalid(f"value_type {value_type!r} is not one of {', '.join(VALUE_TYPES)}", key_path)
    value_type = value_type.strip().lower()

    status = data.get("status")
    if not isinstance(status, str) or not status.strip():
        return invalid("missing or empty status", key_path)
    status = status.strip()

    expanded = _expand_time_frame(key_path, data.get("time_frame"))
    if expanded is None:
        return invalid(
            f"time_frame {data.get('time_frame')!r} is not one of {', '.join(TIME_FRAMES)} "
            "or a list of 7d/28d/all",
            key_path,
        )

    problems: list[Problem] = []

    def field_problem(message: str) -> None:
        problems.append(Problem(INVALID_FIELD, key_path, path, message))

    # Group, stage, section.
    raw_group = data.get("product_group")
    group: str | None = None
    info = None
    if isinstance(raw_group, str) and raw_group.strip():
        info = stage_map.group(raw_group)
        group = info.key if info is not None else normalise_group(raw_group)
    elif raw_group not in (None, ""):
        field_problem(f"product_group {raw_group!r} is not a string; ignored")

    own_stage = _optional_key(data.get("product_stage"))
    own_section = _optional_key(data.get("product_section"))
    if own_stage:
        stage = own_stage
        section = own_section or stage_map.section_of_stage(stage)
    elif info is not None:
        stage = info.stage
        section = own_section or info.section
    else:
        stage = UNKNOWN_STAGE
        section = own_section

    indicators = _string_tuple(data.get("performance_indicator_type"))
    if indicators is None:
        field_problem("performance_indicator_type is not a list of strings; ignored")
        indicators = ()
    raw_tiers = data.get("tiers")
    if raw_tiers is None:
        raw_tiers = data.get("tier")
    tiers = _string_tuple(raw_tiers)
    if tiers is None:
        field_problem("tiers is not a list of strings; ignored")
        tiers = ()

    override = data.get("activity")
    if override is not None and (
        not isinstance(override, str) or override.strip().lower() not in ACTIVITIES
    ):
        field_problem(f"activity {override!r} is not read or write; using the key path rule")
        override = None

    description = data.get("description")
    description = description.strip() if isinstance(description, str) else ""
    milestone = data.get("milestone")
    if milestone is not None and not isinstance(milestone, (dict, list)):
        milestone = str(milestone).strip() or None
    else:
        milestone = None

    metrics = [
        Metric(
            key_path=expanded_key,
            description=description,
            group=group,
            stage=stage,
            section=section,
            time_frame=time_frame,
            value_type=value_type,
            status=status,
            indicators=indicators,
            tiers=tiers,
            activity=override.strip().lower() if override else activity_of(expanded_key),
            source=path,
            milestone=milestone,
        )
        for expanded_key, time_frame in expanded
    ]
    return metrics, problems


def _expand_time_frame(key_path: str, raw: Any) -> list[tuple[str, str]] | None:
    """(key_path, time_frame) pairs a definition stands for, or None when invalid."""
    if isinstance(raw, str):
        value = raw.strip().lower()
        return [(key_path, value)] if value in TIME_FRAMES else None
    if isinstance(raw, list) and raw:
        pairs: list[tuple[str, str]] = []
        seen: set[str] = set()
        for item in raw:
            value = item.strip().lower() if isinstance(item, str) else None
            if value not in _LIST_SUFFIX:
                return None
            if value not in seen:
                seen.add(value)
                pairs.append((key_path + _LIST_SUFFIX[value], value))
        return pairs
    return None


def _optional_key(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return normalise_key(value)
    return None


def _string_tuple(value: Any) -> tuple[str, ...] | None:
    """Lowercased, de-duplicated strings of a list (or a single string); None if malformed."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return tuple(dict.fromkeys(item.strip().lower() for item in value if item.strip()))


# --------------------------------------------------------------------------------------------
# Checks


def check(dictionary: Dictionary) -> list[Problem]:
    """Everything ``pingtally dictionary check`` reports, in a stable order.

    * the load problems (invalid files and fields, missing directories, duplicate key paths);
    * metrics whose stage is ``unknown``, and metrics whose own ``product_stage`` is not a
      stage of the mapping (stale stage names such as ``release`` or ``enablement``);
    * for active metrics only: a stage with more than one ``smau`` metric (its users would be
      counted twice), more than one ``umau`` metric, a ``gmau``/``paid_gmau`` metric without a
      group, and an indicator on a metric that has no monthly value.
    """
    problems = list(dictionary.problems)
    metrics = list(dictionary.metrics.values())
    known = dictionary.known_stages

    for metric in metrics:
        if metric.stage == UNKNOWN_STAGE:
            reason = (
                f"product_group {metric.group!r} is not in the stage mapping"
                if metric.group
                else "no product_group or product_stage"
            )
            problems.append(
                Problem(UNKNOWN_STAGE_PROBLEM, metric.key_path, metric.source, f"stage unknown: {reason}")
            )
        elif known is not None and metric.stage not in known:
            problems.append(
                Problem(
                    UNMAPPED_STAGE,
                    metric.key_path,
                    metric.source,
                    f"stage {metric.stage!r} (from product_stage) is not a stage of the mapping",
                )
            )

    active = [metric for metric in metrics if metric.active]

    smau_by_stage: dict[str, list[Metric]] = defaultdict(list)
    for metric in active:
        if "smau" in metric.indicators:
            smau_by_stage[metric.stage].append(metric)
    for stage in sorted(smau_by_stage):
        flagged = smau_by_stage[stage]
        if len(flagged) > 1:
            problems.append(
                Problem(
                    SMAU_DOUBLE_COUNT,
                    None,
                    None,
                    f"stage {stage!r} has {len(flagged)} active smau metrics "
                    f"({', '.join(m.key_path for m in flagged)}): its SMAU would count users twice",
                )
            )

    umau = [metric for metric in active if "umau" in metric.indicators]
    if len(umau) > 1:
        problems.append(
            Problem(
                UMAU_DOUBLE_COUNT,
                None,
                None,
                f"{len(umau)} active umau metrics ({', '.join(m.key_path for m in umau)}): "
                "UMAU expects exactly one",
            )
        )

    for metric in active:
        flags = [name for name in ("gmau", "paid_gmau") if name in metric.indicators]
        if flags and not metric.group:
            problems.append(
                Problem(
                    GMAU_WITHOUT_GROUP,
                    metric.key_path,
                    metric.source,
                    f"flagged {'/'.join(flags)} but has no product_group",
                )
            )
        xmau = [name for name in ("smau", "gmau", "paid_gmau", "umau") if name in metric.indicators]
        if xmau and not metric.rolls_up:
            problems.append(
                Problem(
                    INDICATOR_NOT_ROLLED_UP,
                    metric.key_path,
                    metric.source,
                    f"flagged {'/'.join(xmau)} but a {metric.time_frame} {metric.value_type} "
                    "metric has no monthly value",
                )
            )
    return problems
