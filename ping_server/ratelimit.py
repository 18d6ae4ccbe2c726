"""Rate limits on the ingest endpoints: per source address and per installation uuid.

A fixed-window counter in Redis: one pipelined INCR + EXPIRE (a single round trip) per check,
on a key named by the window, so nothing ever needs resetting. A real GitLab instance sends one
ping a week (plus its metadata or error report); the defaults (300 requests a minute per
address, 20 an hour per uuid) never touch it but stop a flood. A window lets through at most
twice its count across a window boundary, which is enough to stop floods.

The limiter fails open: when Redis is away, pings are still archived and acknowledged (they
wait in SQLite) and nothing is limited. After a Redis error the limiter stands aside for a few
seconds, so an unreachable Redis costs one connect timeout per process, not one per request.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import current_app, request
from redis.exceptions import RedisError
from werkzeug.exceptions import TooManyRequests

from .db import get_queue, settings

log = logging.getLogger(__name__)
PREFIX = "pingtally:ratelimit"
STAND_ASIDE_SECONDS = 5.0
STAND_ASIDE = "pingtally.ratelimit.stand_aside_until"  # per app, in app.extensions


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    used: int  # requests counted in this window, this one included
    retry_after: int  # seconds until the window ends (0 when allowed)


def hit(connection, scope: str, key: str, limit: tuple[int, int], now: float | None = None) -> Verdict:
    """Count one request against `limit` = (count, seconds) for `key`; raises RedisError."""
    count, seconds = limit
    now = time.time() if now is None else now
    window = int(now // seconds)
    name = f"{PREFIX}:{scope}:{seconds}:{window}:{key}"
    pipe = connection.pipeline(transaction=False)
    pipe.incr(name)
    pipe.expire(name, seconds + 1)
    used, _ = pipe.execute()
    if used <= count:
        return Verdict(True, used, 0)
    return Verdict(False, used, max(1, math.ceil((window + 1) * seconds - now)))


def limit_address() -> None:
    """before_request hook of the ingest endpoints: runs before the body is read."""
    _enforce("address", request.remote_addr or "unknown", settings().rate_limit_address,
             "this address")


def limit_uuid(uuid: str | None) -> None:
    if uuid:
        _enforce("uuid", uuid, settings().rate_limit_uuid, "this installation (uuid)")


def _enforce(scope: str, key: str, limit: tuple[int, int] | None, who: str) -> None:
    state = current_app.extensions
    if limit is None or time.monotonic() < state.get(STAND_ASIDE, 0.0):
        return
    try:
        verdict = hit(get_queue().connection, scope, key, limit)
    except RedisError as exc:
        state[STAND_ASIDE] = time.monotonic() + STAND_ASIDE_SECONDS
        log.warning("rate limits off for %.0f s: Redis unavailable (%s)", STAND_ASIDE_SECONDS,
                    type(exc).__name__)
        return
    if not verdict.allowed:
        count, seconds = limit
        raise TooManyRequests(
            f"too many requests from {who}: at most {count} per {seconds} s; "
            f"retry in {verdict.retry_after} s",
            retry_after=verdict.retry_after,
        )
