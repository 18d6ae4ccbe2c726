"""Builders for test payloads."""
from __future__ import annotations

import copy
import json

BASE = {
    "uuid": "0f1f2f3f-0000-4000-8000-000000000001",
    "hostname": "gitlab.example.com",
    "version": "16.11.2-ee",
    "installation_type": "omnibus-gitlab",
    "active_user_count": 120,
    "recorded_at": "2026-10-07T10:00:00.000+00:00",
    "edition": "EEP",
    "database": {"adapter": "postgresql", "pg_system_id": 6842684531675334351},
    "counts": {"issues": 1200, "ci_builds": 3400, "merge_requests": 800},
    "counts_monthly": {"deployments": 40, "aggregated_metrics": {"example_union": 7}},
    "usage_activity_by_stage_monthly": {
        "create": {"action_monthly_active_users_project_repo": 75},
        "verify": {"ci_pipelines": 60},
    },
}


def make_payload(**overrides) -> dict:
    payload = copy.deepcopy(BASE)
    payload.update(overrides)
    return payload


def padded_payload(size: int, **overrides) -> dict:
    """A payload of about `size` bytes of JSON, padded with numeric counters."""
    payload = make_payload(**overrides)
    extra = {}
    i = 0
    while len(json.dumps(extra)) < size:
        extra[f"counter_{i:05d}"] = i * 7
        i += 1
    payload["counts"].update(extra)
    return payload
