"""Real brokers and real workers for the dispatch tests.

* RabbitMQ: the machine's server at 127.0.0.1:5672 (guest/guest). The tests make a
  virtual host of their own (`rabbitmqctl add_vhost`) and delete it at the end, so
  nothing they send or declare touches anybody else's queues.
* Redis: the tests' private redis-server (`tests/redis_support.py`).
* Workers: a real `celery worker` process and `rq worker --burst`, started in the
  test project's folder, which imports `jobs.py` (CELERY_JOBS below) as the worker's
  application.

In CI (`CI=true`) a missing broker fails these tests; elsewhere they are skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_support import _unavailable

RABBITMQ_PORT = 5672

# The worker's side: a Celery app whose broker, result backend and queue come from the
# environment, and tasks that append a word to RECORDS (a file the test reads back).
CELERY_JOBS = """
import os, time
from pathlib import Path
from celery import Celery

app = Celery("jobs", broker=os.environ["JOBS_BROKER_URL"],
             backend=os.environ.get("JOBS_RESULT_BACKEND") or None)
app.conf.update(task_default_queue=os.environ["JOBS_QUEUE"], worker_prefetch_multiplier=1,
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                worker_enable_remote_control=False)

def write(word):
    with open(os.environ["JOBS_RECORDS"], "a") as records:
        records.write(word + "\\n")

@app.task
def record(word):
    write(word)

@app.task
def record_when_released(word):
    # Runs until the test creates the release file: the worker's run lasts exactly
    # as long as the test wants, with no timing involved.
    release = Path(os.environ["JOBS_RECORDS"] + ".release")
    while not release.exists():
        time.sleep(0.05)
    write(word)

def plain_record(word):
    write(word)
"""


def rabbitmq_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", RABBITMQ_PORT), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    """An AMQP URL on a virtual host of the tests' own, deleted afterwards."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    if not rabbitmq_reachable() or rabbitmqctl is None:
        _unavailable(f"RabbitMQ is not running on 127.0.0.1:{RABBITMQ_PORT} (or rabbitmqctl "
                     f"is missing): install rabbitmq-server and start it to run these tests.")
    assert rabbitmqctl is not None
    vhost = f"scheduler-test-{uuid.uuid4().hex[:12]}"
    for command in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*",
                                          ".*"]):
        subprocess.run([rabbitmqctl, "-q", *command], check=True, timeout=60,
                       capture_output=True)
    try:
        yield f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}/{vhost}"
    finally:
        subprocess.run([rabbitmqctl, "-q", "delete_vhost", vhost], timeout=60,
                       capture_output=True)


def write_jobs(root: Path) -> None:
    """Put the workers' application, `jobs.py`, in the project folder."""
    (root / "jobs.py").write_text(CELERY_JOBS)


def jobs_environment(broker: str, queue: str, records: Path,
                     result_backend: str | None = None) -> dict[str, str]:
    """What `jobs.py` reads, for the ticks and the workers alike."""
    env = {"JOBS_BROKER_URL": broker, "JOBS_QUEUE": queue, "JOBS_RECORDS": str(records),
           "JOBS_RESULT_BACKEND": result_backend or ""}
    return env


class Worker:
    """A real worker process in the project's folder; stopped by its pid."""

    def __init__(self, argv: list[str], root: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            argv, cwd=root, env={**env, "PYTHONPATH": str(root)}, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # celery's warm shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def celery_worker(root: Path, env: dict[str, str], queue: str, log: Path) -> Worker:
    """`celery -A jobs worker` on `queue`, one task at a time, no remote control (its
    broadcast queues would be shared with other workers on the broker)."""
    return Worker([sys.executable, "-m", "celery", "-A", "jobs", "worker", "--pool=solo",
                   "--queues", queue, "--without-mingle", "--without-gossip",
                   "--without-heartbeat", "--loglevel", "WARNING"],
                  root, env, log)


def rq_burst_worker(root: Path, env: dict[str, str], redis_url: str, queue: str,
                    log: Path) -> Worker:
    """`rq worker --burst`: runs every job queued now, then exits."""
    return Worker([sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url,
                   queue], root, env, log)
