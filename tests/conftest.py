import os
import sys
from pathlib import Path

import pytest
import redis as redis_lib

sys.path.insert(0, str(Path(__file__).parent))

from redis_server import RedisServer  # noqa: E402

from ping_server import create_app  # noqa: E402
from workers import jobs  # noqa: E402
from workers import queue as rq_queue  # noqa: E402
from workers.settings import Settings  # noqa: E402
from workers.storage import Storage  # noqa: E402

TOKEN = "test-token"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    redis_lib.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def env(tmp_path, redis_url, monkeypatch):
    """PINGTALLY_* variables pointing at a fresh database and the private Redis."""
    values = {
        "PINGTALLY_DATABASE": str(tmp_path / "pingtally.db"),
        "PINGTALLY_REDIS_URL": redis_url,
        "PINGTALLY_API_TOKEN": TOKEN,
    }
    for name in [n for n in os.environ if n.startswith("PINGTALLY_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    jobs._storage = None
    yield values
    if jobs._storage is not None:
        jobs._storage.close()
        jobs._storage = None


@pytest.fixture
def settings(env):
    return Settings.from_env()


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def storage(settings):
    storage = Storage.open(settings)
    yield storage
    storage.close()


@pytest.fixture
def queue(settings):
    return rq_queue.ping_queue(rq_queue.connect(settings.redis_url), settings)


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def run_worker(queue):
    """Drain the ping queue with a real RQ worker (burst mode), in this process."""
    from rq import SimpleWorker

    def run():
        SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="WARNING")

    return run


@pytest.fixture
def runner_factory(env):
    """Build an app from the current environment (after a test changed PINGTALLY_*)."""
    def build():
        app = create_app(Settings.from_env())
        app.config["TESTING"] = True
        return app, app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    return build


@pytest.fixture
def pipeline(env, monkeypatch):
    """Storage + settings using the small rules dictionary (tests/data/rules_dictionary)."""
    from rules_support import RULES_DICTIONARY, Pipeline

    monkeypatch.setenv("PINGTALLY_METRICS_DIRS", str(RULES_DICTIONARY))
    settings = Settings.from_env()
    storage = Storage.open(settings)
    yield Pipeline(storage, settings)
    storage.close()
