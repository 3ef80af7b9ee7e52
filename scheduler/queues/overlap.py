"""`without_overlapping()` on a dispatched task: no new dispatch while the workers have
not finished the job of the previous one.

Taking the overlap lock guards only the send, which lasts milliseconds; what users mean
is the worker's run. So the id of each dispatched job is kept in the mutex store (as a
flag that expires with the lock's expiration), and the next due dispatch first asks the
queue whether that job has ended: Celery through its result backend, RQ through the
job's status in Redis. The question is asked in a forked child with a time bound, like
the send itself.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import NamedTuple

from scheduler import process, queues
from scheduler.event import Event
from scheduler.mutex import MutexBackend
from scheduler.tasks import SEND_TIMEOUT, DispatchTask
from scheduler.zones import UTC


class PreviousRun(NamedTuple):
    """The job the last dispatch sent, and whether the workers have finished it (None:
    the queue cannot tell, e.g. Celery without a result backend)."""

    job_id: str
    finished: bool | None


def _flag_name(event: Event) -> str:
    return f"dispatched-{event.mutex_key}"


def previous_run(event: Event, backend: MutexBackend) -> PreviousRun | None:
    """The job of `event`'s last dispatch, if its record has not expired.

    Raises DispatchFailed when the queue cannot be asked (unreachable, or silent for
    SEND_TIMEOUT seconds), and MutexUnavailable when the store cannot be read.
    """
    task = event.task
    assert isinstance(task, DispatchTask)
    job_id = backend.get_flag(_flag_name(event))
    if not job_id:
        return None
    answer = process.answer_from_child(
        lambda pipe: queues.ask_finished_from_child(task, job_id, pipe), SEND_TIMEOUT)
    if answer is None:
        raise queues.DispatchFailed(f"the queue did not say within {SEND_TIMEOUT:g}s whether "
                                    f"the previous run (task id {job_id}) has finished")
    reply = json.loads(answer or b'{"error": "the question ended without an answer"}')
    if "error" in reply:
        raise queues.DispatchFailed(f"could not ask whether the previous run (task id "
                                    f"{job_id}) has finished: {reply['error']}")
    return PreviousRun(job_id, reply["finished"])


def remember(event: Event, backend: MutexBackend, job_id: str) -> None:
    """Keep `job_id` as `event`'s last dispatch, for as long as its overlap expiration."""
    assert event.overlap_expiration is not None
    expires = datetime.now(UTC) + timedelta(minutes=event.overlap_expiration)
    backend.set_flag(_flag_name(event), job_id, expires=expires)


def forget(event: Event, backend: MutexBackend) -> bool:
    """Forget `event`'s last dispatch (`schedule:clear-cache`); whether there was one."""
    return backend.clear_flag(_flag_name(event))
