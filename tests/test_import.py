"""`pingtally import`: NDJSON through the same validation, duplicate rule, archive and queue."""
import json

from payloads import make_payload


def write_lines(path, lines):
    path.write_text("\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n")
    return path


def test_import_good_duplicate_and_bad_lines(runner, storage, queue, tmp_path):
    source = write_lines(tmp_path / "pings.ndjson", [
        {"received_at": "2026-03-31T23:59:00Z", "payload": make_payload(recorded_at="2026-03-31T20:00:00Z")},
        make_payload(recorded_at="2026-04-07T00:00:00Z", hostname="b.example.com"),
        {"received_at": "2026-04-01T00:00:00Z", "payload": make_payload(recorded_at="2026-03-31T20:00:00Z")},
        "{not json",
        make_payload(uuid=""),
        "",
        {"received_at": "last week", "payload": make_payload()},
        "[1, 2]",
    ])
    result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    assert "8 lines: 2 accepted, 1 duplicates, 4 rejected" in result.output
    assert "line 4: body is not valid JSON" in result.output
    assert "line 5: uuid:" in result.output
    assert "line 7: `received_at` is not an ISO 8601 timestamp" in result.output
    assert "line 8: body must be a JSON object" in result.output

    rows = list(storage.db.query("SELECT hostname, received_at, month, source FROM pings ORDER BY id"))
    assert rows[0] == {"hostname": "gitlab.example.com", "received_at": "2026-03-31T23:59:00.000000Z",
                       "month": "2026-03", "source": "import"}
    assert rows[1]["hostname"] == "b.example.com"
    assert queue.count == 1  # imports are queued in batches: one job for both new pings
    job = queue.jobs[0]
    assert job.func_name == "workers.jobs.process_pings"
    assert job.args == ([1, 2],)


def test_import_from_stdin_then_process(runner, storage, run_worker):
    lines = "\n".join(json.dumps(make_payload(recorded_at=f"2026-05-0{d}T00:00:00Z")) for d in range(1, 6))
    result = runner.invoke(args=["import", "-"], input=lines)
    assert "5 accepted" in result.output
    run_worker()
    statuses = [r["status"] for r in storage.db.query("SELECT status FROM pings")]
    assert statuses == ["processed"] * 5


def test_import_rejects_invalid_utf8_lines(runner, tmp_path):
    source = tmp_path / "bad.ndjson"
    source.write_bytes(json.dumps(make_payload()).encode() + b"\n" + b'{"uuid": "\xff"}\n')
    result = runner.invoke(args=["import", str(source)])
    assert "1 accepted" in result.output
    assert "line 2: body is not valid UTF-8" in result.output


def test_a_large_import_is_queued_in_batches_of_50(runner, storage, queue, run_worker):
    lines = "\n".join(json.dumps(make_payload(recorded_at=f"2026-05-01T00:{m // 60:02d}:{m % 60:02d}Z"))
                      for m in range(120))
    result = runner.invoke(args=["import", "-"], input=lines)
    assert "120 accepted" in result.output
    assert [len(job.args[0]) for job in queue.jobs] == [50, 50, 20]
    run_worker()
    assert storage.conn.execute("SELECT count(*) FROM pings WHERE status = 'processed'").fetchone()[0] == 120


def test_import_of_missing_file_exits_non_zero(runner, tmp_path):
    result = runner.invoke(args=["import", str(tmp_path / "nope.ndjson")])
    assert result.exit_code != 0


def test_import_with_redis_down_archives_and_says_how_to_queue(env, monkeypatch, runner_factory, tmp_path):
    from tests_support import unused_redis_url

    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    app, _, _ = runner_factory()
    source = write_lines(tmp_path / "p.ndjson", [make_payload()])
    result = app.test_cli_runner().invoke(args=["import", str(source)])
    assert result.exit_code == 0
    assert "1 accepted" in result.output
    assert "requeue-stuck" in result.output


def test_token_command_prints_a_stable_generated_token(env, monkeypatch, runner_factory):
    monkeypatch.delenv("PINGTALLY_API_TOKEN")
    app, client, _ = runner_factory()
    first = app.test_cli_runner().invoke(args=["token"]).output.strip()
    second = app.test_cli_runner().invoke(args=["token"]).output.strip()
    assert len(first) >= 32 and first == second
    ping = client.get("/api/v1/pings/1", headers={"Authorization": f"Bearer {first}"})
    assert ping.status_code == 404  # authorised; there is simply no ping yet
