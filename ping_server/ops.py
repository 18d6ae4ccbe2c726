"""The operator surface: health probes, /ops, and the queue API under /api/v1.

/healthz and /readyz are open (load balancers and orchestrators call them); /ops needs a
sign-in, the API the bearer token. The actions only put pings back on the queue.
"""
from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from redis.exceptions import RedisError
from werkzeug.exceptions import BadRequest

from workers import ops
from workers.installations import utc_now
from workers.storage import Storage

from .auth import require_login_page, require_token
from .db import get_queue, get_storage, settings
from .errors import error_response

READY_BUSY_TIMEOUT_MS = 2000
REFRESH_SECONDS = 10
MAX_DAYS = 36500  # larger windows overflow date arithmetic
# Instance reports change weekly, and grouping a month of per-metric timings reads every row
# (~2 s per million): /ops recomputes those panels at most once a minute per process.
REPORT_PANELS_TTL = 60

health = Blueprint("health", __name__)
page = Blueprint("ops", __name__)
page.before_request(require_login_page)
api = Blueprint("ops_api", __name__, url_prefix="/api/v1")
api.before_request(require_token)


# -- probes ---------------------------------------------------------------------------------

@health.get("/healthz")
def healthz():
    """The process answers. No dependency is consulted: a restart would not fix them."""
    return {"status": "ok"}


@health.get("/readyz")
def readyz():
    """Ready to take pings: Redis answers and SQLite takes a write lock."""
    checks = {"redis": "ok", "sqlite": "ok"}
    try:
        get_queue().connection.ping()
    except RedisError as exc:
        checks["redis"] = f"{type(exc).__name__}: {exc}"
    config = settings()
    try:
        timeout_ms = min(config.sqlite_busy_timeout_ms, READY_BUSY_TIMEOUT_MS)
        storage = Storage(config.database, timeout_ms)
        try:
            storage.check_writable()
        finally:
            storage.close()
    except Exception as exc:  # any failure here means "not ready", whatever its kind
        checks["sqlite"] = f"{type(exc).__name__}: {exc}"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return error_response(503, f"not ready: {', '.join(failed)}", failed=failed, checks=checks)
    return {"status": "ready", "checks": checks}


# -- JSON API -------------------------------------------------------------------------------

def _days(name: str, default: int) -> int:
    raw = request.args.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"`{name}` must be a whole number of days, got {raw!r}") from None
    if not 1 <= value <= MAX_DAYS:
        raise BadRequest(f"`{name}` must be between 1 and {MAX_DAYS}")
    return value


def _limit(default: int = 20, maximum: int = 500) -> int:
    raw = request.args.get("limit", default)
    try:
        return max(1, min(int(raw), maximum))
    except (TypeError, ValueError):
        raise BadRequest(f"`limit` must be a number, got {raw!r}") from None


@api.get("/queues")
def queues():
    return ops.overview(get_storage(), get_queue().connection, settings())


def _fingerprint_from_json() -> str | None:
    body = request.get_json(silent=True) if request.content_length else {}
    if body is None or not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object, e.g. {"fingerprint": "..."} or {}')
    fingerprint = body.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise BadRequest("`fingerprint` must be a string")
    return fingerprint or None


@api.post("/queues/requeue-failed")
def api_requeue_failed():
    """Body `{}` for every failed ping, `{"fingerprint": "..."}` for one group."""
    return ops.requeue_failed(get_storage(), get_queue(), settings(), _fingerprint_from_json())


@api.post("/queues/requeue-stuck")
def api_requeue_stuck():
    try:
        return ops.requeue_stuck(get_storage(), get_queue(), settings())
    except RedisError as exc:
        return error_response(503, f"Redis unavailable: {type(exc).__name__}")


@api.get("/installations/missing")
def missing_installations():
    return ops.missing(get_storage(), after=timedelta(days=_days("days", 10)))


@api.get("/instance-errors")
def instance_errors():
    groups = ops.instance_errors(get_storage(), window=timedelta(days=_days("days", 30)))
    return {"groups": groups[: _limit(100)]}


@api.get("/metric-timings")
def metric_timings():
    rows = ops.metric_timings(get_storage(), window=timedelta(days=_days("days", 30)),
                              limit=_limit())
    return {"metrics": rows}


# -- the page ---------------------------------------------------------------------------------

def duration(seconds, missing: str = "–") -> str:
    """Seconds as a short duration: `42s`, `3m 05s`, `2h 10m`, `4d 3h`; `missing` for None."""
    if seconds is None:
        return missing
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


page.add_app_template_filter(duration, "duration")


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not (sent and hmac.compare_digest(sent, session.get("csrf", ""))):
        raise BadRequest("the form is stale; reload /ops and try again")


_report_panels: dict = {}


def report_panels(storage, now) -> dict:
    key = str(storage.path)
    cached = _report_panels.get(key)
    if cached is None or time.monotonic() - cached[0] > REPORT_PANELS_TTL:
        panels = {"instance_errors": ops.instance_errors(storage, now)[:20],
                  "timings": ops.metric_timings(storage, now, limit=15)}
        cached = _report_panels[key] = (time.monotonic(), panels)
    return cached[1]


@page.get("/ops")
def ops_page():
    storage = get_storage()
    now = utc_now()
    return render_template(
        "ops.html",
        picture=ops.overview(storage, get_queue().connection, settings(), now),
        missing=ops.missing(storage, now),
        **report_panels(storage, now),
        refresh_seconds=REFRESH_SECONDS,
        csrf=_csrf_token(),
    )


@page.post("/ops/requeue-failed")
def page_requeue_failed():
    _check_csrf()
    fingerprint = request.form.get("fingerprint") or None
    outcome = ops.requeue_failed(get_storage(), get_queue(), settings(), fingerprint)
    scope = f"fingerprint {fingerprint}" if fingerprint else "all failures"
    flash(f"Re-queued {outcome['requeued']} failed ping(s) ({scope}); "
          f"{outcome['enqueued']} reached Redis.")
    return redirect(url_for("ops.ops_page"))


@page.post("/ops/requeue-stuck")
def page_requeue_stuck():
    _check_csrf()
    try:
        outcome = ops.requeue_stuck(get_storage(), get_queue(), settings())
    except RedisError as exc:
        flash(f"Redis unavailable ({type(exc).__name__}); nothing re-queued.")
    else:
        flash(f"{outcome['waiting']} ping(s) waiting, {outcome['requeued']} re-queued.")
    return redirect(url_for("ops.ops_page"))
