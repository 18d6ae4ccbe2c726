"""`pingtally worker` waits out a Redis restart instead of exiting (a supervisor such as
honcho would otherwise stop the whole stack)."""
import signal

from ops_support import post_ping, start_worker, stop, wait_for
from redis_server import RedisServer, free_port


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
    # Depending on where RQ's loop was when Redis went, RQ retries by itself or returns (with a
    # logged traceback) and pingtally's loop starts it again; either way the same process went
    # on working and then stopped cleanly on SIGTERM.
    assert worker.returncode == 0, output[-2000:]


def test_worker_waiting_for_redis_stops_cleanly_on_sigterm(env):
    """With no Redis at all the worker waits and retries; a supervisor's SIGTERM during that wait
    ends it with exit code 0, promptly."""
    worker = start_worker("patient", env_overrides={"PINGTALLY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    try:
        wait_for(lambda: b"Redis unavailable" in read_log(worker), what="the worker to notice Redis is down")
        assert worker.poll() is None  # still waiting, not crashed
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=5) == 0
    finally:
        output = stop(worker)
    assert "stop requested while waiting for Redis" in output


def read_log(process) -> bytes:
    process.log.seek(0)
    return process.log.read()
