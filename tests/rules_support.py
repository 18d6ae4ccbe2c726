"""A small pipeline for rule tests: send pings with chosen receive times, process, export."""
from __future__ import annotations

import copy
from pathlib import Path

from ping_server.intake import accept_ping
from workers import exports, processing

RULES_DICTIONARY = Path(__file__).parent / "data" / "rules_dictionary"
CREATE_SMAU = "usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo"
VERIFY_SMAU = "usage_activity_by_stage_monthly.verify.ci_pipelines"
UMAU = "usage_activity_by_stage_monthly.manage.events"
PUSHES = "counts.source_code_pushes"
VISITS = "analytics_unique_visits.analytics_unique_visits_for_any_target_monthly"


def payload(uuid="inst-a", hostname="a.example", recorded_at="2026-01-05T00:00:00Z",
            edition="EEP", version="16.11.2-ee", create=None, verify=None, umau=None,
            pushes=None, visits=None, **extra) -> dict:
    body = {"uuid": uuid, "hostname": hostname, "recorded_at": recorded_at, "edition": edition,
            "version": version, "active_user_count": 100}
    stage_monthly = {}
    if create is not None:
        stage_monthly.setdefault("create", {})["action_monthly_active_users_project_repo"] = create
    if verify is not None:
        stage_monthly.setdefault("verify", {})["ci_pipelines"] = verify
    if umau is not None:
        stage_monthly.setdefault("manage", {})["events"] = umau
    if stage_monthly:
        body["usage_activity_by_stage_monthly"] = stage_monthly
    if pushes is not None:
        body["counts"] = {"source_code_pushes": pushes}
    if visits is not None:
        body["analytics_unique_visits"] = {"analytics_unique_visits_for_any_target_monthly": visits}
    body.update(extra)
    return body


class Pipeline:
    def __init__(self, storage, settings):
        self.storage = storage
        self.settings = settings
        self.ping_ids: list[int] = []

    def send(self, received_at: str, **fields) -> int:
        """Archive a ping received at `received_at` (recorded a minute earlier unless given)."""
        fields.setdefault("recorded_at", received_at)
        accepted = accept_ping(self.storage, None, self.settings, payload(**fields),
                               received_at=received_at, source="import")
        self.ping_ids.append(accepted.ping_id)
        return accepted.ping_id

    def process(self, order=None) -> None:
        for ping_id in (order if order is not None else self.ping_ids):
            processing.process_ping(self.storage, ping_id, self.settings)

    def export(self, kind: str, **params) -> list[dict]:
        request = exports.ExportRequest(kind, **params).validate()
        return list(exports.rows(self.storage, request))

    def row(self, kind: str, month: str, key_path: str | None = None, **params) -> dict | None:
        for row in self.export(kind, **params):
            if row["month"] == month and (key_path is None or row.get("key_path") == key_path):
                return row
        return None

