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
from tests.kernels import history, wait_for
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
    from kombu.connection import Connection

    with Connection(broker) as connection:  # type: ignore[no-untyped-call]
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
    # Sent once per task, before any worker ran (RabbitMQ routes a message a moment
    # after the sender's connection closed, hence the wait).
    wait_for(lambda: count(broker, queue_name) >= 3, timeout=30)
    assert count(broker, queue_name) == 3
    worker = celery_worker(project.root, env, queue_name, tmp_path / "worker.log")
    try:
        wait_for(lambda: len(records(done)) >= 3, timeout=60)
        wait_for(lambda: count(broker, queue_name) == 0, timeout=30)
    finally:
        worker.stop()  # a warm shutdown: a job it had taken is finished or handed back
    assert sorted(records(done)) == ["alpha", "beta", "gamma"], worker.output()
    assert count(broker, queue_name) == 0


RQ_DISPATCHES = """
import os
from redis import Redis
from rq import Queue
from scheduler import queues, schedule

def schedule_tasks():
    url, name = os.environ["RQ_URL"], os.environ["JOBS_QUEUE"]
    queues.register("reports", queues.rq_queue(url, name))
    schedule().dispatch("jobs.plain_record", "by-name", queue="reports").on_one_server()
    by_object = Queue(name, connection=Redis.from_url(url))
    schedule().dispatch("jobs.plain_record", "by-object", queue=by_object).on_one_server()
"""


@pytest.mark.slow
def test_three_servers_enqueue_each_rq_job_once_and_an_rq_worker_runs_it_once(
        project: Project, redis_url: str, queue_name: str, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(RQ_DISPATCHES)
    rq_url = redis_url.rsplit("/", 1)[0] + "/2"
    done = tmp_path / "records.txt"
    env = {**project.env, **jobs_environment(rq_url, queue_name, done),
           "SCHEDULER_CACHE_URL": redis_url, "RQ_URL": rq_url}

    ticks = concurrent_ticks(project, env, servers=3)

    assert [code for code, _ in ticks] == [0, 0, 0], ticks
    outputs = "".join(output for _, output in ticks)
    assert outputs.count("sent as task id") == 2
    assert outputs.count("already ran on another server") == 4
    assert redis_message_count(rq_url, f"rq:queue:{queue_name}") == 2
    worker = rq_burst_worker(project.root, env, rq_url, queue_name, tmp_path / "worker.log")
    try:
        assert worker.wait(timeout=60) == 0, worker.output()
    finally:
        worker.stop()
    assert sorted(records(done)) == ["by-name", "by-object"], worker.output()


def closed_port() -> int:
    from tests.redis_support import free_port

    return free_port()


BROKER_DOWN = """
import os
from scheduler import queues, schedule
from scheduler.settings import current

def other():
    (current().storage / "other.txt").write_text("ran")

def schedule_tasks():
    queues.register("down", queues.rq_queue(os.environ["RQ_DOWN_URL"], "reports"))
    schedule().dispatch("jobs.record", "lost").name("celery report")
    schedule().dispatch("jobs.plain_record", "lost", queue="down").name("rq report")
    schedule().job(other)
"""


def test_a_down_broker_fails_its_event_naming_the_broker_and_the_others_run(
        project: Project, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(BROKER_DOWN)
    amqp_port, redis_port = closed_port(), closed_port()
    env = {**jobs_environment(f"amqp://guest:s3cret-amqp@127.0.0.1:{amqp_port}//", "reports",
                              tmp_path / "records.txt"),
           "RQ_DOWN_URL": f"redis://:s3cret-redis@127.0.0.1:{redis_port}/0"}

    result = project.artisan("schedule:run", "--at", AT, env=env)

    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert f"Celery broker amqp://guest:**@127.0.0.1:{amqp_port}//" in out
    assert f"RQ queue 'reports' on redis://127.0.0.1:{redis_port}/0 is unreachable" in out
    assert out.count("FAIL") == 2 and out.count("DONE") == 1, out
    assert "s3cret" not in out
    assert (project.storage / "other.txt").read_text() == "ran"


@pytest.fixture
def silent_broker() -> Iterator[int]:
    """A server that accepts connections and never says a word: a hung broker."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


SILENT_BROKER = """
import os
from scheduler import queues, schedule
from scheduler.settings import current

def other():
    (current().storage / "other.txt").write_text("ran")

def schedule_tasks():
    queues.register("silent", queues.rq_queue(os.environ["RQ_SILENT_URL"], "reports"))
    schedule().dispatch("jobs.plain_record", "lost", queue="silent").timeout(2)
    schedule().job(other)
"""


@pytest.mark.slow
def test_a_silent_broker_is_given_up_on_at_the_time_bound_and_the_others_run(
        project: Project, silent_broker: int, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(SILENT_BROKER)
    env = {**jobs_environment("memory://", "reports", tmp_path / "records.txt"),
           "RQ_SILENT_URL": f"redis://127.0.0.1:{silent_broker}/0"}

    result = project.artisan("schedule:run", "--at", AT, env=env, timeout=60)

    assert result.returncode == 1
    assert "timed out after 2s and was stopped" in result.stdout
    assert f"Sending jobs.plain_record('lost') to RQ queue 'reports' on " \
           f"redis://127.0.0.1:{silent_broker}/0" in result.stdout
    assert (project.storage / "other.txt").read_text() == "ran"


QUEUE_MODULES = ("celery", "kombu", "amqp", "rq", "redis", "billiard", "vine")

LAZY_KERNEL = """
import json, sys
from scheduler import queues, schedule
from scheduler.settings import current

def loaded_queue_modules(label):
    loaded = sorted({name.split(".")[0] for name in sys.modules} & set(MODULES))
    with open(current().storage / "modules.txt", "a") as out:
        out.write(json.dumps([label, loaded]) + "\\n")

def schedule_tasks():
    queues.register("reports", queues.rq_queue("redis://127.0.0.1:1/0", "reports"))
    schedule().dispatch("jobs.record", "hourly").hourly_at(30)
    schedule().dispatch("jobs.plain_record", "hourly", queue="reports").hourly_at(30)
    schedule().job(loaded_queue_modules, "before").hourly()
    schedule().dispatch("scheduler.queues.resolve", "x", queue="reports").hourly()
    schedule().job(loaded_queue_modules, "after").hourly()
""".replace("MODULES", repr(QUEUE_MODULES))


def test_ticks_import_no_queue_library_not_even_when_they_dispatch(
        project: Project, tmp_path: Path) -> None:
    """The jobs are forked children of the tick: what they find in sys.modules is what
    the tick itself had imported, before and after a dispatch in the same tick."""
    write_jobs(project.root)
    project.kernel(LAZY_KERNEL)
    env = jobs_environment("memory://", "reports", tmp_path / "records.txt")

    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env)

    # The dispatch between them did import rq, in its own child: its error says so.
    assert "Sending scheduler.queues.resolve('x') to RQ queue 'reports' on " \
           "redis://127.0.0.1:1/0" in result.stdout
    assert "redis://127.0.0.1:1/0 is unreachable" in result.stdout
    lines = (project.storage / "modules.txt").read_text().splitlines()
    assert lines == ['["before", []]', '["after", []]']


def tick_at(project: Project, env: dict[str, str], at: str) -> subprocess.CompletedProcess[str]:
    return project.artisan("schedule:run", "--at", at, env=env)


def sent_id(output: str) -> str:
    ids = [line.split()[-1] for line in output.splitlines() if "sent as task id" in line]
    assert len(ids) == 1, output
    return ids[0]


RQ_OVERLAP = """
import os
from scheduler import queues, schedule

def schedule_tasks():
    queues.register("reports", queues.rq_queue(os.environ["RQ_URL"], os.environ["JOBS_QUEUE"]))
    schedule().dispatch("jobs.plain_record", "report", queue="reports").without_overlapping()
"""


def test_without_overlapping_waits_for_the_rq_workers_run_of_the_last_dispatch(
        project: Project, redis_url: str, queue_name: str, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(RQ_OVERLAP)
    done = tmp_path / "records.txt"
    env = {**jobs_environment(redis_url, queue_name, done), "RQ_URL": redis_url}

    first = tick_at(project, env, "2026-03-08T07:00:00Z")
    job = sent_id(first.stdout)
    queued = tick_at(project, env, "2026-03-08T07:01:00Z")
    assert queued.returncode == 0
    assert f"the previous run (task id {job}) has not finished on the workers" in queued.stdout
    worker = rq_burst_worker(project.root, env, redis_url, queue_name, tmp_path / "w.log")
    assert worker.wait(timeout=60) == 0, worker.output()
    worker.stop()
    assert records(done) == ["report"]
    again = tick_at(project, env, "2026-03-08T07:02:00Z")

    assert again.returncode == 0, again.stdout
    assert sent_id(again.stdout) != job
    assert redis_message_count(redis_url, f"rq:queue:{queue_name}") == 1


CELERY_OVERLAP = """
from scheduler import schedule

def schedule_tasks():
    schedule().dispatch("jobs.record_when_released", "report").without_overlapping()
"""


def celery_state(redis_url: str, job: str) -> str | None:
    import json

    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        stored = client.get(f"celery-task-meta-{job}")
    finally:
        client.close()
    return json.loads(stored)["status"] if stored else None


@pytest.mark.slow
def test_without_overlapping_waits_for_the_celery_workers_run_by_its_result_backend(
        project: Project, redis_url: str, queue_name: str, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(CELERY_OVERLAP)
    done = tmp_path / "records.txt"
    env = {**project.env, **jobs_environment(redis_url, queue_name, done,
                                             result_backend=redis_url)}
    worker = celery_worker(project.root, env, queue_name, tmp_path / "worker.log")
    try:
        job = sent_id(tick_at(project, env, "2026-03-08T07:00:00Z").stdout)
        wait_for(lambda: redis_message_count(redis_url, queue_name) == 0, timeout=60)
        running = tick_at(project, env, "2026-03-08T07:01:00Z")  # the worker holds it
        assert f"the previous run (task id {job}) has not finished on the workers" \
            in running.stdout, (running.stdout, worker.output())
        done.with_name(done.name + ".release").touch()
        wait_for(lambda: celery_state(redis_url, job) == "SUCCESS", timeout=60)
        again = tick_at(project, env, "2026-03-08T07:02:00Z")
        second = sent_id(again.stdout)
        wait_for(lambda: celery_state(redis_url, second) == "SUCCESS", timeout=60)
    finally:
        worker.stop()
    assert second != job
    assert records(done) == ["report", "report"]


def test_without_a_result_backend_overlap_guards_only_the_send_and_says_so(
        project: Project, redis_url: str, queue_name: str, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(CELERY_OVERLAP)
    env = jobs_environment(redis_url, queue_name, tmp_path / "records.txt")

    job = sent_id(tick_at(project, env, "2026-03-08T07:00:00Z").stdout)
    second = tick_at(project, env, "2026-03-08T07:01:00Z")

    assert second.returncode == 0
    assert f"the queue cannot tell whether the previous run (task id {job}) has finished" \
        in second.stdout
    assert sent_id(second.stdout) != job
    assert redis_message_count(redis_url, queue_name) == 2


OWN_DISPATCHER = """
from scheduler import queues, schedule
from scheduler.settings import current

def note(text):
    with open(current().storage / "notes.txt", "a") as notes:
        notes.write(text + "\\n")

def to_outbox(target, args, kwargs):
    note(f"outbox got {target.__name__} {list(args)} {kwargs}")
    return f"job-{args[0]}"

def build(word, size=0):
    raise AssertionError("a dispatched task never runs in the tick")

def schedule_tasks():
    queues.register("outbox", to_outbox)
    schedule().listen("finished", lambda event, job_id: note(f"finished {job_id}"))
    (schedule().dispatch(build, "a", queue="outbox", size=3).name("build a")
        .before(lambda: note("before"))
        .on_success(lambda output: note("success: " + output.splitlines()[-1])))
    schedule().dispatch(build, "filtered", queue="outbox").when(lambda: False)
    schedule().dispatch(build, "staging", queue="outbox").environments("staging")
    schedule().dispatch(build, "paused", queue="outbox").even_when_paused()
"""


def notes(project: Project) -> list[str]:
    path = project.storage / "notes.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_a_dispatch_is_an_event_like_any_other_hooks_listeners_filters_pause(
        project: Project) -> None:

    project.kernel(OWN_DISPATCHER)

    first = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")

    assert first.returncode == 0, first.stdout + first.stderr
    assert notes(project) == [
        "before", "outbox got build ['a'] {'size': 3}",
        "success: Sent: task id job-a", "finished job-a",
        "outbox got build ['paused'] {}", "finished job-paused"]
    assert "sent as task id job-a" in first.stdout
    log = history(project)
    assert [(entry["task"], entry["job_id"]) for entry in log] == [
        ("build a", "job-a"), ("dispatch console.kernel.build('paused') to 'outbox'",
                               "job-paused")]

    assert project.artisan("schedule:pause").returncode == 0
    (project.storage / "notes.txt").unlink()
    paused = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")

    assert paused.returncode == 0, paused.stdout
    assert notes(project) == ["outbox got build ['paused'] {}", "finished job-paused"]


# -- defining dispatches: in-process, no broker ---------------------------------------------

def test_bad_dispatches_are_refused_when_defined_naming_the_value() -> None:
    from scheduler import Schedule
    from scheduler.event import InvalidSchedule

    with pytest.raises(InvalidSchedule, match=r"dispatch\(42\): expected a Celery task"):
        Schedule().dispatch(42)
    with pytest.raises(InvalidSchedule, match=r"dispatch\('report'\): expected a dotted path"):
        Schedule().dispatch("report")
    with pytest.raises(InvalidSchedule,
                       match=r"dispatch\('jobs.record', queue=3\): expected a queue name"):
        Schedule().dispatch("jobs.record", queue=3)
    with pytest.raises(InvalidSchedule, match=r"queue=''\): a queue name cannot be empty"):
        Schedule().dispatch("jobs.record", queue="")


def test_registering_something_that_is_no_queue_is_refused() -> None:
    from scheduler import queues

    with pytest.raises(ValueError, match=r"register\('reports', 42\): expected an RQ Queue"):
        queues.register("reports", 42)


def test_pending_attributes_and_groups_apply_to_a_dispatch() -> None:
    from scheduler import Schedule

    schedule = Schedule()
    event = schedule.daily_at("01:00").on_one_server().dispatch("jobs.record", "x",
                                                                 queue="reports")
    with schedule.hourly().group() as hourly:
        grouped = hourly.dispatch("jobs.record", "y")
    assert (event.expression, event.one_server, grouped.expression) == (
        "0 1 * * *", True, "0 * * * *")
    assert event.display_name == "dispatch jobs.record('x') to 'reports'"
    assert grouped.display_name == "dispatch jobs.record('y') to its default queue"


def test_a_dispatch_follows_the_dst_catch_up_rule() -> None:
    """02:30 does not exist in Paris on 2026-03-29: it is sent at 03:00, once."""
    from datetime import datetime, timedelta, timezone

    from scheduler import Schedule

    schedule = Schedule()
    schedule.dispatch("jobs.record", "x").daily_at("02:30").timezone("Europe/Paris")
    start = datetime(2026, 3, 28, 23, 0, tzinfo=timezone.utc)
    minutes = [start + timedelta(minutes=step) for step in range(24 * 60)]
    due = [minute for minute in minutes if schedule.due_events(minute)]
    assert due == [datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)]  # 03:00 in Paris


def test_mutex_keys_of_dispatches_are_stable_and_tell_queues_apart() -> None:
    from scheduler import Schedule

    first, second = Schedule(), Schedule()
    keys = [schedule.dispatch("jobs.record", "x", queue=queue).mutex_key
            for schedule in (first, second) for queue in ("a", "b")]
    assert keys[0] == keys[2] and keys[1] == keys[3] and keys[0] != keys[1]


def test_the_celery_beat_replacement_example_sends_what_beat_would_have(
        tmp_path: Path, redis_url: str) -> None:
    import shutil

    from tests.conftest import REPO, clean_environment

    example = tmp_path / "example"
    shutil.copytree(REPO / "examples" / "celery_beat_replacement", example)
    broker = redis_url.rsplit("/", 1)[0] + "/3"
    env = {**clean_environment(), "CELERY_BROKER_URL": broker}

    # Monday 2026-03-09, 08:00 in Paris: the cache refresh and the weekly digest are due.
    tick = subprocess.run([sys.executable, "-m", "scheduler", "schedule:run", "--at",
                           "2026-03-09T07:00:00Z"], capture_output=True, text=True, env=env,
                          cwd=example, timeout=120)

    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert tick.stdout.count("sent as task id") == 2
    assert "dispatch reports.celery_app.send_digest('weekly')" in tick.stdout
    assert redis_message_count(broker, "celery") == 2


UNREACHABLE_RESULTS = """
from scheduler import schedule
from scheduler.settings import current

def other():
    (current().storage / "other.txt").write_text("ran")

def schedule_tasks():
    schedule().dispatch("jobs.record", "report").without_overlapping()
    schedule().dispatch("jobs.no_such_task", "x")
    schedule().job(other)
"""


def test_an_unreachable_result_backend_holds_the_dispatch_back_and_the_others_run(
        project: Project, redis_url: str, queue_name: str, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(UNREACHABLE_RESULTS)
    env = jobs_environment(redis_url, queue_name, tmp_path / "records.txt",
                           result_backend=redis_url)
    job = sent_id(tick_at(project, env, "2026-03-08T07:00:00Z").stdout)
    down = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"

    result = tick_at(project, {**env, "JOBS_RESULT_BACKEND": down}, "2026-03-08T07:01:00Z")

    assert result.returncode == 1
    assert f"could not ask whether the previous run (task id {job}) has finished" \
        in result.stdout
    assert "unreachable" in result.stdout and "s3cret" not in result.stdout
    assert "cannot import 'jobs.no_such_task'" in result.stdout
    assert (project.storage / "other.txt").read_text() == "ran"
    assert redis_message_count(redis_url, queue_name) == 1  # the first send alone


def test_clear_cache_forgets_the_last_dispatched_job_so_the_next_run_is_sent(
        project: Project, redis_url: str, queue_name: str, tmp_path: Path) -> None:
    write_jobs(project.root)
    project.kernel(RQ_OVERLAP)
    env = {**jobs_environment(redis_url, queue_name, tmp_path / "records.txt"),
           "RQ_URL": redis_url}
    job = sent_id(tick_at(project, env, "2026-03-08T07:00:00Z").stdout)

    cleared = project.artisan("schedule:clear-cache", env=env)
    again = tick_at(project, env, "2026-03-08T07:01:00Z")

    assert cleared.returncode == 0, cleared.stderr
    assert "Forgetting the last dispatched job of [dispatch jobs.plain_record('report') to " \
           "'reports']" in cleared.stdout
    assert sent_id(again.stdout) != job  # the first job never ran: no worker
    assert redis_message_count(redis_url, f"rq:queue:{queue_name}") == 2


def test_a_plain_function_without_a_queue_fails_saying_what_to_give_it(
        project: Project) -> None:
    project.kernel("""
from scheduler import schedule

def schedule_tasks():
    schedule().dispatch("os.path.join", "a")
    schedule().dispatch("os.path.join", "b", queue="unregistered")
""")
    result = project.artisan("schedule:run", "--at", AT)

    assert result.returncode == 1
    assert "os.path.join('a') is not a Celery task: give it a queue (an RQ Queue, or a name " \
           "given to scheduler.queues.register())" in result.stdout
    assert "os.path.join('b') is not a Celery task and no queue is registered as " \
           "'unregistered'" in result.stdout


def test_a_background_dispatch_is_sent_by_the_supervisor_and_logged_with_its_job_id(
        project: Project) -> None:

    project.kernel("""
from scheduler import queues, schedule

def schedule_tasks():
    queues.register("outbox", lambda target, args, kwargs: f"job-{args[0]}")
    schedule().dispatch("os.path.join", "late", queue="outbox").run_in_background()
""")
    result = project.artisan("schedule:run", "--at", AT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "in the background" in result.stdout
    wait_for(lambda: bool(history(project)))
    entry = history(project)[-1]
    assert (entry["job_id"], entry["background"], entry["status"]) == ("job-late", True,
                                                                       "success")


def test_a_sender_killed_mid_send_fails_its_event_frees_its_lock_and_the_others_run(
        project: Project) -> None:
    project.kernel("""
import os, signal
from scheduler import queues, schedule
from scheduler.settings import current

def dies_the_first_time(target, args, kwargs):
    marker = current().storage / "died-once"
    if not marker.exists():
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return "job-2"

def other():
    with open(current().storage / "other.txt", "a") as out:
        out.write("ran\\n")

def schedule_tasks():
    queues.register("fragile", dies_the_first_time)
    schedule().dispatch("os.path.join", "x", queue="fragile").without_overlapping()
    schedule().job(other)
""")
    killed = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    again = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")

    assert killed.returncode == 1
    assert "killed by SIGKILL" in killed.stdout and "sent as task id" not in killed.stdout
    assert again.returncode == 0, again.stdout
    assert "sent as task id job-2" in again.stdout
    assert (project.storage / "other.txt").read_text() == "ran\nran\n"
