"""Access to the real Redis the Redis tests use.

In CI (`CI=true`) an unreachable Redis fails these tests; on a developer's machine
without Redis they are skipped with a message saying how to run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("SCHEDULER_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed Redis database of the tests' own, as a URL."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as error:
        message = (f"Redis is not reachable at {REDIS_URL} ({error}). Start one "
                   f"(redis-server --port 6379) or set SCHEDULER_TEST_REDIS_URL to run "
                   f"the Redis tests.")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()
