"""The schedule's flags (pause, the sub-minute interrupt) as files under storage: what
every tick reads, apart from the mutexes so that reading a flag imports none of them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from scheduler.mutex import MutexUnavailable
from scheduler.storage import Folder, Trust, UnsafeStorage, check_name
from scheduler.zones import UTC


class FileFlags:
    """Flags as small JSON files in `folder` (`base`: where distrust of storage starts)."""

    def __init__(self, folder: Path, namespace: str, *, base: Path | None = None,
                 trust: Trust | None = None) -> None:
        self.folder = folder
        self.namespace = namespace
        self.base = base or folder
        self.trust = trust

    def open_folder(self, *, create: bool = True) -> Folder:
        """The folder, walked from `base` (FileNotFoundError when missing and not
        `create`); MutexUnavailable, saying why, when it cannot be used."""
        try:
            return Folder.open(self.folder, base=self.base, create=create, trust=self.trust)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as error:
            raise MutexUnavailable(storage_problem(self.folder, error)) from None

    def _flag_name(self, name: str) -> str:
        return check_name(f"flag-{self.namespace}-{name}.json")

    def set_flag(self, name: str, value: str, expires: datetime | None = None) -> None:
        """Raise the flag `name` with `value`, until `expires` (None: until cleared)."""
        import json

        record = {"value": value, "expires": expires.isoformat() if expires else None}
        try:
            with self.open_folder() as folder:
                folder.write_atomically(self._flag_name(name), json.dumps(record).encode())
        except (OSError, ValueError) as error:
            raise MutexUnavailable(storage_problem(self.folder, error)) from None

    def get_flag(self, name: str) -> str | None:
        """The value of the flag `name`, or None when it is down or expired."""
        try:
            with self.open_folder(create=False) as folder:
                data = folder.read(self._flag_name(name))
        except FileNotFoundError:
            return None
        if data is None:
            return None
        import json  # only when the flag is raised: most ticks find no file

        try:
            record = json.loads(data)
            expires = record.get("expires")
            if expires and datetime.fromisoformat(expires) <= datetime.now(UTC):
                return None
            return str(record.get("value"))
        except (ValueError, AttributeError, TypeError):
            return None

    def clear_flag(self, name: str) -> bool:
        """Lower the flag `name`; False if it was not raised."""
        raised = self.get_flag(name) is not None
        try:
            with self.open_folder(create=False) as folder:
                folder.remove(self._flag_name(name))
        except FileNotFoundError:
            pass
        return raised


def storage_problem(folder: Path, error: BaseException) -> str:
    """One line on why the mutex files in `folder` cannot be used."""
    if isinstance(error, UnsafeStorage):
        return str(error.strerror)
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"the mutex files in {folder} cannot be used: {reason}"
