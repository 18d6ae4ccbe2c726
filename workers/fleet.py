"""A deterministic synthetic fleet of GitLab installations sending weekly pings.

Used by `pingtally simulate` (demo data), the tests and the benchmarks. Counter values follow
simple, plausible shapes: 28-day user counts are a share of the active users that depends on
how much the installation has adopted a stage, all-time counters only grow, and a small share
of values are GitLab's failure codes.
"""
from __future__ import annotations

import random
import uuid as uuid_lib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .installations import GITLAB_COM_UUID, format_timestamp

EDITION_WEIGHTS = {"CE": 30, "EE Free": 20, "EES": 5, "EEP": 28, "EEU": 17}
INSTALL_TYPES = ["omnibus-gitlab", "gitlab-helm-chart", "gitlab-docker", "source"]
VERSIONS = ["15.11.13-ee", "16.3.9-ee", "16.7.10-ee", "16.11.10-ee", "17.2.9-ee", "17.5.5-ee",
            "17.8.7-ee", "17.11.6-ee", "18.2.4-ee", "18.5.1-ee"]
FAILURE_CODES = (-1, -2, -3)
# Extra sections used to pad payloads to a realistic size (~2,000 counters).
PADDING_SECTIONS = ["counts", "counts_weekly", "counts_monthly", "redis_hll_counters.ide_edit",
                    "redis_hll_counters.source_code", "redis_hll_counters.quickactions",
                    "redis_hll_counters.ci_templates", "usage_activity_by_stage.create",
                    "usage_activity_by_stage_monthly.plan", "analytics_unique_visits"]


@dataclass(frozen=True)
class MetricSpec:
    key_path: str
    time_frame: str  # 7d, 28d, all, none
    stage: str = "unknown"


@dataclass
class Installation:
    uuid: str
    hostname: str
    edition: str
    version_index: int
    installation_type: str
    users: int
    adoption: dict[str, float]
    dedicated: bool = False
    silent_after: int | None = None  # stops pinging after this many weeks
    totals: dict[str, int] = field(default_factory=dict)


def set_path(payload: dict, key_path: str, value) -> None:
    node = payload
    *parents, leaf = key_path.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


def padding_specs(count: int) -> list[MetricSpec]:
    specs = []
    for i in range(count):
        section = PADDING_SECTIONS[i % len(PADDING_SECTIONS)]
        time_frame = "28d" if "monthly" in section else ("7d" if "weekly" in section else "all")
        suffix = "_monthly" if section.startswith("redis_hll") else ""
        specs.append(MetricSpec(f"{section}.synthetic_counter_{i:04d}{suffix}", time_frame))
    return specs


class Fleet:
    def __init__(self, metrics: list[MetricSpec], installations: int = 40, seed: int = 7,
                 failure_rate: float = 0.01):
        self.rng = random.Random(seed)
        self.metrics = [m for m in metrics if m.time_frame != "none"]
        self.stages = sorted({m.stage for m in self.metrics})
        self.failure_rate = failure_rate
        self.installations = [self._installation(i) for i in range(installations)]

    def _installation(self, index: int) -> Installation:
        rng = self.rng
        if index == 0:
            return Installation(GITLAB_COM_UUID, "gitlab.com", "EEU", len(VERSIONS) - 1,
                                "gitlab-development-kit", 250_000,
                                {s: rng.uniform(0.3, 0.8) for s in self.stages})
        edition = rng.choices(list(EDITION_WEIGHTS), weights=list(EDITION_WEIGHTS.values()))[0]
        return Installation(
            uuid=str(uuid_lib.UUID(int=rng.getrandbits(128), version=4)),
            hostname=f"gitlab.{rng.choice(['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell'])}{index}.example",
            edition=edition,
            version_index=rng.randrange(0, len(VERSIONS) - 3),
            installation_type=rng.choice(INSTALL_TYPES),
            users=int(rng.lognormvariate(4.5, 1.3)) + 5,
            adoption={s: rng.betavariate(2, 3) if rng.random() < 0.85 else 0.0 for s in self.stages},
            dedicated=index % 17 == 3 and edition == "EEU",
            silent_after=rng.randrange(20, 40) if index % 11 == 5 else None,
        )

    def _value(self, inst: Installation, spec: MetricSpec, week: int):
        rng = self.rng
        if rng.random() < self.failure_rate:
            return rng.choice(FAILURE_CODES)
        share = inst.adoption.get(spec.stage, 0.3)
        if spec.time_frame in ("28d", "7d"):
            base = inst.users * share * (0.25 if spec.time_frame == "7d" else 1.0)
            return max(0, int(rng.gauss(base, base * 0.1 + 0.5)))
        total = inst.totals.get(spec.key_path, int(inst.users * share * rng.uniform(0, 20)))
        total += max(0, int(rng.gauss(inst.users * share, inst.users * share * 0.2 + 1)))
        inst.totals[spec.key_path] = total
        return total

    def pings(self, start: datetime, weeks: int, every: int = 1):
        """Yield (received_at, payload) for every installation, every `every` weeks."""
        for week in range(0, weeks, every):
            for inst in self.installations:
                if inst.silent_after is not None and week >= inst.silent_after:
                    continue
                if week and week % 13 == 0 and self.rng.random() < 0.5:
                    inst.version_index = min(inst.version_index + 1, len(VERSIONS) - 1)
                if week == weeks // 2 and inst.edition == "EES" and self.rng.random() < 0.5:
                    inst.edition = "EEP"  # an upgrade mid-period
                recorded = start + timedelta(weeks=week, hours=self.rng.uniform(0, 72))
                received = recorded + timedelta(minutes=self.rng.uniform(0.5, 30))
                yield format_timestamp(received), self.payload(inst, recorded, week)

    def payload(self, inst: Installation, recorded: datetime, week: int) -> dict:
        payload = {
            "uuid": inst.uuid,
            "hostname": inst.hostname,
            "version": VERSIONS[inst.version_index],
            "installation_type": inst.installation_type,
            "active_user_count": inst.users,
            "recorded_at": format_timestamp(recorded),
            "edition": inst.edition,
            "gitlab_dedicated": inst.dedicated,
            "license_plan": {"EES": "starter", "EEP": "premium", "EEU": "ultimate"}.get(inst.edition),
            "database": {"adapter": "postgresql", "version": "14.11", "pg_system_id": 6842684531675334351},
            "reply_by_email_enabled": False,
        }
        for spec in self.metrics:
            set_path(payload, spec.key_path, self._value(inst, spec, week))
        return payload


def month_start(months_back: int, today: datetime | None = None) -> datetime:
    today = today or datetime.now(timezone.utc)
    year, month = today.year, today.month - months_back
    while month <= 0:
        month += 12
        year -= 1
    return datetime(year, month, 1, tzinfo=timezone.utc)
