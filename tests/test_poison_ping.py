"""Poison pings: a valid envelope around a pathological body.

- Nesting deeper than PINGTALLY_MAX_JSON_DEPTH (64; GitLab's payloads are about 6 deep) is
  refused at every door with a 400 and a JSON error naming the limit, and by `pingtally
  import` with the line number.
- A deep ping that reached the archive anyway (archived before the cap existed) fails alone:
  its receipt says failed with a clear error, while the pings around it are processed by the
  same real worker, which keeps running.
- A million keys under the byte cap is accepted and processed: the figures are in
  docs/reliability.md.
"""
import json
import time

from fault_support import (JSON, archive_rows, assert_exactly_once,
                           assert_rollups_equal_a_clean_run, fleet_payload)
from ops_support import start_worker, stop, wait_for

from workers import queue as rq_queue
from workers.payloads import pack_archive
from workers.settings import Settings
from workers.storage import Storage

ENVELOPE = ('"uuid": "poison", "hostname": "poison.example.com", "version": "16.11.0", '
            '"edition": "EE", "recorded_at": "2026-10-0{day}T00:00:00Z"')


def nested(levels: int, day: int = 1, section: str = "counts") -> bytes:
    """A ping whose `section` holds `levels` nested objects: depth levels + 1 in all."""
    return ("{" + ENVELOPE.format(day=day) + f', "{section}": ' + '{"a": ' * levels + "1"
            + "}" * levels + "}").encode()


def million_keys(day: int = 9) -> bytes:
    counters = ",".join(f'"k{i}":1' for i in range(1_000_000))
    return ("{" + ENVELOPE.format(day=day) + ', "counts": {' + counters + "}}").encode()


def test_nesting_past_the_cap_is_refused_with_a_clear_error(client):
    for levels in (63, 64, 5000):
        response = client.post("/usage_data", data=nested(levels), headers=JSON)
        if levels == 63:  # 64 levels in all: the cap itself
            assert response.status_code == 201, response.json
            continue
        assert response.status_code == 400
        assert "JSON is nested" in response.json["error"]
    assert "64 levels" in client.post("/usage_data", data=nested(64), headers=JSON).json["error"]

    deep_report = {"metadata": {"uuid": "u", "metrics": [{"name": "m", "x": json.loads(
        nested(70))}]}}
    response = client.post("/usage_ping_metadata", data=json.dumps(deep_report), headers=JSON)
    assert response.status_code == 400 and "nested" in response.json["error"]


def test_the_cap_is_configurable(monkeypatch, runner_factory):
    monkeypatch.setenv("PINGTALLY_MAX_JSON_DEPTH", "8")
    app, client, auth = runner_factory()
    assert client.post("/usage_data", data=json.dumps(fleet_payload(1)),
                       headers=JSON).status_code == 201
    refused = client.post("/usage_data", data=nested(8), headers=JSON)
    assert refused.status_code == 400 and "8 levels" in refused.json["error"]


def test_import_rejects_deep_lines_by_number_and_keeps_the_rest(runner, tmp_path, storage):
    lines = [json.dumps(fleet_payload(1)).encode(), nested(5000, day=2), nested(100, day=3),
             json.dumps(fleet_payload(2)).encode()]
    source = tmp_path / "deep.ndjson"
    source.write_bytes(b"\n".join(lines))
    result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    assert "4 lines: 2 accepted, 0 duplicates, 2 rejected" in result.output
    assert "line 2: JSON is nested too deeply" in result.output
    assert "line 3: JSON is nested more than 64 levels deep" in result.output


def archive_as_before_the_cap(settings, queue, body: bytes, day: int) -> int:
    """A deep ping that got into the archive anyway (before the cap, or a restored backup)."""
    storage = Storage.open(settings)
    try:
        ping_id = storage.archive_ping(
            uuid="poison", hostname="poison.example.com", recorded_at=f"2026-10-0{day}T00:00:00Z",
            received_at="2026-10-15T00:00:00.000000Z", version="16.11.0", edition="EE",
            source="http", body=pack_archive(body), payload_bytes=len(body)).ping_id
        assert rq_queue.try_enqueue(storage, queue, ping_id, settings)
        return ping_id
    finally:
        storage.close()


def test_an_archived_poison_ping_fails_alone_while_others_flow(tmp_path, env, monkeypatch, client,
                                                               queue):
    monkeypatch.setenv("PINGTALLY_JOB_RETRIES", "0")  # fail for good at once: it cannot succeed
    settings = Settings.from_env()
    acknowledged = set()

    def post(n):
        response = client.post("/usage_data", data=json.dumps(fleet_payload(n)), headers=JSON)
        assert response.status_code == 201
        acknowledged.add(response.json["conv_index"]["usage_data_id"])

    worker = start_worker("poison-taster", env_overrides={"PINGTALLY_JOB_RETRIES": "0"})
    try:
        for n in range(10):
            post(n)
        poison = archive_as_before_the_cap(settings, queue, nested(5000), day=1)
        survivable = archive_as_before_the_cap(settings, queue, nested(300), day=2)
        acknowledged |= {poison, survivable}
        for n in range(10, 20):
            post(n)
        wait_for(lambda: all(r["status"] != "queued" for r in archive_rows(settings.database)),
                 timeout=30, interval=0.1, what="every ping to settle")
        assert worker.poll() is None, "the worker died"
    finally:
        output = stop(worker)
    [receipt] = [r for r in archive_rows(settings.database) if r["id"] == poison]
    assert receipt["status"] == "failed"
    assert receipt["error"] == "workers.payloads.PayloadError: JSON is nested too deeply"
    assert "unhandled exception" not in output
    assert_exactly_once(settings.database, acknowledged, failed={poison})
    assert_rollups_equal_a_clean_run(settings, tmp_path, exclude={poison})


def test_a_million_keys_under_the_byte_cap_is_accepted_and_processed(env, client, auth, storage):
    body = million_keys()
    assert len(body) < Settings().max_payload_bytes
    started = time.perf_counter()
    response = client.post("/usage_data", data=body, headers=JSON)
    ingest_seconds = time.perf_counter() - started
    assert response.status_code == 201, response.json
    ping_id = response.json["conv_index"]["usage_data_id"]

    worker = start_worker("million-keys")
    try:
        started = time.perf_counter()
        wait_for(lambda: storage.ping(ping_id)["status"] != "queued", timeout=60, interval=0.05,
                 what="the worker to process it")
        work_seconds = time.perf_counter() - started
        with open(f"/proc/{worker.pid}/status") as status:
            peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    finally:
        stop(worker)
    ping = storage.ping(ping_id)
    assert (ping["status"], ping["error"], ping["unknown_keys"]) == ("processed", None, 1_000_000)
    print(f"million keys: {len(body) / 1e6:.1f} MB, ingest {ingest_seconds:.2f} s, "
          f"worker start + processing {work_seconds:.2f} s, worker peak RSS {int(peak) // 1024} MiB")
