"""The token-protected JSON API under /api/v1."""
from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.exceptions import BadRequest, NotFound

from workers import exports

from .auth import require_token
from .db import get_storage, settings, with_own_storage

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(require_token)
MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer: a bigger id cannot exist


@bp.get("/pings/<int:ping_id>")
def ping_receipt(ping_id: int):
    ping = get_storage().ping(ping_id) if ping_id <= MAX_ROW_ID else None
    if ping is None:
        raise NotFound(f"no ping with id {ping_id}")
    return {
        "id": ping["id"],
        "status": ping["status"],
        "received_at": ping["received_at"],
        "processed_at": ping["processed_at"],
        "error": ping["error"],
        "uuid": ping["uuid"],
        "hostname": ping["hostname"],
        "recorded_at": ping["recorded_at"],
        "month": ping["month"],
        "attempts": ping["attempts"],
        "in_redis": ping["enqueued_at"] is not None,
    }


FORMAT_MIMETYPES = {"csv": "text/csv", "json": "application/json", "ndjson": "application/x-ndjson"}


@bp.get("/rollups/<kind>")
def rollup_export(kind: str):
    """A rollup export, streamed: ?from=YYYY-MM&to=YYYY-MM&stage=S&by=B&format=csv|json|ndjson."""
    args = request.args
    export_request = exports.ExportRequest(
        kind=kind, first=args.get("from") or None, last=args.get("to") or None,
        stage=args.get("stage") or None, by=args.get("by") or None,
        format=args.get("format", "csv"))
    try:
        export_request.validate()
    except exports.ExportError as exc:
        raise BadRequest(str(exc)) from None
    response = Response(with_own_storage(settings(), exports.render, export_request),
                        mimetype=FORMAT_MIMETYPES[export_request.format])
    filename = f"pingtally-{kind}.{export_request.format}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
