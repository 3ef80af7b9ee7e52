"""A Redis server of the tests' own, for the tests that need one.

The suite starts a private `redis-server` on a free port in a temporary folder, once per
test session, and stops it by its pid at the end: it never touches a Redis that holds
somebody's data. Set `SCHEDULER_TEST_REDIS_URL` to run against a server of your choosing
instead; the tests then flush that database, so name one that holds nothing of yours.

In CI (`CI=true`) a missing `redis-server` fails these tests; on a developer's machine
without one they are skipped with a message saying how to run them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of the tests' Redis: a private server, or `SCHEDULER_TEST_REDIS_URL`."""
    chosen = os.environ.get("SCHEDULER_TEST_REDIS_URL")
    if chosen:
        yield chosen
        return
    executable = shutil.which("redis-server")
    if executable is None:
        _unavailable("redis-server is not installed: install it (apt-get install "
                     "redis-server) or set SCHEDULER_TEST_REDIS_URL to run the Redis tests.")
    folder = tempfile.mkdtemp(prefix="scheduler-test-redis-")
    port = free_port()
    server = subprocess.Popen(
        [str(executable), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", folder, "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"the tests' redis-server on port {port} did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """An empty database of the tests' own Redis, as a URL."""
    import redis

    client = redis.Redis.from_url(redis_server, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as error:
        _unavailable(f"Redis is not reachable at {redis_server} ({error}).")
    client.flushdb()
    yield redis_server
    client.flushdb()
    client.close()
