"""Who sent a ping: tier, deployment and time rules from DESIGN.md (rules 1, 3, 7, 8).

Pure functions, no I/O: the storage and the rollups call these.
"""
from __future__ import annotations

from datetime import datetime, timezone

GITLAB_COM_UUID = "ea8bf810-1d6f-4a6a-b4fd-93e8cbd8b57f"

TIER_BY_EDITION = {
    "CE": "free",
    "EE Free": "free",
    "EE": "starter",
    "EES": "starter",
    "EEP": "premium",
    "EEU": "ultimate",
}
PAID_TIERS = frozenset({"starter", "premium", "ultimate"})
EDITIONS = tuple(TIER_BY_EDITION)


def tier_of(edition: str | None) -> str:
    """Rule 7: the tier an edition string stands for ('unknown' when not listed)."""
    return TIER_BY_EDITION.get(edition or "", "unknown")


def is_paid(tier: str) -> bool:
    return tier in PAID_TIERS


def deployment_of(uuid: str, gitlab_dedicated: object) -> str:
    """Rule 8."""
    if uuid == GITLAB_COM_UUID:
        return "gitlab.com"
    if gitlab_dedicated is True:
        return "dedicated"
    return "self-managed"


def parse_timestamp(value: str) -> datetime:
    """Parse ISO 8601 (both `Z` and `+00:00`); naive times are taken as UTC."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a timestamp")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise ValueError("timestamp out of range") from None


def format_timestamp(moment: datetime) -> str:
    """One canonical UTC text form, so timestamps sort and compare as strings."""
    # %Y is not zero-padded below year 1000 on every platform; the four digits are explicit.
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def month_of(received_at: str) -> str:
    """Rule 3: the calendar month (UTC) of the receive time, as YYYY-MM."""
    return received_at[:7]


def _digits(text: str) -> str:
    """The ASCII digits of `text` (str.isdigit() also takes '¹' and '²', which int() refuses)."""
    return "".join(ch for ch in text if "0" <= ch <= "9")


def version_minor(version: str | None) -> str:
    """`16.11.2-ee` -> `16.11`; anything unparseable -> 'unknown'."""
    parts = (version or "").split(".")
    if len(parts) >= 2 and parts[0] and _digits(parts[0]) == parts[0]:
        minor = _digits(parts[1])
        if minor:
            return f"{int(parts[0])}.{int(minor)}"
    return "unknown"


def version_key(version: str | None) -> tuple[int, ...]:
    """A sortable key for a GitLab version (`12.10.0-pre` -> (12, 10, 0))."""
    numbers = []
    for part in (version or "").split("-")[0].split("."):
        digits = _digits(part)
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)
