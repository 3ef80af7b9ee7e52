"""Redis restarted empty while a task runs: the running task's overlap lease is restored
at its next renewal, and a one-server claim is checked again just before the run starts,
so a rival that claimed the emptied store runs the task and this server does not."""

from __future__ import annotations

import redis

from tests.conftest import Project
from tests.faults.restartable_redis import RestartableRedis
from tests.kernels import RECORDING_KERNEL, ran, start_tick, wait_for


def test_a_running_tasks_lease_is_restored_after_a_restart(
        project: Project, restartable_redis: RestartableRedis) -> None:
    project.kernel(RECORDING_KERNEL + """
def slow():
    record("start")
    time.sleep(float(os.environ.get("TASK_SECONDS", "6")))
    record("end")

def schedule_tasks():
    schedule().job(slow).name("slow").without_overlapping()
""")
    env = {"SCHEDULER_CACHE_URL": restartable_redis.url, "SCHEDULER_LEASE_SECONDS": "1.5"}
    first = start_tick(project, "--at", "2026-03-08T07:00:00Z", env=env)
    try:
        wait_for(lambda: ran(project) == ["start"])
        restartable_redis.restart_empty()
        client = redis.Redis.from_url(restartable_redis.url)
        # Renewed every half second: the lost lease comes back.
        wait_for(lambda: bool(client.keys("scheduler:*:overlap:*")), timeout=5)
        rival = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                                env={**env, "SCHEDULER_HOST": "web-2", "TASK_SECONDS": "0"})
        assert "Skipping slow: the previous run is still running" in rival.stdout, rival.stdout
    finally:
        first.communicate(timeout=30)
    assert ran(project) == ["start", "end"]


def test_a_claim_lost_in_a_restart_is_checked_again_before_the_run(
        project: Project, restartable_redis: RestartableRedis) -> None:
    project.kernel(RECORDING_KERNEL + """
def wait_in_hook():
    record("hook-" + os.environ["SCHEDULER_HOST"])
    time.sleep(float(os.environ["HOOK_SECONDS"]))

def task():
    record("task-" + os.environ["SCHEDULER_HOST"])

def schedule_tasks():
    schedule().job(task).name("shared").on_one_server().before(wait_in_hook)
""")
    env = {"SCHEDULER_CACHE_URL": restartable_redis.url}
    first = start_tick(project, "--at", "2026-03-08T07:00:00Z",
                       env={**env, "SCHEDULER_HOST": "web-1", "HOOK_SECONDS": "3"})
    try:
        wait_for(lambda: ran(project) == ["hook-web-1"])
        restartable_redis.restart_empty()  # web-1's claim is gone
        rival = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                                env={**env, "SCHEDULER_HOST": "web-2", "HOOK_SECONDS": "0"})
        assert "Running shared" in rival.stdout, rival.stdout
    finally:
        output, _ = first.communicate(timeout=30)
    assert "Skipping shared: already ran on another server (the store lost" in output
    assert ran(project) == ["hook-web-1", "hook-web-2", "task-web-2"]  # once, not twice


def test_a_claim_the_store_lost_with_no_rival_is_made_again(
        project: Project, restartable_redis: RestartableRedis) -> None:
    project.kernel(RECORDING_KERNEL + """
def wait_in_hook():
    record("hook")
    time.sleep(2)

def schedule_tasks():
    schedule().job(record, "task").name("shared").on_one_server().before(wait_in_hook)
""")
    env = {"SCHEDULER_CACHE_URL": restartable_redis.url, "SCHEDULER_HOST": "web-1"}
    first = start_tick(project, "--at", "2026-03-08T07:00:00Z", env=env)
    wait_for(lambda: ran(project) == ["hook"])
    restartable_redis.restart_empty()
    first.communicate(timeout=30)
    assert ran(project) == ["hook", "task"]
    # The claim is back in the store: a late rival for the same instant runs nothing.
    rival = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                            env={**env, "SCHEDULER_HOST": "web-2"})
    assert "Skipping shared: already ran on another server" in rival.stdout
    assert ran(project) == ["hook", "task"]
