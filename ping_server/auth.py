"""Bearer-token access to /api/v1 (and later the operator pages)."""
from __future__ import annotations

import hmac
import secrets

from flask import request
from werkzeug.exceptions import Unauthorized

from .db import get_storage, settings

TOKEN_SETTING = "api_token"


def api_token(storage=None) -> str:
    """PINGTALLY_API_TOKEN, else a random token made once and kept in the database."""
    configured = settings().api_token
    if configured:
        return configured
    return (storage or get_storage()).get_or_create_setting(
        TOKEN_SETTING, lambda: secrets.token_urlsafe(32)
    )


def presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def require_token() -> None:
    token = presented_token()
    if token is None or not hmac.compare_digest(token.encode(), api_token().encode()):
        raise Unauthorized("a valid API token is required: Authorization: Bearer <token>")
