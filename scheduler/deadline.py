"""Deadlines for code that may hang: the kernel's import, hooks and conditions, an e-mail,
a ping.

`within(seconds, what)` raises `DeadlinePassed` inside the code that is still running
when the time is up, by SIGALRM: a socket read that trickles one byte at a time or a
`time.sleep` in a hook is cut short where it is, and the caller goes on. (A thread could
be abandoned instead, but it would still run at the next fork and hold its locks.)
`DeadlinePassed` is a BaseException, so the user's own `except Exception` cannot swallow
it. Outside the main thread, where no signal handler can run, the code runs unbounded.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class DeadlinePassed(BaseException):
    """The time given to a piece of code ran out; the message says which and how long."""


@contextmanager
def within(seconds: float | None, what: str) -> Iterator[None]:
    """Run the block for at most `seconds` (None: no limit); raise DeadlinePassed, saying
    `what` ran out of time, when it takes longer."""
    if seconds is None:
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DeadlinePassed(f"{what} did not finish within {seconds:g} seconds")

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread, where alone a handler can run
        in_main_thread = False
    else:
        in_main_thread = True
    if not in_main_thread:  # out of the except clause: its errors are not chained to it
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def seconds_setting(raw: str, name: str, default: float) -> float:
    """A positive number of seconds from the setting `name` (`default` when empty);
    ValueError naming the setting and the value otherwise."""
    raw = raw.strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{name} {raw!r} is not a positive number of seconds")
    return seconds
