"""GitLab's wire protocol: POST /usage_data, /usage_ping_errors, /usage_ping_metadata."""
from __future__ import annotations

from flask import Blueprint, request
from werkzeug.exceptions import UnsupportedMediaType

from workers.installations import format_timestamp, utc_now
from workers.payloads import PayloadError, check_depth, gunzip_capped, parse_object

from . import schemas
from .db import get_queue, get_storage, settings
from .intake import accept_ping
from .ratelimit import limit_address, limit_uuid

bp = Blueprint("ingest", __name__)
bp.before_request(limit_address)


def read_json_body(check_nesting: bool = True) -> tuple[dict, bytes]:
    """The request body as (object, raw bytes): 415 unless JSON, gzip decoded under the cap,
    400 when nested deeper than PINGTALLY_MAX_JSON_DEPTH (pings: checked by accept_ping)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.mimetype or 'nothing'!r}"
        )
    raw = request.get_data(cache=False)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "gzip":
        raw = gunzip_capped(raw, settings().max_payload_bytes)
    elif encoding not in ("identity", ""):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported (use gzip)")
    if not raw:
        raise PayloadError("body is empty")
    payload = parse_object(raw)
    if check_nesting:
        check_depth(payload, settings().max_json_depth)
    return payload, raw


def section(payload: dict, name: str) -> dict:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def uuid_of(fields: dict) -> str | None:
    value = fields.get("uuid")
    return value if isinstance(value, str) else None


@bp.post("/usage_data")
def usage_data():
    payload, raw = read_json_body(check_nesting=False)
    limit_uuid(uuid_of(payload))
    accepted = accept_ping(get_storage(), get_queue(), settings(), payload, raw=raw)
    status = 200 if accepted.duplicate else 201
    return {"conv_index": {"usage_data_id": accepted.ping_id}}, status


@bp.post("/usage_ping_errors")
def usage_ping_errors():
    payload, _ = read_json_body()
    limit_uuid(uuid_of(section(payload, "error")))
    report = schemas.ErrorEnvelopeSchema().load(payload)["error"]
    report_id = get_storage().record_instance_error(
        received_at=format_timestamp(utc_now()),
        uuid=report.get("uuid"),
        unique_instance_id=report.get("unique_instance_id"),
        hostname=report.get("hostname"),
        version=report.get("version"),
        message=report["message"],
        elapsed=report.get("elapsed"),
        reported_time=report.get("time"),
    )
    return {"id": report_id}, 201


@bp.post("/usage_ping_metadata")
def usage_ping_metadata():
    payload, _ = read_json_body()
    limit_uuid(uuid_of(section(payload, "metadata")))
    metadata = schemas.MetadataEnvelopeSchema().load(payload)["metadata"]
    metadata_id = get_storage().record_metadata(
        received_at=format_timestamp(utc_now()),
        uuid=metadata["uuid"],
        unique_instance_id=metadata.get("unique_instance_id"),
        metrics=metadata["metrics"],
    )
    return {"id": metadata_id}, 201

