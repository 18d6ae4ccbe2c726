"""POST /usage_ping_errors and /usage_ping_metadata (what instances report about themselves)."""
import json


ERROR_REPORT = {"error": {
    "time": "2022-01-01T00:00:00.000Z", "uuid": "02333324-1cd7-4c3b-a45b-a4993f05fb1d",
    "hostname": "127.0.0.1", "version": "14.7.0-pre", "elapsed": 0.0069,
    "message": "PG::UndefinedColumn: ERROR: column does not exist",
}}
METADATA = {"metadata": {
    "uuid": "02333324-1cd7-4c3b-a45b-a4993f05fb1d",
    "unique_instance_id": "00000000-0000-0000-0000-000000000000",
    "metrics": [{"name": "version", "time_elapsed": 1.2e-05},
                {"name": "counts.clusters_platforms_gke", "time_elapsed": 0.41, "error": "timeout"}],
}}


def post(client, path, payload):
    return client.post(path, data=json.dumps(payload), headers={"Content-Type": "application/json"})


def test_error_report_is_stored(client, storage):
    response = post(client, "/usage_ping_errors", ERROR_REPORT)
    assert response.status_code == 201
    row = next(storage.db.query("SELECT * FROM instance_errors"))
    assert row["message"].startswith("PG::UndefinedColumn")
    assert row["reported_time"] == "2022-01-01T00:00:00.000000Z"
    assert row["unique_instance_id"] is None  # older instances omit it


def test_error_report_without_message_is_422(client):
    response = post(client, "/usage_ping_errors", {"error": {"uuid": "x"}})
    assert response.status_code == 422
    assert "message" in response.json["fields"]["error"]


def test_error_report_with_wrong_types_is_422(client):
    bad = {"error": dict(ERROR_REPORT["error"], elapsed="slow", time="noon")}
    response = post(client, "/usage_ping_errors", bad)
    assert response.status_code == 422
    assert set(response.json["fields"]["error"]) == {"elapsed", "time"}


def test_metadata_is_stored_with_each_metric_timing(client, storage):
    response = post(client, "/usage_ping_metadata", METADATA)
    assert response.status_code == 201
    timings = list(storage.db.query("SELECT name, time_elapsed, error FROM instance_metric_timings ORDER BY name"))
    assert timings[0] == {"name": "counts.clusters_platforms_gke", "time_elapsed": 0.41, "error": "timeout"}
    assert len(timings) == 2


def test_metadata_without_metrics_list_is_422(client):
    response = post(client, "/usage_ping_metadata", {"metadata": {"uuid": "u", "metrics": "all"}})
    assert response.status_code == 422
    assert "metrics" in response.json["fields"]["metadata"]


def test_reports_need_json(client):
    response = client.post("/usage_ping_errors", data="x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
