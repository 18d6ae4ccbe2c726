"""Access control: a bearer token for the API, and a sign-in with the same token for pages.

The token is PINGTALLY_API_TOKEN, or a random one made once and kept in the database
(`pingtally token` prints it). Pages accept a session cookie set by /login; the session key
is derived from the token, so changing the token signs everybody out.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.exceptions import Unauthorized

from workers.storage import Storage

from .db import get_storage, settings

TOKEN_SETTING = "api_token"
bp = Blueprint("auth", __name__)


def api_token(storage=None) -> str:
    """PINGTALLY_API_TOKEN, else a random token made once and kept in the database."""
    configured = settings().api_token
    if configured:
        return configured
    return (storage or get_storage()).get_or_create_setting(
        TOKEN_SETTING, lambda: secrets.token_urlsafe(32)
    )


def token_matches(candidate: str | None) -> bool:
    return candidate is not None and hmac.compare_digest(candidate.encode(), api_token().encode())


def presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def signed_in() -> bool:
    """A valid bearer token, or a page session opened with it."""
    if token_matches(presented_token()):
        return True
    return hmac.compare_digest(session.get("token_digest", ""), _digest(api_token()))


def require_token() -> None:
    """before_request hook for JSON endpoints: 401 unless signed in."""
    if not signed_in():
        raise Unauthorized("a valid API token is required: Authorization: Bearer <token>")


def require_login_page():
    """before_request hook for HTML pages: redirect to the sign-in page unless signed in."""
    if not signed_in():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_key(app) -> bytes:
    """Flask's SECRET_KEY, derived from the token so that a new token ends old sessions."""
    with app.app_context():
        # A connection of its own, closed at once: this runs before gunicorn forks, and a
        # SQLite connection must not be inherited by the worker processes.
        storage = Storage(settings().database, settings().sqlite_busy_timeout_ms)
        try:
            return hashlib.sha256(b"pingtally-session:" + api_token(storage).encode()).digest()
        finally:
            storage.close()


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not (target or "").startswith("/"):
        return url_for("dashboards.index") if "dashboards.index" in _endpoints() else "/"
    return target


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        if token_matches(request.form.get("token", "").strip()):
            session.clear()
            session["token_digest"] = _digest(api_token())
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
        error = "That token is not valid."
    status = 401 if error else 200
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))
