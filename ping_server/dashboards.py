"""Stage dashboards: every stage's SMAU at `/`, and one page per stage at `/stages/<stage>`.

Every figure is read through the export layer (`workers.exports.rows`), the same rows the CSV
export writes, so a panel and the CSV it links to agree by construction. Pages show aggregates
only: nothing here names an installation.
"""
from __future__ import annotations

import re
from collections import defaultdict

from flask import Blueprint, current_app, render_template, request, url_for

from workers import exports
from workers.exports import ExportError, ExportRequest
from workers.installations import utc_now
from workers.stages import StageMap

from . import formatting
from .auth import require_login_page, signed_in
from .db import get_storage, settings

bp = Blueprint("dashboards", __name__)

STAGE_KEY = re.compile(r"[a-z0-9_-]{1,64}")
DEFAULT_MONTHS = 12
BREAKDOWNS = {"tier": "Tier", "deployment": "Deployment", "version": "Version"}
KNOWN_ORDER = {
    "tier": ["free", "starter", "premium", "ultimate"],
    "deployment": ["self-managed", "dedicated", "gitlab.com"],
}
ACTIVITIES = {"write": "Write activity (objects created, actions performed)",
              "read": "Read activity (page views and visits)"}


@bp.record_once
def _register_filters(state) -> None:
    formatting.init_app(state.app)


@bp.before_request
def _sign_in_when_required():
    if settings().require_login:
        return require_login_page()
    return None


@bp.context_processor
def _page_context() -> dict:
    ops = "ops.ops_page" in current_app.view_functions
    return {
        "current_month": utc_now().strftime("%Y-%m"),  # its figures are "so far"
        "ops_url": url_for("ops.ops_page") if ops else None,
    }


# -- reading -------------------------------------------------------------------------------


def export_rows(kind: str, first=None, last=None, stage=None, by=None) -> list[dict]:
    """The rows `GET /api/v1/rollups/<kind>` would export for the same parameters."""
    export_request = ExportRequest(kind, first, last, stage, by).validate()
    return list(exports.rows(get_storage(), export_request))


def stage_map() -> StageMap:
    extensions = current_app.extensions
    if "pingtally.stage_map" not in extensions:
        extensions["pingtally.stage_map"] = StageMap.load(settings().stages_file)
    return extensions["pingtally.stage_map"]


def group_name(key: str | None) -> str:
    info = stage_map().group(key) if key else None
    return info.name if info else (key or "no group")


def section_name(stage: str) -> str | None:
    section = stage_map().section_of_stage(stage)
    return stage_map().section_name(section) if section else None


def metric_names(key_paths) -> dict[str, str]:
    """Short, distinct names: the last part of each key path, more parts where two collide."""
    paths = sorted(set(key_paths))
    depth = {path: 1 for path in paths}
    while True:
        names = {path: ".".join(path.split(".")[-depth[path]:]) for path in paths}
        seen: dict[str, list[str]] = defaultdict(list)
        for path, name in names.items():
            seen[name].append(path)
        clashes = [path for same in seen.values() if len(same) > 1 for path in same
                   if depth[path] < path.count(".") + 1]
        if not clashes:
            return names
        for path in clashes:
            depth[path] += 1


def csv_link(kind: str, first, last, stage=None, by=None, signed=True) -> str:
    """The export that reproduces a panel; through the sign-in page when not signed in."""
    url = url_for("api.rollup_export", kind=kind, format="csv", stage=stage, by=by,
                  **{"from": first, "to": last})
    return url if signed else url_for("auth.login", next=url)


def month_range(available: list[str]) -> tuple[str | None, str | None]:
    """`from`/`to` from the query string; by default the last 12 months that have data."""
    first = request.args.get("from") or None
    last = request.args.get("to") or None
    ExportRequest("smau", first, last).validate()
    if last is None and available:
        last = available[-1]
    if first is None and last is not None:
        earlier = [m for m in available if m <= last][-DEFAULT_MONTHS:]
        first = earlier[0] if earlier else last
    ExportRequest("smau", first, last).validate()
    return first, last


def grouped(rows: list[dict], *fields: str) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[f] for f in fields)].append(row)
    return dict(groups)


def dim_sort_key(by: str):
    order = KNOWN_ORDER.get(by)

    def key(value):
        text = "" if value is None else str(value)
        if order and text in order:
            return (0, order.index(text), ())
        parts = tuple(int(p) if p.isdigit() else 0 for p in text.split("."))
        return (1, 0, parts) if by == "version" else (1, 0, (text,))
    return key


# -- chart specifications (drawn by static/dashboard.js with Chart.js) ------------------------


def chart(kind: str, labels: list, datasets: list[dict], **options) -> dict:
    return {"type": kind, "labels": labels, "datasets": datasets, **options}


def by_month(rows: list[dict], months: list[str], field: str) -> list:
    values = {row["month"]: row[field] for row in rows}
    return [values.get(month) for month in months]


def indicator_chart(series: dict[str, list[dict]], months: list[str]) -> dict:
    """Recorded (solid) and estimated (dashed) lines, one colour per series."""
    datasets = []
    for colour, (label, rows) in enumerate(series.items()):
        datasets.append({"label": f"{label} · recorded", "data": by_month(rows, months, "recorded"),
                         "colour": colour})
        datasets.append({"label": f"{label} · estimated",
                         "data": by_month(rows, months, "estimated_total"),
                         "colour": colour, "dashed": True})
    return chart("line", months, datasets)


def coverage_chart(series: dict[str, list[dict]], months: list[str]) -> dict:
    datasets = []
    for colour, (label, rows) in enumerate(series.items()):
        prefix = f"{label} · " if len(series) > 1 else ""
        datasets.append({"label": f"{prefix}reporting installations",
                         "data": by_month(rows, months, "reporting_installations"),
                         "colour": colour})
        datasets.append({"label": f"{prefix}active installations",
                         "data": by_month(rows, months, "active_installations"),
                         "colour": colour, "faded": True})
    return chart("bar", months, datasets, integer=True)


def breakdown_chart(rows: list[dict], by: str, months: list[str], names: dict) -> dict:
    values = sorted({row[by] for row in rows}, key=dim_sort_key(by))
    datasets = []
    for (key_path,), metric_rows in grouped(rows, "key_path").items():
        for colour, value in enumerate(values):
            picked = [r for r in metric_rows if r[by] == value]
            label = str(value) if len(names) == 1 else f"{value} · {names[key_path]}"
            datasets.append({"label": label, "data": by_month(picked, months, "recorded"),
                             "colour": colour, "stack": key_path})
    return chart("bar", months, datasets, stacked=True)


def adoption_chart(rows: list[dict], names: dict) -> dict:
    labels = [names[row["key_path"]] for row in rows]
    data = [row["adoption_rate"] for row in rows]
    return chart("bar", labels, [{"label": "adoption rate", "data": data, "colour": 0}],
                 horizontal=True, percent=True)


def sparkline(rows: list[dict], months: list[str]) -> dict:
    spec = indicator_chart({"SMAU": rows}, months)
    spec["sparkline"] = True
    return spec


# -- views ---------------------------------------------------------------------------------


@bp.get("/")
def index():
    storage = get_storage()
    stages = storage.stage_names()
    available = storage.snapshot_months()
    months = available[-DEFAULT_MONTHS:]
    first = months[0] if months else None
    smau = export_rows("smau", first=first) if months else []
    smau_flagged = {m["stage"] for m in storage.metric_rows() if m["is_smau"]}
    by_stage = grouped(smau, "stage")
    mapping = stage_map()
    cards = []
    for stage in stages:
        metrics = []
        for (key_path,), rows in grouped(by_stage.get((stage,), []), "key_path").items():
            metrics.append({"key_path": key_path, "latest": rows[-1], "rows": rows,
                            "chart": sparkline(rows, months)})
        cards.append({"key": stage, "name": mapping.stage_name(stage), "metrics": metrics,
                      "flagged": stage in smau_flagged})
    signed = signed_in()
    return render_template(
        "index.html", cards=cards, months=months, signed=signed,
        names=metric_names(row["key_path"] for row in smau),
        csv_url=csv_link("smau", first, months[-1] if months else None, signed=signed))


@bp.get("/stages/<stage>")
def stage_page(stage: str):
    storage = get_storage()
    if not STAGE_KEY.fullmatch(stage) or stage not in storage.stage_names():
        return error_page(404, "Stage not found",
                          "There is no stage with that key in the loaded metric dictionary.")
    available = storage.snapshot_months()
    try:
        first, last = month_range(available)
    except ExportError as exc:
        return error_page(400, "Bad month range", str(exc))
    months = [m for m in available if first <= m <= last] if first and last else []
    signed = signed_in()

    def link(kind, by=None, one_month=None):
        if one_month:
            return csv_link(kind, one_month, one_month, stage, by, signed)
        return csv_link(kind, first, last, stage, by, signed)

    dictionary = storage.metric_rows(stage)
    smau = export_rows("smau", first, last, stage) if months else []
    features = export_rows("features", first, last, stage) if months else []
    names = metric_names([m["key_path"] for m in dictionary] + [r["key_path"] for r in features])
    smau_series = {key[0]: rows for key, rows in grouped(smau, "key_path").items()}
    smau_labels = {k: ("SMAU" if len(smau_series) == 1 else names[k]) for k in smau_series}
    labelled_smau = {smau_labels[k]: rows for k, rows in smau_series.items()}

    gmau_panels = []
    for kind, title in (("gmau", "GMAU per group"), ("paid_gmau", "Paid GMAU per group")):
        rows = export_rows(kind, first, last, stage) if months else []
        by_group = grouped(rows, "group", "key_path")
        groups = [g for g, _ in by_group]
        series = {group_name(g) if groups.count(g) == 1 else f"{group_name(g)} ({names[k]})": r
                  for (g, k), r in by_group.items()}
        gmau_panels.append({"kind": kind, "title": title, "rows": rows, "csv": link(kind),
                            "chart": indicator_chart(series, months) if rows else None})

    feature_month = max((r["month"] for r in features), default=None)
    feature_rows = [r for r in features if r["month"] == feature_month]
    activities = []
    for activity, title in ACTIVITIES.items():
        rows = [r for r in feature_rows if r["activity"] == activity]
        activities.append({"key": activity, "title": title, "rows": rows,
                           "chart": adoption_chart(rows, names) if rows else None})

    breakdowns = []
    for by, title in BREAKDOWNS.items():
        rows = export_rows("smau", first, last, stage, by) if smau else []
        rows.sort(key=lambda r, k=dim_sort_key(by): (r["month"], r["key_path"], k(r[by])))
        breakdowns.append({"by": by, "title": title, "rows": rows, "csv": link("smau", by),
                           "chart": breakdown_chart(rows, by, months, smau_labels)
                           if rows else None})

    indicators = [m for m in dictionary
                  if m["is_smau"] or m["is_gmau"] or m["is_paid_gmau"]]
    headline = [{"label": smau_labels[k], "key_path": k, "row": rows[-1]}
                for k, rows in smau_series.items()]
    return render_template(
        "stage.html",
        stage={"key": stage, "name": stage_map().stage_name(stage),
               "section": section_name(stage)},
        first=first, last=last, months=months, month_options=month_options(available, first, last),
        has_data=bool(smau or features or any(p["rows"] for p in gmau_panels)),
        indicators=indicators, headline=headline, signed=signed, names=names,
        smau={"rows": smau, "labels": smau_labels, "csv": link("smau"),
              "chart": indicator_chart(labelled_smau, months) if smau else None,
              "coverage": coverage_chart(labelled_smau, months) if smau else None},
        gmau_panels=gmau_panels,
        features={"month": feature_month, "activities": activities,
                  "csv": link("features", one_month=feature_month) if feature_month else None},
        breakdowns=breakdowns,
    )


def month_options(available: list[str], first, last) -> list[str]:
    return sorted(set(available) | {m for m in (first, last) if m})


def error_page(status: int, title: str, message: str):
    return render_template("errors.html", title=title, message=message, status=status), status
