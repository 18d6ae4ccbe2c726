"""Per-request SQLite storage and per-process Redis queue for the Flask app."""
from __future__ import annotations

from flask import current_app, g

from workers import queue as rq_queue
from workers.storage import Storage


def settings():
    return current_app.config["PINGTALLY"]


def get_storage() -> Storage:
    if "storage" not in g:
        g.storage = Storage(settings().database, settings().sqlite_busy_timeout_ms)
    return g.storage


def close_storage(exc=None) -> None:
    storage = g.pop("storage", None)
    if storage is not None:
        storage.close()


def with_own_storage(app_settings, produce, *args):
    """Stream `produce(storage, *args)` with a connection of its own: a streamed body outlives
    the request's app context, and with it the per-request connection."""
    storage = Storage(app_settings.database, app_settings.sqlite_busy_timeout_ms)
    try:
        yield from produce(storage, *args)
    finally:
        storage.close()


def get_queue():
    """The ping queue; the Redis client (and its connection pool) lives as long as the process."""
    ext = current_app.extensions
    if "pingtally.queue" not in ext:
        connection = rq_queue.connect(settings().redis_url)
        ext["pingtally.queue"] = rq_queue.ping_queue(connection, settings())
    return ext["pingtally.queue"]


def init_app(app) -> None:
    app.teardown_appcontext(close_storage)
    with app.app_context():
        Storage.open(settings()).close()  # create or migrate the schema once, at start
