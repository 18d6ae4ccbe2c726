"""Operator arithmetic: error fingerprints, silent installations and their cohorts.

Pure functions over rows the storage returns; no I/O.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .installations import format_timestamp, parse_timestamp, version_minor

SILENT_AFTER = timedelta(days=10)  # installations ping weekly; three missed weeks is a signal
COHORT_MIN = 3
SAMPLES = 5

# Order matters: quoted values and URLs first, so the digits inside them are not replaced twice.
_NORMALISERS = [
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\""), "<str>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I), "<url>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"(?<![\w<>/.-])(?:~|\.{1,2})?(?:/[\w.@+~-]+)+/?"), "<path>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}"
                r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I),
     "<hex>"),
    (re.compile(r"(?<![A-Za-z0-9_<.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.I), "<n>"),
    (re.compile(r"\s+"), " "),
]
_ERROR_TEXT = re.compile(r"^([A-Za-z_][\w.]*): ?(.*)$", re.S)


def normalise_message(message: str | None) -> str:
    """A message with the parts that vary between occurrences (numbers, ids, paths, quoted
    values) replaced by placeholders, so equal causes compare equal."""
    text = message or ""
    for pattern, placeholder in _NORMALISERS:
        text = pattern.sub(placeholder, text)
    return text.strip()


def split_error(error: str | None) -> tuple[str, str]:
    """`TypeName: message` (as workers.jobs.describe_error writes it) -> (type, message)."""
    match = _ERROR_TEXT.match(error or "")
    if match:
        return match.group(1), match.group(2)
    return "", error or ""


def fingerprint_of(exception: str, normalised: str) -> str:
    return hashlib.sha1(f"{exception}\n{normalised}".encode()).hexdigest()[:12]


def error_fingerprint(error: str | None) -> str:
    exception, message = split_error(error)
    return fingerprint_of(exception, normalise_message(message))


@dataclass
class FailureGroup:
    fingerprint: str
    exception: str
    message: str  # normalised
    count: int = 0
    sample_ping_ids: list[int] = field(default_factory=list)
    example: str = ""  # one error text exactly as recorded
    last_failed_at: str | None = None

    def as_dict(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "exception": self.exception,
            "message": self.message,
            "count": self.count,
            "sample_ping_ids": self.sample_ping_ids,
            "example": self.example,
            "last_failed_at": self.last_failed_at,
        }


def group_failures(rows, samples: int = SAMPLES) -> list[FailureGroup]:
    """Rows of (ping_id, error, failed_at) -> groups by fingerprint, most frequent first."""
    groups: dict[str, FailureGroup] = {}
    for ping_id, error, failed_at in rows:
        exception, message = split_error(error)
        normalised = normalise_message(message)
        key = fingerprint_of(exception, normalised)
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureGroup(key, exception, normalised, example=error or "")
        group.count += 1
        if len(group.sample_ping_ids) < samples:
            group.sample_ping_ids.append(ping_id)
        if failed_at and (group.last_failed_at is None or failed_at > group.last_failed_at):
            group.last_failed_at = failed_at
    return sorted(groups.values(), key=lambda g: (-g.count, g.fingerprint))


def ping_ids_with_fingerprint(rows, fingerprint: str | None) -> list[int]:
    """Rows of (ping_id, error, ...) -> the ids whose error has `fingerprint` (all when None)."""
    return [row[0] for row in rows
            if fingerprint is None or error_fingerprint(row[1]) == fingerprint]


# -- installations that stopped pinging -----------------------------------------------------

def silent_cutoff(now: datetime, after: timedelta = SILENT_AFTER) -> str:
    return format_timestamp(now - after)


def week_of(timestamp: str) -> str:
    """The Monday (YYYY-MM-DD) of the UTC week a timestamp falls in."""
    moment = parse_timestamp(timestamp)
    return (moment - timedelta(days=moment.weekday())).strftime("%Y-%m-%d")


def describe_silent(row: dict, now: datetime) -> dict:
    last_seen = parse_timestamp(row["last_seen_at"])
    return {
        **row,
        "version_minor": version_minor(row.get("version")),
        "silent_days": round((now - last_seen).total_seconds() / 86400, 1),
        "last_seen_week": week_of(row["last_seen_at"]),
    }


def silent_cohorts(silent: list[dict], minimum: int = COHORT_MIN) -> list[dict]:
    """Silent installations grouped by version minor and by the week of their last ping.

    A cohort of `minimum` or more that went quiet together points at a cause (an upgrade that
    broke Service Ping, a proxy change) rather than ordinary churn; those are flagged.
    """
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for inst in silent:
        groups[("version", inst["version_minor"])].append(inst)
        groups[("week", inst["last_seen_week"])].append(inst)
    cohorts = []
    for (by, value), members in groups.items():
        cohorts.append({
            "by": by,
            "value": value,
            "installations": len(members),
            "flagged": len(members) >= minimum,
            "sample": [{"uuid": m["uuid"], "hostname": m["hostname"]} for m in members[:SAMPLES]],
        })
    return sorted(cohorts, key=lambda c: (-c["installations"], c["by"], c["value"]))


# -- what instances say about their own failures ----------------------------------------------

def group_instance_errors(rows) -> list[dict]:
    """/usage_ping_errors reports (dicts) grouped by normalised message and version."""
    groups: dict[tuple[str, str], dict] = {}
    installations: dict[tuple[str, str], set] = defaultdict(set)
    for row in rows:
        key = (normalise_message(row["message"]), row.get("version") or "")
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "message": key[0], "version": key[1] or None, "reports": 0,
                "installations": 0, "first_received_at": row["received_at"],
                "last_received_at": row["received_at"], "example": row["message"],
            }
        group["reports"] += 1
        group["first_received_at"] = min(group["first_received_at"], row["received_at"])
        group["last_received_at"] = max(group["last_received_at"], row["received_at"])
        installations[key].add((row.get("uuid"), row.get("hostname")))
    for key, group in groups.items():
        group["installations"] = len(installations[key])
    return sorted(groups.values(), key=lambda g: (-g["reports"], g["message"], g["version"] or ""))
