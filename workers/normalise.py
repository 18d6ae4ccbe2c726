"""Payload normalisation: one walk over a ping, mapping leaves to dictionary metrics.

Rule 5 (DESIGN.md): a valid value is a number (not a boolean) >= 0. Anything else on a
dictionary metric is excluded and counted as a failure of that metric, named by its code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

KNOWN_FAILURE_CODES = {-1: "-1", -2: "-2", -3: "-3", -1000: "-1000"}
MAX_STORABLE = 2**63 - 1  # SQLite's INTEGER; a counter beyond it is not a count
FAILED_HISTOGRAM = {"-1": -1}


class MetricRef(NamedTuple):
    """What normalisation needs to know of a dictionary metric."""

    id: int
    time_frame: str
    rolls_up: bool  # 28d or all-time number: kept in the month's snapshot


@dataclass
class NormalisedPing:
    values: dict[int, int | float] = field(default_factory=dict)  # metric id -> valid value
    failures: dict[int, str] = field(default_factory=dict)  # metric id -> failure code
    valid_metric_ids: list[int] = field(default_factory=list)  # every metric seen valid
    unknown_keys: int = 0  # numeric leaves the dictionary does not define
    leaves: int = 0


def failure_code(value) -> str | None:
    """None for a valid value, else a short code saying why it is not one."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        if value > MAX_STORABLE:
            return "overflow"
        return None if value >= 0 else KNOWN_FAILURE_CODES.get(value, "negative")
    if isinstance(value, float):
        if not math.isfinite(value):
            return "not-finite"
        if 0 <= value <= MAX_STORABLE:
            return None
        if value > MAX_STORABLE:
            return "overflow"
        return KNOWN_FAILURE_CODES.get(int(value), "negative") if value.is_integer() else "negative"
    if value == FAILED_HISTOGRAM:
        return "histogram"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    return "not-a-number"


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def normalise(payload: dict, catalog: dict[str, MetricRef]) -> NormalisedPing:
    """Walk the payload once (iteratively: no recursion limit to hit on deep input)."""
    result = NormalisedPing()
    stack: list[tuple[str, dict]] = [("", payload)]
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            path = prefix + key
            ref = catalog.get(path)
            if ref is not None:
                result.leaves += 1
                # Fast path for the common case, a plain count (type() excludes bool).
                code = None if type(value) is int and 0 <= value <= MAX_STORABLE else failure_code(value)
                if code is None:
                    result.valid_metric_ids.append(ref.id)
                    if ref.rolls_up:
                        result.values[ref.id] = value
                else:
                    result.failures[ref.id] = code
            elif isinstance(value, dict):
                stack.append((path + ".", value))
            else:
                result.leaves += 1
                if is_number(value):
                    result.unknown_keys += 1
    return result
