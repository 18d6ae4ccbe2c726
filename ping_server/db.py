"""SQLite storage and the Redis queue for the Flask app: one of each per thread / process."""
from __future__ import annotations

import threading

from flask import current_app

from workers import queue as rq_queue
from workers.storage import Storage


def settings():
    return current_app.config["PINGTALLY"]


def get_storage() -> Storage:
    """This thread's connection, opened once and reused by every request it serves.

    Opening a connection per request costs its PRAGMAs, and closing the last connection to a
    WAL database checkpoints it: about 3 ms of a 5 ms ping (bench/run.py).
    """
    local = current_app.extensions.setdefault("pingtally.storage", threading.local())
    storage = getattr(local, "storage", None)
    if storage is None:
        storage = local.storage = Storage(settings().database, settings().sqlite_busy_timeout_ms)
    elif storage.conn.in_transaction:  # never reached normally: writes commit or roll back
        storage.conn.execute("ROLLBACK")
    return storage


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
    with app.app_context():
        Storage.open(settings()).close()  # create or migrate the schema once, at start
