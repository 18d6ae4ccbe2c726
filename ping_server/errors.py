"""Every error leaves as JSON: {"error": "...", ...} with the right status."""
from __future__ import annotations

import logging

from flask import jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from workers.payloads import PayloadError, PayloadTooLarge
from workers.storage import StorageBusy, is_busy_error

log = logging.getLogger(__name__)
RETRY_AFTER_BUSY = 5


def error_response(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def init_app(app) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = error_response(exc.code or 500, exc.description or exc.name)
        for name, value in exc.get_headers():
            if name in ("Retry-After", "WWW-Authenticate", "Allow"):
                response.headers[name] = value
        if exc.code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(PayloadTooLarge)
    def too_large(exc):
        return error_response(413, str(exc))

    @app.errorhandler(PayloadError)
    def bad_payload(exc):
        return error_response(400, str(exc))

    @app.errorhandler(ValidationError)
    def invalid(exc: ValidationError):
        return error_response(422, "invalid payload", fields=exc.normalized_messages())

    @app.errorhandler(StorageBusy)
    def busy(exc):
        response = error_response(503, "database busy, try again shortly")
        response.headers["Retry-After"] = str(RETRY_AFTER_BUSY)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc):
        if is_busy_error(exc):
            return busy(exc)
        log.exception("unhandled error")
        return error_response(500, "internal error")
