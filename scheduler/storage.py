"""Safe files under the storage folder, which other users may be able to write to.

The tick may run as root over a storage folder that the web application's user can
write to. Such a user can plant symbolic links, FIFOs, hard links and odd names, to
make root overwrite, truncate or delete files elsewhere on the machine, or hang. So
everything under storage goes through a `Folder`: an open directory descriptor, with
every name resolved relative to it and no link ever followed.

* folders are opened one component at a time with `O_DIRECTORY | O_NOFOLLOW`, and
  created 0700 whatever the umask;
* files are opened with `O_NOFOLLOW | O_NONBLOCK` (a FIFO cannot block the open) and
  must turn out to be regular files (`fstat`); new files are 0600 whatever the umask;
* a file that readers must see whole is written to a temporary file created with
  `O_EXCL` in the same folder, synced, then renamed (or linked) into place;
* reading treats a missing, empty, unreadable or non-regular file as absent;
* clean-up unlinks names relative to the folder and never descends through a link;
* names read from files are checked (`is_safe_name`) before they become file names.

The folder named by `SCHEDULER_STORAGE` itself, and the folders above it, are the
operator's choice and are opened normally; only what is below it is distrusted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

# File names the scheduler makes: letters, digits and a few separators; never a path
# separator, never `.` or `..`, never hidden.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@+=-]{0,199}")
# The most a state file, claim or flag may hold: they are a few hundred bytes, and a
# planted huge file must not make the tick read gigabytes.
MAX_READ = 1 << 16

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeStorage(OSError):
    """Something under storage is not what the scheduler made (a link, a FIFO, a file
    with several names): it is refused, and the message names the path."""


def is_safe_name(name: str) -> bool:
    """Whether `name` may be used as a file name under storage (one component, plain)."""
    return _SAFE_NAME.fullmatch(name) is not None


def check_name(name: str) -> str:
    """`name` itself, or ValueError naming it when it could escape its folder."""
    if not is_safe_name(name):
        raise ValueError(f"{name!r} is not a safe file name (letters, digits and _.:@+=- "
                         f"only, not starting with a dot)")
    return name


class Folder:
    """An open folder under storage; every name is resolved relative to it.

    Use as a context manager (or call `close`), so its descriptor does not outlive it.
    """

    def __init__(self, descriptor: int, path: Path) -> None:
        self.descriptor = descriptor
        self.path = path

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, base: Path | None = None, create: bool = True) -> Folder:
        """Open `path`, walking down from `base` (default: `path` itself) without
        following any link below `base`; missing folders are created 0700 when `create`.

        Raises FileNotFoundError (when not `create`), UnsafeStorage for a link or a
        file where a folder should be, and OSError for the rest.
        """
        base = base or path
        if create and not base.is_dir():
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        folder = cls(descriptor, base)
        try:
            for part in path.relative_to(base).parts:
                inner = folder.child(part, create=create)
                folder.close()
                folder = inner
        except BaseException:
            folder.close()
            raise
        return folder

    def child(self, name: str, *, create: bool = True) -> Folder:
        """The folder `name` inside this one (made 0700 if missing and `create`)."""
        check_name(name)
        path = self.path / name
        made = False
        if create:
            try:
                os.mkdir(name, 0o700, dir_fd=self.descriptor)
                made = True
            except FileExistsError:
                pass
        try:
            descriptor = os.open(name, _DIRECTORY_FLAGS, dir_fd=self.descriptor)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeStorage(error.errno, f"{path} is not a folder (a link or a "
                                    f"file is in its place); remove it", str(path)) from None
            raise
        if made:
            os.fchmod(descriptor, 0o700)  # the umask may have taken bits away or not
        return Folder(descriptor, path)

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # -- files --------------------------------------------------------------------------
    def open_file(self, name: str, flags: int, mode: int = 0o600) -> int:
        """A descriptor of the regular file `name` (never a link, FIFO or device).

        Files this call creates get `mode` whatever the umask; a file with more than one
        name is refused for writing (a hard link to a file elsewhere).
        """
        check_name(name)
        descriptor = os.open(name, flags | _FILE_FLAGS, mode, dir_fd=self.descriptor)
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeStorage(errno.EINVAL, f"{self.path / name} is not a regular "
                                    f"file; remove it", str(self.path / name))
            writing = flags & (os.O_WRONLY | os.O_RDWR)
            if writing and info.st_nlink > 1:
                raise UnsafeStorage(errno.EMLINK, f"{self.path / name} has other names "
                                    f"(hard links); remove it", str(self.path / name))
            if writing and info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != mode:
                os.fchmod(descriptor, mode)
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor

    def read(self, name: str) -> bytes | None:
        """The contents of `name`; None when it is missing, empty, unreadable or not a
        regular file (a half-written or planted file is never taken for a real one)."""
        try:
            descriptor = self.open_file(name, os.O_RDONLY)
        except (OSError, ValueError):
            return None
        try:
            data = os.read(descriptor, MAX_READ)
        except OSError:
            return None
        finally:
            os.close(descriptor)
        return data or None

    def write_atomically(self, name: str, data: bytes) -> None:
        """Replace `name` with `data` in one step: readers see the old or the new whole."""
        temporary = self._write_temporary(name, data)
        try:
            os.rename(temporary, name, src_dir_fd=self.descriptor, dst_dir_fd=self.descriptor)
        except BaseException:
            self.remove(temporary)
            raise

    def create_exclusively(self, name: str, data: bytes) -> bool:
        """Create `name` holding `data`, whole, unless it exists; True if this call made it.

        The data goes to a temporary file first, which is then linked to `name` (a link
        fails when the name exists), so nobody ever sees `name` empty or half-written. A
        `name` that exists but is empty or unreadable counts as absent and is replaced.
        """
        check_name(name)
        temporary = self._write_temporary(name, data)
        try:
            for _attempt in range(2):
                try:
                    os.link(temporary, name, src_dir_fd=self.descriptor,
                            dst_dir_fd=self.descriptor, follow_symlinks=False)
                    return True
                except FileExistsError:
                    if self.read(name) is not None:
                        return False
                    self.remove(name)  # empty or not a regular file: not a real one
            return False
        finally:
            self.remove(temporary)

    def append(self, name: str, data: bytes) -> None:
        """Append `data` to `name` (created 0600) in one write, so concurrent writers
        never tear each other's records."""
        descriptor = self.open_file(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            _write_all(descriptor, data)
        finally:
            os.close(descriptor)

    def _write_temporary(self, name: str, data: bytes) -> str:
        temporary = f"{check_name(name)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        descriptor = self.open_file(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            _write_all(descriptor, data)
            os.fsync(descriptor)
        except BaseException:
            os.close(descriptor)
            self.remove(temporary)
            raise
        os.close(descriptor)
        return temporary

    # -- names --------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The names in this folder (unsorted)."""
        return os.listdir(self.descriptor)

    def lstat(self, name: str) -> os.stat_result | None:
        """`name`'s own status (a link is not followed), or None when it is missing."""
        try:
            return os.stat(name, dir_fd=self.descriptor, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def is_file(self, name: str) -> bool:
        """Whether `name` is a regular file (not a link to one)."""
        info = self.lstat(name)
        return info is not None and stat.S_ISREG(info.st_mode)

    def remove(self, name: str) -> bool:
        """Unlink `name` (a link itself, never its target); False if it was not there
        or is a folder."""
        try:
            os.unlink(name, dir_fd=self.descriptor)
        except (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError):
            return False
        return True

    def remove_tree(self, name: str) -> None:
        """Remove the folder `name` and everything in it, never following a link: a
        link in it (or in its place) is removed itself, its target left alone."""
        info = self.lstat(name)
        if info is None:
            return
        if not stat.S_ISDIR(info.st_mode):
            self.remove(name)
            return
        try:
            inner = self.child(name, create=False)
        except (OSError, ValueError):
            return
        with inner:
            for entry in inner.names():
                inner.remove_tree(entry)
        with contextlib.suppress(OSError):
            os.rmdir(name, dir_fd=self.descriptor)

    def entries(self) -> Iterator[tuple[str, os.stat_result]]:
        """Each name with its own status (links not followed)."""
        for name in self.names():
            info = self.lstat(name)
            if info is not None:
                yield name, info


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]
