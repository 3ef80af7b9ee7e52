"""A job's identity: names of callable objects and partials, mutex keys that are the same
in every process, lambdas refused by the mutex modifiers, and custom mutex names."""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scheduler import InvalidSchedule, Schedule
from scheduler.tasks import DispatchTask, JobTask
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran, wait_for


def backup(target: str, full: bool = False) -> None:
    """A job."""


class Sync:
    """A callable object."""

    def __call__(self) -> None:
        """Run."""

    def method(self) -> None:
        """A bound method as a job."""


class Region:
    """A callable object with state: objects that differ are different tasks."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self) -> None:
        """Run."""

    def sync(self) -> None:
        """A bound method of an object with state."""


@pytest.mark.parametrize(("make", "name"), [
    (lambda s: s.job(backup, "db"), "tests.test_identity.backup('db')"),
    (lambda s: s.job(Sync()), "tests.test_identity.Sync"),
    (lambda s: s.job(Sync().method), "tests.test_identity.Sync.method"),
    (lambda s: s.job(Sync), "tests.test_identity.Sync"),
    (lambda s: s.job(functools.partial(backup, "db")), "tests.test_identity.backup('db')"),
    (lambda s: s.job(functools.partial(backup, "db", full=True)),
     "tests.test_identity.backup('db', full=True)"),
    (lambda s: s.job(functools.partial(backup, "db"), full=True),
     "tests.test_identity.backup('db', full=True)"),
    (lambda s: s.job(functools.partial(functools.partial(backup), "files")),
     "tests.test_identity.backup('files')"),
    (lambda s: s.job(print), "builtins.print"),
    (lambda s: s.job(Region("eu")), "tests.test_identity.Region(name='eu')"),
    (lambda s: s.job(Region("eu").sync), "tests.test_identity.Region(name='eu').sync"),
    (lambda s: s.job(functools.partial(Region("us"))), "tests.test_identity.Region(name='us')"),
    (lambda s: s.job(Region.sync, Region("eu")),
     "tests.test_identity.Region.sync(tests.test_identity.Region(name='eu'))"),
])
def test_jobs_are_named_by_what_they_call(make, name):
    event = make(Schedule())
    assert event.display_name == name
    assert " at 0x" not in event.display_name
    assert event.task.stable_identity == name


def test_a_partial_and_the_plain_call_it_stands_for_share_one_identity():
    schedule = Schedule()
    via_partial = schedule.job(functools.partial(backup, "db")).hourly()
    plain = schedule.job(backup, "db").hourly()
    assert via_partial.mutex_key == plain.mutex_key


def test_objects_of_one_class_that_differ_are_different_tasks():
    schedule = Schedule()
    europe = schedule.job(Region("eu")).hourly().on_one_server()
    america = schedule.job(Region("us")).hourly().on_one_server()
    again = Schedule().job(Region("eu")).hourly()
    assert europe.mutex_key != america.mutex_key
    assert europe.mutex_key == again.mutex_key
    methods = [schedule.job(Region(name).sync).hourly().without_overlapping()
               for name in ("eu", "us")]
    assert methods[0].mutex_key != methods[1].mutex_key


class Opaque:
    """An object whose state shows only as a memory address."""

    def __init__(self) -> None:
        self.client = object()

    def __call__(self) -> None:
        """Run."""


UNSTABLE = [
    ("object with opaque state", lambda s: s.job(Opaque())),
    ("lambda", lambda s: s.job(lambda: None)),
    ("closure", lambda s: s.job(_closure())),
    ("object argument", lambda s: s.job(backup, object())),
    ("partial of a lambda", lambda s: s.job(functools.partial(lambda x: x, 1))),
]


def _closure() -> Callable[[], None]:
    def inner() -> None:
        """Defined inside a function."""
    return inner


@pytest.mark.parametrize(("kind", "make"), UNSTABLE, ids=[kind for kind, _ in UNSTABLE])
@pytest.mark.parametrize("modifier", ["without_overlapping", "on_one_server"])
def test_a_job_without_a_stable_identity_must_be_named_before_a_mutex(kind, make, modifier):
    event = make(Schedule()).hourly()
    assert event.task.stable_identity is None
    with pytest.raises(InvalidSchedule, match=rf"{modifier}\(.*call name\('...'\)") as error:
        getattr(event, modifier)()
    assert "job '" in str(error.value)
    named = make(Schedule()).hourly().name("nightly sync")
    getattr(named, modifier)()  # named first: accepted


def test_a_named_lambda_is_keyed_by_its_name():
    first = Schedule().job(lambda: None).hourly().name("sync").without_overlapping()
    second = Schedule().job(lambda: 1).hourly().name("sync").without_overlapping()
    other = Schedule().job(lambda: None).hourly().name("other").without_overlapping()
    assert first.mutex_key == second.mutex_key != other.mutex_key


MODULE = '''
import functools
from scheduler import Schedule

class Sync:
    def __call__(self):
        pass

def backup(target, full=False):
    pass

schedule = Schedule()
events = [
    schedule.job(Sync()).hourly().without_overlapping(),
    schedule.job(functools.partial(backup, "db", full=True)).hourly().on_one_server(),
    schedule.job(lambda: None).hourly().name("sync").without_overlapping(),
    schedule.exec("echo hi").hourly().mutex_name(lambda event: "shared-" + event.expression),
]
for event in events:
    print(event.mutex_key)
'''


def test_mutex_keys_are_the_same_in_two_processes(tmp_path: Path):
    (tmp_path / "jobs_module.py").write_text(MODULE)

    def keys() -> list[str]:
        out = subprocess.run([sys.executable, "-c", "import jobs_module"], cwd=tmp_path,
                             capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).parent.parent}",
                                  "PYTHONHASHSEED": "random"}).stdout
        return out.split()

    first, second = keys(), keys()
    assert len(first) == 4 and len(set(first)) == 4
    assert first == second


CALLABLE_OBJECT_KERNEL = RECORDING_KERNEL + """
class Sync:
    def __call__(self):
        record("start")
        time.sleep(float(os.environ.get("TASK_SECONDS", "3")))
        record("end")

def schedule_tasks():
    schedule().job(Sync()).every_minute().without_overlapping().run_in_background()
"""


def test_without_overlapping_holds_for_a_callable_object_across_ticks(project: Project):
    project.kernel(CALLABLE_OBJECT_KERNEL)
    first = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert first.returncode == 0, first.stdout + first.stderr
    wait_for(lambda: ran(project) == ["start"])
    second = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert "Skipping console.kernel.Sync: the previous run is still running" in second.stdout
    wait_for(lambda: ran(project) == ["start", "end"])


SHARED_MUTEX_KERNEL = RECORDING_KERNEL + """
def export(word):
    record(word + "-start")
    time.sleep(3)
    record(word + "-end")

def schedule_tasks():
    schedule().job(export, "a").every_minute().mutex_name("exports") \\
        .without_overlapping().run_in_background()
    schedule().job(export, "b").every_five_minutes().mutex_name("exports") \\
        .without_overlapping()
    schedule().job(export, "c").every_minute().without_overlapping().run_in_background()
"""


def test_events_with_one_mutex_name_share_one_lock(project: Project):
    project.kernel(SHARED_MUTEX_KERNEL)
    tick = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert ("Skipping console.kernel.export('b'): the previous run is still running"
            in tick.stdout), tick.stdout
    wait_for(lambda: sorted(ran(project)) == ["a-end", "a-start", "c-end", "c-start"])


def test_mutex_name_rejects_an_empty_name():
    with pytest.raises(InvalidSchedule, match=r"mutex_name\(''\)"):
        Schedule().exec("true").mutex_name("")


def test_each_task_keeps_its_own_identity_once_worked_out():
    # Equal as tuples (1 == True), yet named apart: what a task keeps is its own.
    one, true = JobTask(backup, (1,)), JobTask(backup, (True,))
    assert one == true
    assert one.identity == "tests.test_identity.backup(1)" == one.identity
    assert true.identity == "tests.test_identity.backup(True)" == true.stable_identity
    assert repr(one) == f"JobTask(function={backup!r}, args=(1,), kwargs=mappingproxy({{}}))"
    copied = copy.copy(one)
    assert copied == one and copied.identity == one.identity
    assert one._replace(args=("db",)).identity == "tests.test_identity.backup('db')"
    sent, other = DispatchTask("app.tasks.report", (1,)), DispatchTask("app.tasks.report", (2,))
    assert sent.identity == "dispatch app.tasks.report(1) to its default queue"
    assert other.stable_identity == "dispatch app.tasks.report(2) to its default queue"
