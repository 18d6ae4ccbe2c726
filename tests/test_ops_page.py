"""/ops: the operator's page, signed in, self-refreshing, with a requeue button per fingerprint."""
import re

from ops_support import corrupt, drain_with_retries, post_ping, restore
from rq import SimpleWorker

ERROR_REPORT = {"error": {"uuid": "u-1", "hostname": "h", "version": "16.11.2-ee",
                          "message": "<script>alert('x')</script> timed out after 31.5s",
                          "elapsed": 31.5, "time": "2026-10-07T10:00:00Z"}}


def sign_in(client):
    response = client.post("/login", data={"token": "test-token"})
    assert response.status_code == 302


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_ops_redirects_to_sign_in_and_needs_the_token(client):
    response = client.get("/ops")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/ops")
    assert client.post("/ops/requeue-failed").status_code == 302
    assert client.get("/ops", headers={"Authorization": "Bearer nope"}).status_code == 302


def test_ops_shows_queues_workers_lag_and_refreshes_itself(client, auth, queue):
    post_ping(client)
    worker = SimpleWorker([queue], connection=queue.connection, name="page-worker")
    worker.register_birth()  # a registered, idle worker, as `rq info` would list it
    try:
        response = client.get("/ops", headers=auth)
    finally:
        worker.register_death()
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "queue <code>pings</code>" in html
    assert "1 <small>queued</small>" in html
    assert "1 <small>pings waiting</small>" in html
    assert "page-worker" in html and "running" in html
    assert 'data-refresh="10"' in html
    assert 'src="/static/ops.js"' in html
    assert '<meta http-equiv="refresh" content="10">' in html  # for browsers without JS
    assert not re.search(r'(src|href)="https?://', html)  # no CDN
    script = client.get("/static/ops.js")
    assert script.status_code == 200 and b"setInterval" in script.data


def test_ops_names_a_redis_outage(env, monkeypatch, runner_factory):
    from tests_support import unused_redis_url

    monkeypatch.setenv("PINGTALLY_REDIS_URL", unused_redis_url())
    app, client, auth = runner_factory()
    post_ping(client)
    html = client.get("/ops", headers=auth).get_data(as_text=True)
    assert "Redis does not answer" in html
    assert "never reached Redis" in html


def test_ops_escapes_what_instances_send(client, auth):
    assert client.post("/usage_ping_errors", json=ERROR_REPORT).status_code == 201
    metadata = {"metadata": {"uuid": "u-1", "metrics": [
        {"name": "counts.<b>issues</b>", "time_elapsed": 2.5}]}}
    assert client.post("/usage_ping_metadata", json=metadata).status_code == 201
    html = client.get("/ops", headers=auth).get_data(as_text=True)
    assert "<script>alert" not in html and "<b>issues" not in html
    assert "&lt;script&gt;alert(&lt;str&gt;)&lt;/script&gt; timed out after &lt;n&gt;s" in html
    assert "counts.&lt;b&gt;issues&lt;/b&gt;" in html


def test_requeue_button_per_fingerprint(client, settings, queue, run_worker):
    ping_id = post_ping(client)
    original = corrupt(settings.database, ping_id)
    drain_with_retries(queue, run_worker)
    sign_in(client)

    html = client.get("/ops").get_data(as_text=True)
    assert "Failed pings <span class=\"muted\">(1," in html
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]{12})"', html).group(1)
    assert f'<a href="/api/v1/pings/{ping_id}">{ping_id}</a>' in html

    stale = client.post("/ops/requeue-failed", data={"fingerprint": fingerprint})
    assert stale.status_code == 400  # no CSRF token: refused, nothing re-queued
    assert queue.count == 0

    restore(settings.database, ping_id, original)
    response = client.post("/ops/requeue-failed",
                           data={"fingerprint": fingerprint, "csrf": csrf_of(html)})
    assert response.status_code == 302 and response.headers["Location"] == "/ops"
    page = client.get("/ops").get_data(as_text=True)
    assert f"Re-queued 1 failed ping(s) (fingerprint {fingerprint}); 1 reached Redis." in page
    assert "No failed pings." in page
    run_worker()
    assert client.get(f"/api/v1/pings/{ping_id}").json["status"] == "processed"


def test_requeue_stuck_button(client, redis_url, run_worker):
    import redis

    ping_id = post_ping(client)
    redis.Redis.from_url(redis_url).flushall()
    sign_in(client)
    html = client.get("/ops").get_data(as_text=True)
    response = client.post("/ops/requeue-stuck", data={"csrf": csrf_of(html)})
    assert response.status_code == 302
    assert "1 ping(s) waiting, 1 re-queued." in client.get("/ops").get_data(as_text=True)
    run_worker()
    assert client.get(f"/api/v1/pings/{ping_id}").json["status"] == "processed"
