"""Sending to RQ: `Queue.enqueue_call`, and asking Redis whether a job has ended.

Imported only by the forked child that sends a job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from scheduler.queues import DispatchFailed, Sent

# A job in one of these has ended: its workers are done with it.
_ENDED = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED,
                    JobStatus.CANCELED})
_TRANSPORT_ERRORS = (redis.exceptions.RedisError, OSError)


def queue_at(url: str, name: str) -> Queue:
    """The RQ queue `name` on the Redis at `url` (timeouts, so a silent server fails)."""
    connection = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    return Queue(name, connection=connection)


def broker_of(queue: Queue) -> str:
    """`RQ queue 'reports' on redis://host:6379/0`, without the password."""
    settings = queue.connection.connection_pool.connection_kwargs
    if "path" in settings:
        place = f"unix://{settings['path']}"
    else:
        place = f"redis://{settings.get('host', 'localhost')}:{settings.get('port', 6379)}"
    return f"RQ queue {queue.name!r} on {place}/{settings.get('db', 0)}"


def send(queue: Queue, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
         announce: Callable[[str], None]) -> Sent:
    """Enqueue `target(*args, **kwargs)` (a function or its dotted path); the job id."""
    where = broker_of(queue)
    announce(where)
    try:
        job = queue.enqueue_call(target, args=args, kwargs=kwargs)
    except _TRANSPORT_ERRORS as error:
        raise DispatchFailed(f"{where} is unreachable: {_without_secrets(queue, error)}") \
            from None
    return Sent(str(job.id), where)


def finished(queue: Queue, job_id: str) -> bool:
    """Whether the job ended; one Redis no longer knows (its result expired) has."""
    try:
        status = Job.fetch(job_id, connection=queue.connection).get_status()
    except NoSuchJobError:
        return True
    except _TRANSPORT_ERRORS as error:
        raise DispatchFailed(f"{broker_of(queue)} is unreachable: "
                             f"{_without_secrets(queue, error)}") from None
    return status in _ENDED


def _without_secrets(queue: Queue, error: BaseException) -> str:
    text = str(error) or type(error).__name__
    password = queue.connection.connection_pool.connection_kwargs.get("password")
    return text.replace(password, "**") if password else text
