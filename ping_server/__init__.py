"""pingtally's HTTP side: the ingest endpoints GitLab instances call, the API, pages and CLI."""
from __future__ import annotations

from flask import Flask

from workers.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__)
    settings = settings or Settings.from_env()
    app.config["PINGTALLY"] = settings
    # Werkzeug refuses longer bodies with 413 before we read them.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes
    app.json.sort_keys = False

    from . import api, auth, cli, dashboards, db, errors, ingest, metrics, openapi, ops

    db.init_app(app)
    errors.init_app(app)
    app.register_blueprint(ingest.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboards.bp)
    app.register_blueprint(ops.health)
    app.register_blueprint(ops.page)
    app.register_blueprint(ops.api)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(openapi.bp)
    app.secret_key = auth.session_key(app)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    cli.init_app(app)
    return app
