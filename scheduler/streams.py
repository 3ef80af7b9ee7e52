"""The process's standard streams, made harmless: a closed, full or broken stdout must
never stop a task.

Cron may start the tick with stdout closed (`>&-`), on a full disk (`>> cron.log` with
no space left, `> /dev/full`) or into a pipe whose reader has gone (`| head -1`). The
tick then goes on running its tasks and its lines go nowhere: they still reach the
`scheduler` logger and the run history.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time

from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

    from _typeshed import ReadableBuffer

# How long a write waits for room in a non-blocking output that is full for now.
FULL_PIPE_PATIENCE = 10.0


def ensure_standard_descriptors() -> None:
    """Open /dev/null on any of descriptors 0, 1 and 2 that is closed.

    Otherwise the next file the process opens (a lock, a task's output) would get that
    number and be written to as if it were stdout or stderr.
    """
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: often this one
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)


def make_standard_streams_forgiving() -> None:
    """Replace sys.stdout and sys.stderr with text streams on the same descriptors whose
    writes never raise, so that no print of ours or of the application's (a kernel, a
    hook, a condition) fails because of where the output goes."""
    for name, descriptor in (("stdout", 1), ("stderr", 2)):
        stream: TextIO | None = getattr(sys, name)
        if isinstance(getattr(stream, "buffer", None), _ForgivingWriter):
            continue
        flush(stream)
        # Python sets a stream to None when its descriptor was closed at start; a job
        # forked later puts its output file there and must find a stream to print to.
        setattr(sys, name, io.TextIOWrapper(
            _ForgivingWriter(_ForgivingFile(descriptor, "w", closefd=False)),
            encoding=stream.encoding if stream else "utf-8",
            errors=stream.errors if stream else "backslashreplace",
            line_buffering=bool(stream.line_buffering) if stream else name == "stderr"))


class _ForgivingFile(io.FileIO):
    """A file that, when a write fails, points its descriptor at /dev/null for good.

    Dropping the text is the point: left as it is, it would fail again at every flush,
    in every child forked later, and at exit (which Python turns into exit code 120).
    A non-blocking output that is full for now (a pipe some container runtimes hand
    over) is waited for, up to FULL_PIPE_PATIENCE seconds, before it counts as failed.
    """

    def write(self, data: ReadableBuffer) -> int:
        deadline = time.monotonic() + FULL_PIPE_PATIENCE
        try:
            written = super().write(data)
            while written is None and time.monotonic() < deadline:  # EAGAIN
                import select  # only for a full non-blocking output

                select.select([], [self.fileno()], [], deadline - time.monotonic())
                written = super().write(data)
            if written is not None:
                return written
        except OSError:
            pass
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self.fileno())
        finally:
            os.close(null)
        return len(memoryview(data))


class _ForgivingWriter(io.BufferedWriter):
    """The buffer over a _ForgivingFile (a class of its own, to be recognised)."""


def write_line(stream: TextIO | None, line: str) -> bool:
    """Write `line` and a newline to `stream` and flush it; False when it cannot."""
    if stream is None:  # Python starts with sys.stdout None when descriptor 1 is closed
        return False
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):  # ValueError: the file object was closed
        return False
    return True


def flush(stream: TextIO | None) -> None:
    """Flush `stream`, ignoring a stream that cannot be written."""
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
