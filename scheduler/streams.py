"""The process's standard streams, made harmless: a closed, full or broken stdout must
never stop a task.

Cron may start the tick with stdout closed (`>&-`), on a full disk (`>> cron.log` with
no space left, `> /dev/full`) or into a pipe whose reader has gone (`| head -1`). The
tick then goes on running its tasks and stops printing: its lines still reach the
`scheduler` logger and the run log.
"""

from __future__ import annotations

import contextlib
import os
from typing import TextIO


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


def write_line(stream: TextIO | None, line: str) -> bool:
    """Write `line` and a newline to `stream` and flush it; False when it cannot be
    written (the stream then goes to /dev/null for the rest of the process)."""
    if stream is None:  # Python starts with sys.stdout None when descriptor 1 is closed
        return False
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):  # ValueError: the file object was closed
        discard(stream)
        return False
    return True


def flush(stream: TextIO | None) -> None:
    """Flush `stream`; if it cannot be written, send it to /dev/null instead of raising."""
    if stream is None:
        return
    try:
        stream.flush()
    except (OSError, ValueError):
        discard(stream)


def discard(stream: TextIO) -> None:
    """Point `stream`'s descriptor at /dev/null and drop what it still buffers.

    Left as it is, the buffered text would fail again at every flush, in every child
    forked later, and at exit (where Python turns a failed flush into exit code 120).
    """
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, descriptor)
    finally:
        os.close(null)
    with contextlib.suppress(OSError, ValueError):
        stream.flush()
