"""Rollup exports as CSV, JSON or NDJSON, streamed row by row. Used by the CLI and the API."""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from . import rollups
from .installations import format_timestamp, utc_now

KINDS = ("smau", "gmau", "paid_gmau", "umau", "cmau", "features", "installations")
FORMATS = ("csv", "json", "ndjson")
BREAKDOWNS = ("tier", "deployment", "edition", "version", "installation_type")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

ESTIMATE = ["recorded", "reporting_installations", "percent_reporting", "estimated_total"]
COLUMNS = {
    "smau": ["month", "stage", "key_path", *ESTIMATE, "active_installations", "failing_installations"],
    "gmau": ["month", "stage", "group", "key_path", *ESTIMATE, "active_installations",
             "failing_installations"],
    "paid_gmau": ["month", "stage", "group", "key_path", *ESTIMATE, "active_installations",
                  "failing_installations"],
    "umau": ["month", "key_path", *ESTIMATE, "active_installations", "failing_installations"],
    "cmau": ["month", "recorded", "stages"],
    "features": ["month", "stage", "group", "key_path", "time_frame", "activity",
                 "reporting_installations", "using_installations", "adoption_rate", "total",
                 "median", "active_installations", "failing_installations", "percent_reporting"],
    "installations": ["month", "uuid", "hostname", "version", "edition", "tier", "deployment",
                      "ping_id", "received_at"],
}


class ExportError(ValueError):
    """Export parameters that do not make sense."""


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    first: str | None = None
    last: str | None = None
    stage: str | None = None
    by: str | None = None
    format: str = "csv"

    def validate(self) -> "ExportRequest":
        if self.kind not in KINDS:
            raise ExportError(f"unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.format not in FORMATS:
            raise ExportError(f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if self.by is not None and self.by not in BREAKDOWNS:
            raise ExportError(f"unknown breakdown {self.by!r}; choose one of {', '.join(BREAKDOWNS)}")
        for name, value in (("from", self.first), ("to", self.last)):
            if value is not None and not MONTH.match(value):
                raise ExportError(f"`{name}` must be a month as YYYY-MM, got {value!r}")
        if self.first and self.last and self.first > self.last:
            raise ExportError("`from` is after `to`")
        if self.stage is not None and not re.fullmatch(r"[a-z0-9_-]{1,64}", self.stage):
            raise ExportError(f"`stage` must be a stage key such as 'create', got {self.stage!r}")
        if self.stage is not None and self.kind in ("umau", "cmau", "installations"):
            raise ExportError(f"`stage` does not apply to {self.kind}")
        return self

    @property
    def columns(self) -> list[str]:
        columns = list(COLUMNS[self.kind])
        if self.by:
            anchor = columns.index("stage") + 1 if "stage" in columns else 1
            columns.insert(anchor, self.by)
        return columns


def meta(storage, request: ExportRequest) -> dict:
    return {
        "kind": request.kind,
        "from": request.first,
        "to": request.last,
        "stage": request.stage,
        "by": request.by,
        "dictionary_fingerprint": storage.dictionary_fingerprint(),
        "rules_version": rollups.RULES_VERSION,
        "estimation_method": rollups.ESTIMATION_METHOD,
        "generated_at": format_timestamp(utc_now()),
        "columns": request.columns,
    }


def rows(storage, request: ExportRequest):
    """Export rows as dicts with exactly `request.columns` keys."""
    rollups.ensure_fresh(storage, request.first, request.last)
    columns = request.columns
    if request.kind == "cmau":
        source = storage.iter_cmau(request.first, request.last, request.by)
    elif request.kind == "installations":
        source = storage.iter_installation_months(request.first, request.last, request.by)
    else:
        source = storage.iter_rollups(request.kind, request.first, request.last, request.stage,
                                      request.by)
    for row in source:
        row["group"] = row.get("product_group")
        if request.by:
            row[request.by] = row["dim_value"]
        yield {c: row.get(c) for c in columns}


def spreadsheet_safe(value):
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render(storage, request: ExportRequest):
    """Yield the export as text chunks in the requested format."""
    request.validate()
    if request.format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)  # RFC 4180 \r\n rows: a CR inside a field gets quoted
        writer.writerow(request.columns)
        for row in rows(storage, request):
            writer.writerow([spreadsheet_safe(v) for v in row.values()])
            if buffer.tell() > 32_768:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
    elif request.format == "ndjson":
        yield json.dumps({"meta": meta(storage, request)}) + "\n"
        for row in rows(storage, request):
            yield json.dumps(row) + "\n"
    else:
        yield '{"meta": ' + json.dumps(meta(storage, request)) + ', "rows": ['
        for index, row in enumerate(rows(storage, request)):
            yield ("," if index else "") + "\n" + json.dumps(row)
        yield "\n]}\n"
