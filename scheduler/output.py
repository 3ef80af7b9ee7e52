"""A task's captured output: spooled to a file under storage, streamed to the files the
event asks for, and only its end kept in memory.

A task may print gigabytes. The task writes into a spool file (under the storage folder,
which the project controls, not $TMPDIR, which may be a small tmpfs shared with other
users); from there the output is copied in chunks to `send_output_to`/`append_output_to`,
so memory stays flat, and only the last `TAIL_BYTES` are read back for the failure
report, the hooks and the e-mail: the end of a failing task's output is where the error is.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import tempfile
from pathlib import Path
from typing import BinaryIO, NamedTuple

from scheduler.settings import Settings
from scheduler.storage import Folder, open_output_file

# How much of the end of a task's output is kept in memory.
TAIL_BYTES = 1 << 20
# The size of each piece copied from the spool to an output file.
CHUNK_BYTES = 1 << 16


class Tail(NamedTuple):
    """The end of a task's output, and how many bytes before it were left out."""

    text: str
    cut_bytes: int


def spool_folder(settings: Settings) -> Path:
    return settings.storage / "framework" / "output"


def open_spool(settings: Settings) -> BinaryIO:
    """A new spool file for one run's output: nameless (unlinked at once, so nothing is
    left behind if the run is killed) and readable by this user only.

    A storage folder that is read-only or full must not stop a task that needs no
    storage: the spool then falls back to $TMPDIR.
    """
    try:
        with Folder.open(spool_folder(settings), base=settings.storage) as folder:
            try:  # a file that never has a name (Linux, on most file systems)
                descriptor = os.open(".", os.O_RDWR | os.O_TMPFILE | os.O_CLOEXEC, 0o600,
                                     dir_fd=folder.descriptor)
            except (AttributeError, OSError) as error:
                if isinstance(error, OSError) and error.errno in (errno.EROFS, errno.ENOSPC,
                                                                  errno.EDQUOT, errno.EACCES):
                    raise
                # No O_TMPFILE here: a name of its own, unlinked at once.
                name = f"run-{os.getpid()}-{secrets.token_hex(8)}"
                descriptor = folder.open_file(name, os.O_RDWR | os.O_CREAT | os.O_EXCL)
                folder.remove(name)
    except (OSError, ValueError):
        return tempfile.TemporaryFile(prefix="scheduler-output-")
    return os.fdopen(descriptor, "w+b")


def read_tail(spool: BinaryIO, limit: int = TAIL_BYTES) -> Tail:
    """The last `limit` bytes of `spool` as text, starting at a line when it was cut."""
    size = spool.seek(0, os.SEEK_END)
    start = max(0, size - limit)
    spool.seek(start)
    data = spool.read(limit)
    if start:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:  # begin at a whole line when there is one
            start += newline + 1
            data = data[newline + 1:]
    return Tail(data.decode("utf-8", "replace"), start)


def copy_to_file(spool: BinaryIO, path: Path, append: bool) -> None:
    """Stream the whole spool to `path` (replaced, or appended to), in chunks.

    The file is locked for the copy, so runs appending to one file never interleave
    inside each other's output. Raises OSError (UnsafeStorage for a planted link).
    """
    # Opened as storage.open_output_file checks it (no link planted by another user);
    # emptied only once the lock is ours.
    descriptor = open_output_file(path, os.O_WRONLY | os.O_CREAT |
                                  (os.O_APPEND if append else 0))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        if not append:
            os.ftruncate(descriptor, 0)
        spool.seek(0)
        while chunk := spool.read(CHUNK_BYTES):
            view = memoryview(chunk)
            while view:
                view = view[os.write(descriptor, view):]
    finally:
        os.close(descriptor)  # and with it the lock


def cut_notice(tail: Tail) -> str:
    """The line that says an output was cut (empty when it was not)."""
    if not tail.cut_bytes:
        return ""
    return (f"[The first {tail.cut_bytes:,} bytes of the output were left out; "
            f"the last {len(tail.text.encode()):,} follow.]\n")
