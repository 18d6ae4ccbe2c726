"""Installations that went silent, cohorts that went silent together, and what instances report
about themselves (/usage_ping_errors, /usage_ping_metadata)."""
from datetime import timedelta

import pytest

from payloads import make_payload
from ping_server.intake import accept_ping
from workers import operations
from workers.installations import format_timestamp, utc_now


def week_start(moment):
    monday = moment - timedelta(days=moment.weekday())
    return monday.replace(hour=0, minute=0, second=0, microsecond=0)


def receive(storage, queue, settings, uuid, version, at):
    payload = make_payload(uuid=uuid, version=version, recorded_at=format_timestamp(at))
    accept_ping(storage, queue, settings, payload, received_at=format_timestamp(at), source="import")


@pytest.fixture
def fleet(storage, queue, settings, run_worker):
    """Three on 16.10 silent since the same week, two on 16.9 silent longer, one on 16.11
    silent for 11 days, one on 16.10 still pinging."""
    now = utc_now()
    same_week = week_start(now - timedelta(days=21)) + timedelta(days=2, hours=12)
    older_week = week_start(now - timedelta(days=45)) + timedelta(days=2, hours=12)
    for i in range(3):
        receive(storage, queue, settings, f"v10-{i}", "16.10.1-ee", same_week + timedelta(hours=i))
    for i in range(2):
        receive(storage, queue, settings, f"v9-{i}", "16.9.0-ee", older_week + timedelta(hours=i))
    receive(storage, queue, settings, "v11-quiet", "16.11.0-ee", now - timedelta(days=11))
    receive(storage, queue, settings, "v10-active", "16.10.1-ee", now - timedelta(days=2))
    run_worker()
    return {"same_week": week_start(same_week).strftime("%Y-%m-%d"),
            "older_week": week_start(older_week).strftime("%Y-%m-%d")}


def test_missing_installations_and_flagged_cohorts(client, auth, fleet):
    report = client.get("/api/v1/installations/missing", headers=auth).json
    assert report["silent_after_days"] == 10
    assert report["installations_known"] == 7
    assert [i["uuid"] for i in report["silent"]] == ["v9-0", "v9-1", "v10-0", "v10-1", "v10-2",
                                                      "v11-quiet"]  # longest silent first
    assert report["silent"][-1]["silent_days"] >= 10.9
    assert report["silent"][0]["version_minor"] == "16.9"

    flagged = [(c["by"], c["value"], c["installations"]) for c in report["cohorts"] if c["flagged"]]
    assert sorted(flagged) == [("version", "16.10", 3), ("week", fleet["same_week"], 3)]
    unflagged = {(c["by"], c["value"]): c["installations"]
                 for c in report["cohorts"] if not c["flagged"]}
    assert unflagged[("version", "16.9")] == 2
    assert unflagged[("week", fleet["older_week"])] == 2


def test_missing_window_is_adjustable(client, auth, fleet):
    report = client.get("/api/v1/installations/missing?days=30", headers=auth).json
    assert [i["uuid"] for i in report["silent"]] == ["v9-0", "v9-1"]
    bad = client.get("/api/v1/installations/missing?days=ten", headers=auth)
    assert bad.status_code == 400 and "days" in bad.json["error"]


def test_ops_page_lists_missing_installations_and_cohorts(client, auth, fleet):
    html = client.get("/ops", headers=auth).get_data(as_text=True)
    assert "silent for more than 10 days: 6 of 7" in html
    assert "<strong>3</strong> installations on version 16.10" in html
    assert f"last heard from in the week of {fleet['same_week']}" in html
    assert "v11-quiet" in html and "v10-active" not in html


def test_cohorts_need_three_installations():
    silent = [{"uuid": str(i), "hostname": "h", "version_minor": v, "last_seen_week": w}
              for i, (v, w) in enumerate([("16.1", "2026-01-05"), ("16.1", "2026-01-12"),
                                          ("16.1", "2026-01-19"), ("16.2", "2026-01-19")])]
    cohorts = {(c["by"], c["value"]): (c["installations"], c["flagged"])
               for c in operations.silent_cohorts(silent)}
    assert cohorts[("version", "16.1")] == (3, True)
    assert cohorts[("week", "2026-01-19")] == (2, False)
    assert cohorts[("version", "16.2")] == (1, False)


def error_report(message, version="16.11.2-ee", uuid="u-1"):
    return {"error": {"uuid": uuid, "hostname": f"{uuid}.example.com", "version": version,
                      "message": message, "elapsed": 30.1, "time": "2026-10-07T10:00:00Z"}}


def test_instance_error_reports_grouped_by_message_and_version(client, auth, storage):
    for uuid, message, version in [
        ("u-1", "Net::ReadTimeout after 30.12 seconds", "16.11.2-ee"),
        ("u-2", "Net::ReadTimeout after 29.87 seconds", "16.11.2-ee"),
        ("u-2", "Net::ReadTimeout after 31 seconds", "16.11.2-ee"),
        ("u-3", "Net::ReadTimeout after 30 seconds", "16.10.0-ee"),
        ("u-1", "SSL_connect returned=1 errno=0 state=error", "16.11.2-ee"),
    ]:
        response = client.post("/usage_ping_errors", json=error_report(message, version, uuid))
        assert response.status_code == 201
    storage.record_instance_error(  # older than the 30-day window
        received_at=format_timestamp(utc_now() - timedelta(days=40)), uuid="u-9",
        unique_instance_id=None, hostname="old", version="16.11.2-ee",
        message="Net::ReadTimeout after 5 seconds", elapsed=5, reported_time=None)

    groups = client.get("/api/v1/instance-errors", headers=auth).json["groups"]
    summary = [(g["message"], g["version"], g["reports"], g["installations"]) for g in groups]
    assert summary == [
        ("Net::ReadTimeout after <n> seconds", "16.11.2-ee", 3, 2),
        ("Net::ReadTimeout after <n> seconds", "16.10.0-ee", 1, 1),
        ("SSL_connect returned=<n> errno=<n> state=error", "16.11.2-ee", 1, 1),
    ]
    assert groups[0]["example"].startswith("Net::ReadTimeout after")
    older = client.get("/api/v1/instance-errors?days=60", headers=auth).json["groups"]
    assert older[0]["reports"] == 4


def test_slowest_metrics_from_instance_metadata(client, auth):
    reports = [
        [("counts.issues", 1.0, None), ("counts.merge_requests", 5.0, None),
         ("counts.ci_builds", 0.1, "timeout")],
        [("counts.issues", 2.0, None), ("counts.merge_requests", 6.0, None)],
        [("counts.issues", 10.0, None)],
    ]
    for n, metrics in enumerate(reports):
        body = {"metadata": {"uuid": f"u-{n}", "metrics": [
            {"name": name, "time_elapsed": elapsed, **({"error": error} if error else {})}
            for name, elapsed, error in metrics]}}
        assert client.post("/usage_ping_metadata", json=body).status_code == 201

    rows = client.get("/api/v1/metric-timings", headers=auth).json["metrics"]
    summary = [(r["name"], r["reports"], r["median_seconds"], r["max_seconds"], r["errors"])
               for r in rows]
    assert summary == [
        ("counts.merge_requests", 2, 5.5, 6.0, 0),
        ("counts.issues", 3, 2.0, 10.0, 0),
        ("counts.ci_builds", 1, 0.1, 0.1, 1),
    ]
    assert len(client.get("/api/v1/metric-timings?limit=1", headers=auth).json["metrics"]) == 1
