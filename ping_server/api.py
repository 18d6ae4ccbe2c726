"""The token-protected JSON API under /api/v1."""
from __future__ import annotations

from flask import Blueprint
from werkzeug.exceptions import NotFound

from .auth import require_token
from .db import get_storage

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(require_token)


@bp.get("/pings/<int:ping_id>")
def ping_receipt(ping_id: int):
    ping = get_storage().ping(ping_id)
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
