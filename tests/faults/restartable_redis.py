"""A private redis-server that a test can restart empty (no persistence), on the same port."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_support import _answers, _unavailable, free_port


class RestartableRedis:
    def __init__(self, executable: str, folder: Path) -> None:
        self.executable, self.folder = executable, folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.server = subprocess.Popen(
            [self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            assert self.server.poll() is None and time.monotonic() < deadline, \
                "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
            self.server = None

    def restart_empty(self) -> None:
        """Kill it and start it again: everything it held is gone."""
        self.stop()
        self.start()


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        _unavailable("redis-server is not installed (apt-get install redis-server).")
    assert executable is not None
    folder = Path(tempfile.mkdtemp(prefix="scheduler-test-redis-", dir=tmp_path))
    redis = RestartableRedis(executable, folder)
    redis.start()
    yield redis
    redis.stop()
