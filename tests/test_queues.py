"""Dispatch to a queue, with real brokers (RabbitMQ, Redis) and real workers (a
`celery worker` process, an RQ worker): each dispatched job is sent once per due
instant across servers and executed once by the workers; a broker that is down or
silent fails its event with a line naming it, password hidden, and the others run."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.kernels import wait_for
from tests.queue_support import (
    celery_worker,
    jobs_environment,
    rabbitmq_vhost,  # noqa: F401 - a fixture
    rq_burst_worker,
    write_jobs,
)

AT = "2026-03-08T07:00:00Z"


def records(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def concurrent_ticks(project: Project, env: dict[str, str], servers: int,
                     at: str = AT) -> list[tuple[int, str]]:
    """`schedule:run --at` on `servers` "servers" at once (SCHEDULER_HOST differs);
    each tick's exit code and output."""
    ticks = [subprocess.Popen([sys.executable, str(project.root / "artisan"), "schedule:run",
                               "--at", at], text=True, cwd=project.root,
                              env={**env, "SCHEDULER_HOST": f"server-{number}"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
             for number in range(servers)]
    return [(tick.wait(timeout=120), tick.communicate()[0]) for tick in ticks]


@pytest.fixture
def queue_name() -> str:
    return f"scheduler-test-{uuid.uuid4().hex[:10]}"


def amqp_message_count(broker: str, queue: str) -> int:
    from kombu import Connection

    with Connection(broker) as connection:
        channel = connection.channel()
        _, count, _ = channel.queue_declare(queue, passive=True)
        return int(count)


def redis_message_count(broker: str, queue: str) -> int:
    import redis

    client = redis.Redis.from_url(broker)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


THREE_DISPATCHES = """
from scheduler import schedule

def schedule_tasks():
    for word in ("alpha", "beta", "gamma"):
        schedule().dispatch("jobs.record", word).name(f"send {word}").on_one_server()
"""


@pytest.mark.slow
@pytest.mark.parametrize("broker_kind", ["rabbitmq", "redis"])
def test_three_servers_dispatch_each_task_once_and_a_celery_worker_runs_it_once(
        project: Project, request: pytest.FixtureRequest, redis_url: str, queue_name: str,
        broker_kind: str, tmp_path: Path) -> None:
    broker = (request.getfixturevalue("rabbitmq_vhost") if broker_kind == "rabbitmq"
              else redis_url.rsplit("/", 1)[0] + "/1")
    write_jobs(project.root)
    project.kernel(THREE_DISPATCHES)
    done = tmp_path / "records.txt"
    env = {**project.env, **jobs_environment(broker, queue_name, done),
           "SCHEDULER_CACHE_URL": redis_url}

    ticks = concurrent_ticks(project, env, servers=3)

    assert [code for code, _ in ticks] == [0, 0, 0], ticks
    outputs = "".join(output for _, output in ticks)
    assert outputs.count("sent as task id") == 3
    assert outputs.count("already ran on another server") == 6
    count = amqp_message_count if broker_kind == "rabbitmq" else redis_message_count
    assert count(broker, queue_name) == 3  # sent once per task, before any worker ran
    worker = celery_worker(project.root, env, queue_name, tmp_path / "worker.log")
    try:
        wait_for(lambda: len(records(done)) >= 3, timeout=60)
        wait_for(lambda: count(broker, queue_name) == 0, timeout=30)
    finally:
        worker.stop()
    assert sorted(records(done)) == ["alpha", "beta", "gamma"], worker.output()
