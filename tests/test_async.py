"""`async def` jobs, conditions and hooks: run to completion, their failures seen."""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from scheduler.hooks import _is_awaitable, call_user_code, new_event_loop, run_awaitable
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as KERNEL_HEADER
from tests.kernels import history, ran

ASYNC_KERNEL = KERNEL_HEADER + """
import asyncio

async def arecord(word):
    await asyncio.sleep(0.01)  # really suspends: a coroutine never awaited would not get here
    record(word)
"""


def test_an_async_job_runs_to_completion_in_its_child(project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
async def fetch_and_store():
    parts = await asyncio.gather(asyncio.sleep(0.01, result="a"), asyncio.sleep(0.02, result="b"))
    record("async:" + "".join(parts))

def schedule_tasks():
    schedule().job(fetch_and_store).every_minute()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran(project) == ["async:ab"]
    assert "never awaited" not in result.stdout + result.stderr
    assert "Running console.kernel.fetch_and_store" in result.stdout


def test_an_async_jobs_exception_is_the_tasks_failure_and_the_others_run(
        project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
async def broken():
    await asyncio.sleep(0)
    raise LookupError("no such invoice 42")

def schedule_tasks():
    schedule().job(broken).every_minute()
    schedule().job(arecord, "after").every_minute()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert "LookupError: no such invoice 42" in result.stdout
    statuses = [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()
                if " Running " in line]
    assert statuses == ["FAIL", "DONE"]
    assert ran(project) == ["after"]
    assert [record["status"] for record in history(project)] == ["failure", "success"]


def test_an_async_job_past_its_timeout_is_stopped_and_counts_as_a_timeout(
        project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
async def slow():
    record("started")
    await asyncio.sleep(60)
    record("finished")

def schedule_tasks():
    schedule().job(slow).every_minute().timeout(1)
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert "timed out after 1s" in result.stdout
    assert ran(project) == ["started"]
    [record] = history(project)
    assert record["status"] == "timeout"


def test_a_job_that_returns_an_awaitable_is_awaited(project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
import functools

def schedule_tasks():
    # A partial of a coroutine function is not itself `async def`; its result is awaited.
    schedule().job(functools.partial(arecord, "partial")).every_minute().name("partial")
    schedule().job(lambda: arecord("lambda")).every_minute().name("lambda")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout
    assert ran(project) == ["partial", "lambda"]


def test_async_conditions_decide_and_async_hooks_run(project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
async def yes():
    await asyncio.sleep(0)
    return True

async def no():
    await asyncio.sleep(0)
    return False

async def on_failure(output, exit_code):
    await arecord(f"failed:{exit_code}:{output.strip()}")

def schedule_tasks():
    schedule().job(arecord, "when-true").when(yes).before(lambda: arecord("before"))
    schedule().job(arecord, "when-false").when(no)
    schedule().job(arecord, "skipped").skip(yes)
    schedule().exec("echo bad; exit 3").on_failure(on_failure).after(
        lambda: arecord("after"))
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1, result.stdout
    assert ran(project) == ["before", "when-true", "failed:3:bad", "after"]


def test_an_async_hook_that_raises_is_reported(project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
async def alarm():
    await asyncio.sleep(0)
    raise ConnectionError("pager unreachable")

def schedule_tasks():
    schedule().job(arecord, "task").then(alarm)
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert "ConnectionError: pager unreachable" in result.stdout
    assert ran(project) == ["task"]


def test_the_event_loop_can_be_uvloop(project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
async def which_loop():
    record(type(asyncio.get_running_loop()).__module__.split(".")[0])

def schedule_tasks():
    schedule().job(which_loop)
""")
    (project.root / ".env").write_text("SCHEDULER_EVENT_LOOP=uvloop\n")  # as any setting
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout
    assert ran(project) == ["uvloop"]


def test_an_unusable_event_loop_setting_fails_the_async_task_naming_the_value(
        project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
def schedule_tasks():
    schedule().job(arecord, "async")
    schedule().job(record, "sync")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={"SCHEDULER_EVENT_LOOP": "nosuchloop:factory"})
    assert result.returncode == 1
    assert "SCHEDULER_EVENT_LOOP='nosuchloop:factory'" in result.stdout
    assert ran(project) == ["sync"]


def test_call_user_code_returns_plain_results_and_awaited_ones() -> None:
    async def double(value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    assert call_user_code(lambda value: value + 1, 1) == 2
    assert call_user_code(double, 21) == 42
    assert run_awaitable(double(4)) == 8


def test_leftover_tasks_are_cancelled_and_the_loop_closed() -> None:
    cancelled: list[str] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def forgotten() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append("forgotten")
            raise

    async def starts_and_leaves() -> str:
        loops.append(asyncio.get_running_loop())
        asyncio.get_running_loop().create_task(forgotten())
        await asyncio.sleep(0)
        return "done"

    assert run_awaitable(starts_and_leaves()) == "done"
    assert cancelled == ["forgotten"]
    assert loops[0].is_closed()


def test_a_loop_factory_that_returns_no_loop_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"SCHEDULER_EVENT_LOOP='time:time'.*not an event loop"):
        new_event_loop("time:time")


def test_async_listeners_of_task_events_run_to_completion(project: Project) -> None:
    project.kernel(ASYNC_KERNEL + """
async def on_finished(event, exit_code):
    await arecord(f"finished:{event.display_name}:{exit_code}")

async def on_failed(output):
    await arecord("failed:" + output.strip())

def schedule_tasks():
    schedule().listen("finished", on_finished)
    schedule().listen("failed", on_failed)
    schedule().job(arecord, "task").name("good")
    schedule().exec("echo broken; exit 2").name("bad")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert "never awaited" not in result.stdout + result.stderr
    assert ran(project) == ["task", "finished:good:0", "finished:bad:2", "failed:broken"]


async def _coroutine_function() -> int:
    return 1


@types.coroutine
def _generator_coroutine() -> Generator[None, None, int]:
    yield
    return 1


def _plain_generator() -> Iterator[int]:
    yield 1


async def _async_generator() -> Any:
    yield 1


class _WithAwait:
    def __await__(self) -> Generator[None, None, int]:
        yield
        return 1


class _AwaitIsNone:
    __await__ = None


def _future() -> object:
    loop = asyncio.new_event_loop()
    future = loop.create_future()
    loop.close()
    return future


@pytest.mark.parametrize(("make", "expected"), [
    pytest.param(_coroutine_function, True, id="coroutine"),
    pytest.param(_generator_coroutine, True, id="types.coroutine-generator"),
    pytest.param(_future, True, id="future"),
    pytest.param(_WithAwait, True, id="object-with-__await__"),
    pytest.param(_plain_generator, False, id="plain-generator"),
    pytest.param(_async_generator, False, id="async-generator"),
    pytest.param(lambda: _WithAwait, False, id="class-with-__await__"),
    pytest.param(_AwaitIsNone, False, id="__await__-is-None"),
    pytest.param(lambda: _coroutine_function, False, id="coroutine-function"),
    pytest.param(lambda: None, False, id="None"),
    pytest.param(lambda: 42, False, id="int"),
    pytest.param(lambda: "text", False, id="str"),
    pytest.param(lambda: [1], False, id="list"),
    pytest.param(lambda: print, False, id="function"),
])
def test_is_awaitable_agrees_with_inspect(make: Callable[[], object], expected: bool) -> None:
    value = make()
    try:
        assert _is_awaitable(value) is inspect.isawaitable(value) is expected
    finally:
        close = getattr(value, "close", None)
        if callable(close) and not isinstance(value, type):
            close()  # a coroutine or generator never started: no "never awaited" warning


def test_call_user_code_awaits_a_types_coroutine_and_returns_a_generator_as_it_is() -> None:
    assert call_user_code(_generator_coroutine) == 1
    generator = call_user_code(_plain_generator)
    assert inspect.isgenerator(generator) and list(generator) == [1]
