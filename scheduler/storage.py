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

Like OpenSSH's StrictModes, a storage folder (or a folder inside it) that a user other
than the tick's own or root can write to is refused, with a message that names it and
says how to fix it, unless the operator shares it with one group on purpose
(`SCHEDULER_STORAGE_SHARED_GROUP=www-data`): then members of that group may own and
write to its folders. Everyone else still may not.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.settings import Settings

SHARED_GROUP_SETTING = "SCHEDULER_STORAGE_SHARED_GROUP"

# File names the scheduler makes: up to 200 ASCII letters, digits and a few separators,
# starting with a letter, digit or `_`; never a path separator, never `.` or `..`, never
# hidden. (Sets, not a pattern: every tick checks names, and compiling one costs more.)
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_NAME_CHARACTERS = _NAME_START | frozenset(".:@+=-")
_NAME_LENGTH = 200
# The most a state file, claim or flag may hold: they are a few hundred bytes, and a
# planted huge file must not make the tick read gigabytes.
MAX_READ = 1 << 16

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeStorage(OSError):
    """Something under storage is not what the scheduler made (a link, a FIFO, a file
    with several names), or a folder there can be written by other users: it is
    refused, and the message names the path."""


class Trust:
    """Who besides this process's user and root may write to folders under storage:
    nobody, or the members of one group the operator named."""

    def __init__(self, shared_group: str | None = None) -> None:
        self.shared_group = shared_group or None
        self.shared_gid: int | None = None
        if self.shared_group is not None:
            import grp  # here: most deployments share storage with no group

            try:
                self.shared_gid = grp.getgrnam(self.shared_group).gr_gid
            except KeyError:
                raise UnsafeStorage(errno.EINVAL, f"{SHARED_GROUP_SETTING}: there is no group "
                                    f"{self.shared_group!r} on this machine") from None

    @classmethod
    def of(cls, settings: Settings) -> Trust:
        return cls(settings.get(SHARED_GROUP_SETTING).strip() or None)

    def check(self, descriptor: int, path: Path) -> None:
        """Raise UnsafeStorage, naming `path` and the fix, when a user other than this
        process's own, root or a member of the shared group can write to the folder."""
        info = os.fstat(descriptor)
        writer = self.other_writer(info)
        if writer is None:
            return
        me = _user_name(os.geteuid())
        group = _group_name(info.st_gid)
        # Sharing with a group on purpose cannot make a folder every user can write safe.
        share = (f", or set {SHARED_GROUP_SETTING}={group} to share it with that group on "
                 f"purpose" if writer != "every user" else "")
        raise UnsafeStorage(
            errno.EPERM,
            f"Refusing to use {path}: {writer} can write to it (owner "
            f"{_user_name(info.st_uid)}, group {group}, mode "
            f"{stat.S_IMODE(info.st_mode):04o}). Make it the scheduler's alone "
            f"(chown {me} {path} && chmod go-w {path}){share}.",
            str(path))

    def other_writer(self, info: os.stat_result) -> str | None:
        """Who, besides this process's user, root and the shared group, can write to
        the folder `info` describes: "every user", "its owner NAME", "the group NAME";
        None when nobody else can."""
        me = os.geteuid()
        if info.st_mode & stat.S_IWOTH:
            return "every user"
        if info.st_uid not in (me, 0) and not self._shared_member(info.st_uid):
            return f"its owner {_user_name(info.st_uid)}"
        if info.st_mode & stat.S_IWGRP and info.st_gid != self.shared_gid:
            others = _group_members(info.st_gid) - {me, 0}
            if others:
                return f"the group {_group_name(info.st_gid)}"
        return None

    def _shared_member(self, uid: int) -> bool:
        return self.shared_gid is not None and uid in _group_members(self.shared_gid)


def _group_members(gid: int) -> set[int]:
    """The users in group `gid`: those who list it, and those whose primary group it is."""
    import grp
    import pwd

    members = {entry.pw_uid for entry in pwd.getpwall() if entry.pw_gid == gid}
    with contextlib.suppress(KeyError):
        for name in grp.getgrgid(gid).gr_mem:
            with contextlib.suppress(KeyError):
                members.add(pwd.getpwnam(name).pw_uid)
    return members


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def is_safe_name(name: str) -> bool:
    """Whether `name` may be used as a file name under storage (one component, plain)."""
    return (0 < len(name) <= _NAME_LENGTH and name[0] in _NAME_START
            and _NAME_CHARACTERS.issuperset(name))


def name_part(text: str) -> str:
    """`text` (a host name, say) made fit to be part of a file name: every character
    outside letters, digits and `_.:@+-` written as `=XX` (its UTF-8 bytes in hex), so
    that different texts stay different and none can leave its folder. A byte of the
    environment that is not UTF-8 (Python reads it as a lone surrogate) is that byte."""
    part = "".join(char if char.isascii() and (char.isalnum() or char in "_.:@+-")
                   else "".join(f"={byte:02X}" for byte in char.encode("utf-8",
                                                                       "surrogateescape"))
                   for char in text)
    # A file name starts with a letter or a digit here, never a dot: "_" goes first when
    # needed (names that start with a letter or digit never start with "_", so two
    # texts still never meet).
    return part if part[:1].isalnum() else "_" + part


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

    def __init__(self, descriptor: int, path: Path, trust: Trust | None = None) -> None:
        self.descriptor = descriptor
        self.path = path
        self.trust = trust or Trust()

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, base: Path | None = None, create: bool = True,
             trust: Trust | None = None) -> Folder:
        """Open `path`, walking down from `base` (default: `path` itself) without
        following any link below `base`; missing folders are created 0700 when `create`.
        Every folder from `base` down must pass `trust` (default: nobody else may write).

        Raises FileNotFoundError (when not `create`), UnsafeStorage for a link or a
        file where a folder should be or a folder others can write to, and OSError for
        the rest.
        """
        base = base or path
        made = False
        if create and not base.is_dir():
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
            made = True
        descriptor = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        folder = cls(descriptor, base, trust)
        try:
            if made:
                os.fchmod(descriptor, 0o700)  # whatever the umask
            folder.trust.check(descriptor, base)
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
        folder = Folder(descriptor, path, self.trust)
        try:
            if made:
                os.fchmod(descriptor, 0o700)  # the umask may have taken bits away or not
            self.trust.check(descriptor, path)
        except BaseException:
            folder.close()
            raise
        return folder

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

    def create_exclusively(self, name: str, data: bytes, *, durable: bool = True) -> bool:
        """Create `name` holding `data`, whole, unless it exists; True if this call made it.

        The data goes to a temporary file first, which is then linked to `name` (a link
        fails when the name exists), so nobody ever sees `name` empty or half-written. A
        `name` that exists but is empty or unreadable counts as absent and is replaced.
        Without `durable` the data is not synced to disk first: for records that a
        crash may lose (a lost or emptied record reads as absent), one fsync less.
        """
        check_name(name)
        temporary = self._write_temporary(name, data, durable=durable)
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

    def _write_temporary(self, name: str, data: bytes, *, durable: bool = True) -> str:
        # A random part no one can guess and plant a link under (os.urandom: the
        # `secrets` module would add an import to every tick for the same bytes).
        temporary = f"{check_name(name)}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
        descriptor = self.open_file(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            _write_all(descriptor, data)
            if durable:
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


def lock_within(descriptor: int, seconds: float) -> bool:
    """Take an exclusive flock on `descriptor`, waiting at most `seconds` for whoever
    holds it; False when they held it all that time (stuck, or not the scheduler)."""
    deadline = time.monotonic() + seconds
    pause = 0.001
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def storage_folder(settings: Settings, *parts: str, create: bool = True) -> Folder:
    """The folder `parts` under the settings' storage folder, opened safely."""
    return Folder.open(settings.storage.joinpath(*parts), base=settings.storage,
                       create=create, trust=Trust.of(settings))


# Symbolic links followed on the way to one output file, at most (as the kernel's limit).
MAX_LINKS = 40


def open_output_file(path: Path, flags: int) -> int:
    """Open the output file `path` (absolute) for writing, with `flags`
    (`O_WRONLY|O_CREAT` and `O_APPEND` or `O_TRUNC`), creating missing folders 0700.

    The path is the user's own choice and may go through symbolic links, but never
    through one that lies in a folder another user can write to (`/tmp`, a shared
    upload folder, a storage folder shared with a group): such a link may have been
    planted to make the scheduler truncate or fill a file of the planter's choosing.
    Raises UnsafeStorage naming the link, and OSError for the rest.
    """
    trust = Trust()  # a shared group's members are other users here too
    parts = list(path.parts[1:])
    where = Path("/")
    current = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    links = 0
    try:
        while parts:
            name = parts.pop(0)
            if name in ("", "."):
                continue
            last = not parts
            try:
                if last:
                    # Truncated only once checked: O_TRUNC would empty a planted hard
                    # link's file before the check could refuse it.
                    descriptor = os.open(name, (flags & ~os.O_TRUNC) | _FILE_FLAGS, 0o600,
                                         dir_fd=current)
                    _check_output(descriptor, where / name, current, trust,
                                  truncate=bool(flags & os.O_TRUNC))
                    return descriptor
                if name != "..":
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o700, dir_fd=current)
                inner = os.open(name, _DIRECTORY_FLAGS, dir_fd=current)
            except OSError:
                # ELOOP for a link opened with O_NOFOLLOW; EACCES where the kernel's
                # protected_symlinks refuses it first (sticky folders such as /tmp).
                if not _is_link(name, current):
                    raise
                writer = trust.other_writer(os.fstat(current))
                if writer is not None:
                    raise UnsafeStorage(
                        errno.ELOOP, f"{where / name} is a symbolic link in {where}, "
                        f"which {writer} can write to; refusing to follow it (write to a "
                        f"folder only the scheduler's user can write to)", str(where / name)
                    ) from None
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many symbolic links", str(path)) from None
                target = Path(os.readlink(name, dir_fd=current))
                parts = list(target.parts) + parts
                if target.is_absolute():
                    parts = parts[1:]
                    os.close(current)
                    current = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                    where = Path("/")
                continue
            os.close(current)
            current = inner
            where = where.parent if name == ".." else where / name
        raise IsADirectoryError(errno.EISDIR, "not a file", str(path))
    finally:
        os.close(current)


def _is_link(name: str, folder: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_output(descriptor: int, path: Path, folder: int, trust: Trust, *,
                  truncate: bool) -> None:
    """Refuse an output file that is no plain file of its own in a folder others can
    write to (a FIFO that would block, a hard link to a file elsewhere); then empty it
    if asked (closing it if anything fails)."""
    try:
        info = os.fstat(descriptor)
        shared = trust.other_writer(os.fstat(folder)) is not None
        if shared and (not stat.S_ISREG(info.st_mode) or info.st_nlink > 1):
            raise UnsafeStorage(errno.EPERM, f"{path} is not a plain file of its own, in a "
                                f"folder other users can write to; refusing to write to it",
                                str(path))
        # Opened without blocking (a FIFO must not hang the tick); writes may block.
        os.set_blocking(descriptor, True)
        if truncate and stat.S_ISREG(info.st_mode):
            os.ftruncate(descriptor, 0)
    except BaseException:
        os.close(descriptor)
        raise
