"""Sending to Celery: `apply_async`, and asking a result backend whether a run ended.

Imported only by the forked child that sends a job (celery and kombu take a quarter of
a second to import; a tick that dispatches nothing never pays it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import kombu.exceptions
from celery import states
from celery.backends.base import DisabledBackend

from scheduler.queues import DispatchFailed, Sent

# What a broker or result backend that is down, refuses us or hangs raises.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (kombu.exceptions.OperationalError,
                                                      OSError, TimeoutError)
try:  # the redis client, when Celery uses Redis, raises errors of its own
    import redis.exceptions

    _TRANSPORT_ERRORS += (redis.exceptions.RedisError,)
except ImportError:  # pragma: no cover - Celery on RabbitMQ alone
    pass


def broker_of(task: Any) -> str:
    """`Celery broker amqp://guest:**@host:5672//`: kombu hides the password."""
    return f"Celery broker {task.app.connection_for_write().as_uri()}"


def send(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any], queue: str | None,
         announce: Callable[[str], None]) -> Sent:
    """`task.apply_async(args, kwargs, queue=queue)`; the Celery task id."""
    options = {"queue": queue} if queue else {}
    where = broker_of(task) + (f", queue {queue!r}" if queue else "")
    announce(where)
    try:
        result = task.apply_async(args, kwargs, **options)
    except _TRANSPORT_ERRORS as error:
        raise DispatchFailed(f"{where} is unreachable: {_without_secrets(task, error)}") from None
    return Sent(str(result.id), where)


def finished(task: Any, job_id: str) -> bool | None:
    """Whether the run `job_id` ended (success, failure or revoked), by the app's result
    backend; None without one. A queued job and one whose result expired are both
    PENDING to Celery: not finished (the overlap expiration bounds that wait)."""
    backend = task.app.backend
    if isinstance(backend, DisabledBackend):
        return None
    try:
        state = task.app.AsyncResult(job_id).state
    except _TRANSPORT_ERRORS as error:
        raise DispatchFailed(f"the Celery result backend {backend.as_uri()} is unreachable: "
                             f"{_without_secrets(task, error)}") from None
    return state in states.READY_STATES


def _without_secrets(task: Any, error: BaseException) -> str:
    """The error's text with the broker's and result backend's passwords masked."""
    text = str(error) or type(error).__name__
    backend_url = task.app.conf.result_backend
    passwords = (task.app.connection_for_write().password,
                 urlsplit(backend_url).password if isinstance(backend_url, str) else None)
    for password in filter(None, passwords):
        text = text.replace(password, "**")
    return text
