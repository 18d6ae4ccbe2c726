"""`pingtally worker` waits out a Redis restart instead of exiting (a supervisor such as
honcho would otherwise stop the whole stack)."""
import signal

from ops_support import post_ping, start_worker, stop, wait_for
from redis_server import RedisServer


def test_worker_keeps_running_across_a_redis_restart(tmp_path, env, monkeypatch, runner_factory):
    server = RedisServer(tmp_path / "redis").start()
    monkeypatch.setenv("PINGTALLY_REDIS_URL", server.url)
    app, client, auth = runner_factory()
    worker = start_worker("survivor", env_overrides={"PINGTALLY_REDIS_URL": server.url})
    try:
        first = post_ping(client, recorded_at="2026-10-01T00:00:00Z")
        wait_for(lambda: client.get(f"/api/v1/pings/{first}", headers=auth).json["status"] == "processed",
                 what="the first ping")
        server.stop()  # Redis goes away under the idle worker
        second = post_ping(client, recorded_at="2026-10-02T00:00:00Z")  # archived, waits
        assert worker.poll() is None
        server.start()  # back, empty
        third = post_ping(client, recorded_at="2026-10-03T00:00:00Z")  # queued normally again
        assert "1 re-queued" in app.test_cli_runner().invoke(args=["queue", "requeue-stuck"]).output
        for ping_id in (second, third):
            wait_for(lambda: client.get(f"/api/v1/pings/{ping_id}", headers=auth).json["status"]
                     == "processed", timeout=30, what=f"the same worker to process ping {ping_id}")
        assert worker.poll() is None
    finally:
        output = stop(worker, signal.SIGTERM)
        server.stop()
    assert worker.returncode is not None
    assert "Traceback" not in output or "Redis unavailable" in output
