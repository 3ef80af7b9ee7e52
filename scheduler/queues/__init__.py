"""Dispatch to a queue: the tick decides *when*, a pool of workers does the work.

`schedule().dispatch(task, *args, queue=..., **kwargs)` sends a job at each due instant
instead of running it:

* a Celery task (or its dotted path) goes out with `apply_async`, to `queue` if given;
* with `queue=` an RQ `Queue`, the function (or its dotted path) is enqueued there;
* with `queue=` a name given to `register()`, the job goes to what was registered
  under it: an RQ queue (`rq_queue(url, name)`, connected only when used) or a
  dispatcher of your own, any callable `dispatcher(target, args, kwargs)` returning
  the job's id.

The send happens in a forked child of the tick (`process.start`), bounded in time, so
Celery, RQ and their clients are imported only by the processes that dispatch, and a
broker that hangs cannot hold up the tick. This face imports neither.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from scheduler.tasks import DispatchTask, queue_label

Dispatcher = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]


class DispatchFailed(Exception):
    """The job could not be sent; the message names the broker (password hidden)."""


class Sent(NamedTuple):
    """A job the queue accepted: its id there, and where it went."""

    job_id: str
    where: str


class RQQueueAt(NamedTuple):
    """An RQ queue named by its Redis URL, connected only when a job is sent to it."""

    url: str
    name: str = "default"

    def queue(self) -> Any:
        from scheduler.queues import rq

        return rq.queue_at(self.url, self.name)


_registry: dict[str, Any] = {}


def register(name: str, destination: Any) -> None:
    """Let `dispatch(..., queue=name)` send to `destination`: an RQ `Queue`, an
    `rq_queue(url, name)`, or a dispatcher `fn(target, args, kwargs) -> job id`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"register({name!r}, ...): a queue is registered under a name")
    if not (callable(destination) or hasattr(destination, "enqueue_call")
            or isinstance(destination, RQQueueAt)):
        raise ValueError(f"register({name!r}, {destination!r}): expected an RQ Queue, "
                         f"rq_queue(url, name) or a dispatcher function")
    _registry[name] = destination


def rq_queue(url: str, name: str = "default") -> RQQueueAt:
    """The RQ queue `name` on the Redis at `url`, for `register()`; rq is imported and
    Redis connected only when a job is sent."""
    return RQQueueAt(url, name)


def resolve(target: Any) -> Any:
    """`target`, or the object its dotted path names (`pkg.module.name`, `pkg.module:name`)."""
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.rpartition(":") if ":" in target else \
        target.rpartition(".")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as error:
        raise DispatchFailed(f"cannot import {target!r}: {error}") from None
    return found


def _destination(task: DispatchTask) -> Any:
    """What `task.queue` stands for: a registered destination (an RQ queue connected
    now), an RQ queue, a dispatcher, or a queue name (None) for a Celery task."""
    destination = task.queue
    if isinstance(destination, str) and destination in _registry:
        destination = _registry[destination]
    if isinstance(destination, RQQueueAt):
        destination = destination.queue()
    return destination


def send(task: DispatchTask, announce: Callable[[str], None] = lambda where: None) -> Sent:
    """Send `task`'s job to its queue; raise DispatchFailed naming the broker.

    `announce` is told where the job goes before it is sent, so that a send that never
    ends (a silent broker, stopped by the time bound) has said where it was going.
    """
    args, kwargs = tuple(task.args), dict(task.kwargs)
    destination = _destination(task)
    if hasattr(destination, "enqueue_call"):
        from scheduler.queues import rq

        return rq.send(destination, task.target, args, kwargs, announce)
    if callable(destination):
        return _send_with_dispatcher(destination, resolve(task.target), args, kwargs, announce)
    target = resolve(task.target)
    if hasattr(target, "apply_async"):
        from scheduler.queues import celery

        return celery.send(target, args, kwargs, destination, announce)
    if destination is None:
        raise DispatchFailed(f"{task.target_name} is not a Celery task: give it a queue (an "
                             f"RQ Queue, or a name given to scheduler.queues.register())")
    raise DispatchFailed(f"{task.target_name} is not a Celery task and no queue is "
                         f"registered as {queue_label(destination)}: give an RQ Queue, or "
                         f"register() the name")


def _send_with_dispatcher(dispatcher: Dispatcher, target: Any, args: tuple[Any, ...],
                          kwargs: dict[str, Any], announce: Callable[[str], None]) -> Sent:
    where = f"the dispatcher {getattr(dispatcher, '__qualname__', None) or dispatcher!r}"
    announce(where)
    job_id = dispatcher(target, args, kwargs)
    return Sent("" if job_id is None else str(job_id), where)


def finished(task: DispatchTask, job_id: str) -> bool | None:
    """Whether the workers have finished the job `job_id` of `task` (succeeded, failed
    or was stopped); None when the queue cannot tell (Celery without a result backend,
    a dispatcher of the application's)."""
    destination = _destination(task)
    if hasattr(destination, "enqueue_call"):
        from scheduler.queues import rq

        return rq.finished(destination, job_id)
    if callable(destination):
        return None
    target = resolve(task.target)
    if hasattr(target, "apply_async"):
        from scheduler.queues import celery

        return celery.finished(target, job_id)
    return None


def send_from_child(task: DispatchTask, id_pipe: int) -> None:  # pragma: no cover - a fork
    """The body of the forked child that sends `task`: say where the job went and its
    id on stdout (the task's output), and write the id to `id_pipe` for the tick."""
    def announce(where: str) -> None:
        print(f"Sending {task.target_name} to {where}", flush=True)

    try:
        sent = send(task, announce)
    except DispatchFailed as error:
        print(f"Could not dispatch {task.target_name}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"Sent: task id {sent.job_id or '(none)'}")
    os.write(id_pipe, sent.job_id.encode())


def ask_finished_from_child(task: DispatchTask, job_id: str,
                            answer_pipe: int) -> None:  # pragma: no cover - a fork
    """The body of the forked child that asks the queue whether a job has finished; the
    answer goes to `answer_pipe` as JSON: {"finished": true/false/null} or {"error": ...}."""
    try:
        answer: dict[str, Any] = {"finished": finished(task, job_id)}
    except DispatchFailed as error:
        answer = {"error": str(error)}
    except Exception as error:  # the application's code (an import): say what it raised
        answer = {"error": f"{type(error).__name__}: {error}"}
    os.write(answer_pipe, json.dumps(answer).encode())
