"""Configuration from PINGTALLY_* environment variables, with laptop defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


def _int(env, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _flag(env, name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0, got {raw!r}")


class SettingsError(ValueError):
    """An environment variable holds a value pingtally cannot use."""


PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _rate(env, name: str, default: tuple[int, int] | None) -> tuple[int, int] | None:
    """`COUNT/PERIOD` (period: second, minute, hour, day or a number of seconds) as
    (count, seconds); `off` or `0` turns the limit off."""
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("off", "0", "none"):
        return None
    count, _, period = (part.strip() for part in raw.partition("/"))
    period = period or "second"
    seconds = PERIODS.get(period, int(period) if period.isascii() and period.isdigit() else 0)
    if not (count.isascii() and count.isdigit()) or int(count) < 1 or seconds < 1:
        raise SettingsError(f"{name} must look like 300/minute (or off), got {raw!r}")
    return int(count), seconds


@dataclass(frozen=True)
class Settings:
    database: Path = Path("var/pingtally.db")
    redis_url: str = "redis://127.0.0.1:6379/0"
    metrics_dirs: tuple[Path, ...] = ()
    stages_file: Path | None = None
    api_token: str | None = None
    max_payload_bytes: int = 16 * MIB
    queue_name: str = "pings"
    job_retries: int = 3
    failure_ttl: int = 30 * 24 * 3600
    sqlite_busy_timeout_ms: int = 5000
    require_login: bool = False  # dashboards behind the sign-in too
    max_json_depth: int = 64  # GitLab's payloads are about 6 levels deep
    # Per source address and per installation uuid on the ingest endpoints: (count, seconds).
    rate_limit_address: tuple[int, int] | None = (300, 60)
    rate_limit_uuid: tuple[int, int] | None = (20, 3600)

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        env = os.environ if env is None else env
        dirs = tuple(Path(p) for p in env.get("PINGTALLY_METRICS_DIRS", "").split(os.pathsep) if p)
        stages = env.get("PINGTALLY_STAGES_FILE") or None
        return cls(
            database=Path(env.get("PINGTALLY_DATABASE") or cls.database),
            redis_url=env.get("PINGTALLY_REDIS_URL") or cls.redis_url,
            metrics_dirs=dirs,
            stages_file=Path(stages) if stages else None,
            api_token=env.get("PINGTALLY_API_TOKEN") or None,
            max_payload_bytes=_int(env, "PINGTALLY_MAX_PAYLOAD_BYTES", cls.max_payload_bytes),
            queue_name=env.get("PINGTALLY_QUEUE") or cls.queue_name,
            job_retries=_int(env, "PINGTALLY_JOB_RETRIES", cls.job_retries),
            sqlite_busy_timeout_ms=_int(env, "PINGTALLY_SQLITE_BUSY_MS", cls.sqlite_busy_timeout_ms),
            require_login=_flag(env, "PINGTALLY_REQUIRE_LOGIN"),
            max_json_depth=_int(env, "PINGTALLY_MAX_JSON_DEPTH", cls.max_json_depth),
            rate_limit_address=_rate(env, "PINGTALLY_RATE_LIMIT_ADDRESS", cls.rate_limit_address),
            rate_limit_uuid=_rate(env, "PINGTALLY_RATE_LIMIT_UUID", cls.rate_limit_uuid),
        )
