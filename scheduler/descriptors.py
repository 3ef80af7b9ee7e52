"""The tick's descriptors that its forked jobs must not inherit: held lock files, which
must die with the process that supervises the run, and the sockets of a mutex store's
connections. Apart from scheduler.process so that the locks and stores can name their
descriptors without importing what starts processes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterable

# Descriptors (held lock files) that a forked job must not keep open: a lock has to die
# with the process that supervises the run, not live on in the job's child.
_closed_in_forked_jobs: set[int] = set()
# Sources of more such descriptors, asked at each fork (a Redis client's sockets come
# and go with its connection pool).
_descriptor_sources: list[Callable[[], Iterable[int]]] = []


def close_in_forked_jobs(descriptor: int) -> None:
    """Have every job forked from now on close `descriptor` first thing."""
    _closed_in_forked_jobs.add(descriptor)


def keep_in_forked_jobs(descriptor: int) -> None:
    """Undo `close_in_forked_jobs` (the descriptor is about to be closed anyway)."""
    _closed_in_forked_jobs.discard(descriptor)


def closed_in_forked_jobs() -> frozenset[int]:
    """The descriptors every job forked now closes first thing."""
    return frozenset(_closed_in_forked_jobs)


def hide_from_forked_jobs(source: Callable[[], Iterable[int]]) -> None:
    """Have every job forked from now on lose the descriptors `source()` names then."""
    _descriptor_sources.append(source)


def drop_tick_descriptors(keeping: Collection[int] = ()) -> None:  # pragma: no cover
    """Close the tick's lock descriptors (but those in `keeping`) and put /dev/null over
    its sockets: a socket object still in the job's memory then closes /dev/null, never
    a file of the job. Runs in a forked job or keeper."""
    for descriptor in _closed_in_forked_jobs.difference(keeping):
        with contextlib.suppress(OSError):
            os.close(descriptor)
    hidden = {descriptor for source in _descriptor_sources for descriptor in source()}
    if hidden:
        null = os.open(os.devnull, os.O_RDWR)
        for descriptor in hidden - {null}:
            with contextlib.suppress(OSError):
                os.dup2(null, descriptor)
        os.close(null)
