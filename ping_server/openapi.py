"""The OpenAPI 3 description of the HTTP API, served at GET /api/v1/openapi.json.

It needs no token: it describes the API, holds no data, and clients (and schemathesis in
tests/test_schemathesis.py) fetch it before they have one. HTML pages are not described.
"""
from __future__ import annotations

from flask import Blueprint

from workers.exports import BREAKDOWNS, FORMATS, KINDS
from workers.installations import EDITIONS

bp = Blueprint("openapi", __name__)

PUBLIC: list = []  # `security` of an operation that needs no token


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict:
    return {"description": description, **json_body(ref("Error"))}


def retry_later(description: str) -> dict:
    return {**error(description),
            "headers": {"Retry-After": {"description": "seconds to wait",
                                        "schema": {"type": "integer", "minimum": 1}}}}


def text(nullable: bool = True, max_length: int = 1000) -> dict:
    return {"type": "string", "maxLength": max_length, "nullable": nullable}


def number(nullable: bool = True) -> dict:
    return {"type": "number", "minimum": 0, "nullable": nullable}


INGEST_ERRORS = {
    "400": error("unreadable body: not JSON, not UTF-8, NaN/Infinity, a lone surrogate, bad "
                 "gzip, or nested deeper than PINGTALLY_MAX_JSON_DEPTH"),
    "413": error("body over PINGTALLY_MAX_PAYLOAD_BYTES (also after gzip decompression)"),
    "415": error("Content-Type is not application/json, or an unsupported Content-Encoding"),
    "422": {"description": "a field of the envelope is invalid; each is named under `fields`",
            **json_body(ref("ValidationError"))},
    "429": retry_later("rate limit per source address or per uuid (PINGTALLY_RATE_LIMIT_*)"),
    "503": retry_later("SQLite stayed busy for longer than PINGTALLY_SQLITE_BUSY_MS"),
}
TOKEN_ERRORS = {"401": error("missing or wrong bearer token")}


def days_parameter(default: int) -> dict:
    return {"name": "days", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 36500, "default": default}}


def limit_parameter(default: int, maximum: int) -> dict:
    return {"name": "limit", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}}


def month_parameter(name: str) -> dict:
    return {"name": name, "in": "query", "required": False,
            "schema": {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"},
            "description": "a month, YYYY-MM"}


def token_operation(summary: str, responses: dict, **extra) -> dict:
    return {"summary": summary, "responses": {**responses, **TOKEN_ERRORS}, **extra}


PING = {
    "type": "object",
    "description": "A GitLab Service Ping payload; only the envelope is checked at the door.",
    "required": ["uuid", "hostname", "version", "recorded_at"],
    "properties": {
        "uuid": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
        "hostname": text(nullable=False),
        "version": text(nullable=False, max_length=100),
        "recorded_at": {"type": "string", "format": "date-time"},
        "edition": {"type": "string", "enum": list(EDITIONS), "nullable": True},
        "installation_type": text(),
        "active_user_count": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                              "nullable": True},
        "unique_instance_id": text(),
        "gitlab_dedicated": {"type": "boolean", "nullable": True},
        "counts": {"type": "object", "additionalProperties": True},
    },
    "additionalProperties": True,
}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"}}, "additionalProperties": True},
    "ValidationError": {"type": "object", "required": ["error", "fields"],
                        "properties": {"error": {"type": "string"},
                                       "fields": {"type": "object"}}},
    "Ping": PING,
    "Accepted": {
        "type": "object", "required": ["conv_index"],
        "properties": {"conv_index": {
            "type": "object", "required": ["usage_data_id"],
            "properties": {"usage_data_id": {"type": "integer", "minimum": 1}}}},
    },
    "ErrorReport": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["message"],
            "properties": {
                "message": {"type": "string", "minLength": 1, "maxLength": 20000},
                "time": {"type": "string", "format": "date-time", "nullable": True},
                "uuid": text(), "unique_instance_id": text(), "hostname": text(),
                "version": text(), "elapsed": number(),
            }}},
    },
    "Metadata": {
        "type": "object", "required": ["metadata"],
        "properties": {"metadata": {
            "type": "object", "required": ["uuid", "metrics"],
            "properties": {
                "uuid": {"type": "string", "minLength": 1, "maxLength": 200},
                "unique_instance_id": text(),
                "metrics": {"type": "array", "maxItems": 100000, "items": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 1000},
                                   "time_elapsed": number(),
                                   "error": text(max_length=20000)}}},
            }}},
    },
    "Created": {"type": "object", "required": ["id"],
                "properties": {"id": {"type": "integer", "minimum": 1}}},
    "Receipt": {
        "type": "object",
        "required": ["id", "status", "received_at", "error", "attempts", "in_redis"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["queued", "processed", "failed"]},
            "received_at": {"type": "string"},
            "processed_at": {"type": "string", "nullable": True},
            "error": {"type": "string", "nullable": True},
            "uuid": {"type": "string"}, "hostname": {"type": "string"},
            "recorded_at": {"type": "string"}, "month": {"type": "string"},
            "attempts": {"type": "integer", "minimum": 0},
            "in_redis": {"type": "boolean"},
        },
    },
    "Requeued": {"type": "object", "additionalProperties": True,
                 "properties": {"requeued": {"type": "integer", "minimum": 0}}},
    "Picture": {"type": "object", "additionalProperties": True},
}

SPEC = {
    "openapi": "3.0.3",
    "info": {
        "title": "pingtally",
        "version": "1",
        "description": "GitLab Service Ping ingest (GitLab's own wire protocol) and the "
                       "token-protected API. Every error is JSON {\"error\": ...}.",
    },
    "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                      "description": "PINGTALLY_API_TOKEN (`pingtally token`)"}},
        "schemas": SCHEMAS,
    },
    "security": [{"token": []}],
    "paths": {
        "/usage_data": {"post": {
            "summary": "A ping, as GitLab sends it (optionally Content-Encoding: gzip)",
            "security": PUBLIC,
            "requestBody": {"required": True, **json_body(ref("Ping"))},
            "responses": {
                "201": {"description": "archived and queued", **json_body(ref("Accepted"))},
                "200": {"description": "a duplicate: the first one's id",
                        **json_body(ref("Accepted"))},
                **INGEST_ERRORS,
            },
        }},
        "/usage_ping_errors": {"post": {
            "summary": "An instance reports that its ping failed",
            "security": PUBLIC,
            "requestBody": {"required": True, **json_body(ref("ErrorReport"))},
            "responses": {"201": {"description": "recorded", **json_body(ref("Created"))},
                          **INGEST_ERRORS},
        }},
        "/usage_ping_metadata": {"post": {
            "summary": "Per-metric timings an instance sends after a ping",
            "security": PUBLIC,
            "requestBody": {"required": True, **json_body(ref("Metadata"))},
            "responses": {"201": {"description": "recorded", **json_body(ref("Created"))},
                          **INGEST_ERRORS},
        }},
        "/healthz": {"get": {
            "summary": "The process answers", "security": PUBLIC,
            "responses": {"200": {"description": "alive", **json_body(ref("Picture"))}},
        }},
        "/readyz": {"get": {
            "summary": "Redis answers and SQLite takes a write lock", "security": PUBLIC,
            "responses": {"200": {"description": "ready", **json_body(ref("Picture"))},
                          "503": error("not ready; `failed` names what")},
        }},
        "/api/v1/openapi.json": {"get": {
            "summary": "This description", "security": PUBLIC,
            "responses": {"200": {"description": "OpenAPI 3", **json_body(ref("Picture"))}},
        }},
        "/api/v1/pings/{ping_id}": {"get": token_operation(
            "A ping's receipt: queued, processed or failed (with the error)",
            {"200": {"description": "the receipt", **json_body(ref("Receipt"))},
             "404": error("no such ping")},
            parameters=[{"name": "ping_id", "in": "path", "required": True,
                         "schema": {"type": "integer", "minimum": 0}}],
        )},
        "/api/v1/rollups/{kind}": {"get": token_operation(
            "A rollup export, streamed",
            {"200": {"description": "the rows", "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
                "application/x-ndjson": {"schema": {"type": "string"}}}},
             "400": error("parameters that do not make sense")},
            parameters=[
                {"name": "kind", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": list(KINDS)}},
                month_parameter("from"), month_parameter("to"),
                {"name": "stage", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": r"^[a-z0-9_-]{1,64}$"}},
                {"name": "by", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(BREAKDOWNS)}},
                {"name": "format", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(FORMATS), "default": "csv"}},
            ],
        )},
        "/api/v1/queues": {"get": token_operation(
            "Queues, workers, pipeline lag, throughput and failures",
            {"200": {"description": "the picture", **json_body(ref("Picture"))}})},
        "/api/v1/queues/requeue-failed": {"post": token_operation(
            "Put failed pings (all, or one fingerprint) back on the queue",
            {"200": {"description": "what was re-queued", **json_body(ref("Requeued"))},
             "400": error("the body is not {} or {\"fingerprint\": \"...\"}")},
            requestBody={"required": False, **json_body({
                "type": "object", "properties": {"fingerprint": {"type": "string"}}})},
        )},
        "/api/v1/queues/requeue-stuck": {"post": token_operation(
            "Enqueue pings that wait in SQLite without a live job",
            {"200": {"description": "what was re-queued", **json_body(ref("Requeued"))},
             "503": error("Redis unavailable")})},
        "/api/v1/installations/missing": {"get": token_operation(
            "Installations silent for more than `days`, and cohorts",
            {"200": {"description": "silent installations", **json_body(ref("Picture"))},
             "400": error("`days` is not a whole number >= 1")},
            parameters=[days_parameter(10)])},
        "/api/v1/instance-errors": {"get": token_operation(
            "The instances' own /usage_ping_errors reports, grouped",
            {"200": {"description": "groups", **json_body(ref("Picture"))},
             "400": error("bad `days` or `limit`")},
            parameters=[days_parameter(30), limit_parameter(100, 500)])},
        "/api/v1/metric-timings": {"get": token_operation(
            "The slowest metrics reported by /usage_ping_metadata",
            {"200": {"description": "metrics", **json_body(ref("Picture"))},
             "400": error("bad `days` or `limit`")},
            parameters=[days_parameter(30), limit_parameter(20, 500)])},
        "/metrics": {"get": token_operation(
            "Prometheus metrics",
            {"200": {"description": "Prometheus text format",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}})},
    },
}


@bp.get("/api/v1/openapi.json")
def openapi_json():
    return SPEC
