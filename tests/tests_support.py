"""Small helpers shared by tests."""
from redis_server import free_port


def unused_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"
