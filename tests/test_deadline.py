"""`deadline.within`: SIGALRM cuts a block short in the main thread; elsewhere, where no
signal handler can run, the block runs unbounded and its errors are its own."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

import pytest

from scheduler.deadline import DeadlinePassed, within


@pytest.fixture
def stray_alarms() -> Iterator[list[int]]:
    """The SIGALRMs the main thread receives while the test runs (recorded rather than
    killing the test process, which is what the default action would do)."""
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGALRM, record)
    try:
        yield received
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def in_a_thread(block: Callable[[], object]) -> tuple[object, BaseException | None]:
    """Run `block` in a thread of its own: what it returned, or what it raised."""
    outcome: list[tuple[object, BaseException | None]] = []

    def run() -> None:
        try:
            outcome.append((block(), None))
        except BaseException as error:
            outcome.append((None, error))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    [result] = outcome
    return result


def test_a_block_past_its_limit_in_the_main_thread_is_cut_short(
        stray_alarms: list[int]) -> None:
    handler = signal.getsignal(signal.SIGALRM)
    with pytest.raises(DeadlinePassed) as raised, within(0.2, "the slow block"):
        time.sleep(5)
    assert str(raised.value) == "the slow block did not finish within 0.2 seconds"
    assert not isinstance(raised.value, Exception)  # user code's `except Exception` misses it
    # The alarm is off and the handler that was there before is back.
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is handler
    assert stray_alarms == []


def test_a_block_within_its_limit_leaves_no_alarm_behind(stray_alarms: list[int]) -> None:
    handler = signal.getsignal(signal.SIGALRM)
    with within(30, "the quick block"):
        assert signal.getsignal(signal.SIGALRM) is not handler
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is handler
    with within(None, "the unbounded block"):
        assert signal.getsignal(signal.SIGALRM) is handler
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_outside_the_main_thread_the_block_runs_unbounded(stray_alarms: list[int]) -> None:
    def slow() -> str:
        with within(0.2, "the block in a thread"):
            time.sleep(0.5)
            return "finished"

    result, error = in_a_thread(slow)
    assert error is None
    assert result == "finished"
    # No alarm was set for it: none reached the main thread.
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert stray_alarms == []


def test_outside_the_main_thread_the_blocks_error_is_its_own(stray_alarms: list[int]) -> None:
    def failing() -> None:
        with within(5, "the failing block"):
            raise RuntimeError("the disk is on fire")

    _result, error = in_a_thread(failing)
    assert isinstance(error, RuntimeError) and str(error) == "the disk is on fire"
    # Not shown as raised while handling signal.signal's ValueError: a traceback of it
    # would say "During handling of the above exception, another exception occurred".
    assert error.__context__ is None
    assert stray_alarms == []
