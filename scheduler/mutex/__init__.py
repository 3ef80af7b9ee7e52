"""Overlap and one-server mutexes and the schedule's flags, in the store
`SCHEDULER_CACHE_URL` names: files under storage (one machine), Redis or PostgreSQL
(many servers). The interface and its records are in `base`; each backend is a module
of its own (`files`, `redis`, `postgres`), and `backend_for` imports only the one it
returns, so a tick pays for no store it does not use.
"""

from __future__ import annotations

from datetime import timedelta

from scheduler.settings import Settings
from scheduler.storage import Trust, UnsafeStorage, name_part
from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from scheduler.mutex.base import (
        CLAIM_TTL,
        DEFAULT_LEASE,
        Acquired,
        Blocked,
        HeldLock,
        Holder,
        MutexBackend,
        claim_key,
        redact,
    )
    from scheduler.mutex.file_flags import FileFlags

__all__ = ["CLAIM_TTL", "DEFAULT_LEASE", "Acquired", "Blocked", "HeldLock", "Holder",
           "MutexBackend", "MutexUnavailable", "backend_for", "claim_key", "flags_for",
           "namespace", "redact"]
# The interface and its records, imported from `base` when first asked for: a tick
# that takes no lock only reads a flag or two (`flags_for`), and needs none of them.
_FROM_BASE = frozenset({"CLAIM_TTL", "DEFAULT_LEASE", "Acquired", "Blocked", "HeldLock",
                        "Holder", "MutexBackend", "claim_key", "redact"})


class MutexUnavailable(Exception):
    """The mutex store cannot be reached; the message names it and says why."""


def namespace(settings: Settings) -> str:
    """Keys of different environments (and prefixes) never meet."""
    return f"{settings.prefix}{settings.app_env}"


def __getattr__(name: str) -> Any:
    if name in _FROM_BASE:
        from scheduler.mutex import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def flags_for(settings: Settings) -> FileFlags | MutexBackend:
    """Where the schedule's flags (pause, interrupt) are: for files, a reader of those
    alone; otherwise the store `backend_for` gives."""
    if settings.cache_url:
        return backend_for(settings)
    from scheduler.mutex.file_flags import FileFlags

    return FileFlags(settings.storage / "mutex", name_part(namespace(settings)),
                     base=settings.storage, trust=_trust(settings))


def _trust(settings: Settings) -> Trust:
    try:
        return Trust.of(settings)
    except UnsafeStorage as error:
        raise MutexUnavailable(error.strerror) from None


def backend_for(settings: Settings) -> MutexBackend:
    """The backend `SCHEDULER_CACHE_URL` names: unset → files, `redis://` → Redis,
    `postgresql://` → PostgreSQL."""
    url = settings.cache_url
    if not url:
        from scheduler.mutex.files import FileMutexBackend

        # The namespace names files here: whatever SCHEDULER_PREFIX holds, made fit.
        return FileMutexBackend(settings.storage / "mutex", name_part(namespace(settings)),
                                base=settings.storage, trust=_trust(settings))
    # Not urlsplit: it raises on a stray `[`, and a bad URL must not stop the tick.
    scheme = url.partition("://")[0] if "://" in url else ""
    from scheduler.mutex.base import DEFAULT_LEASE, redact

    if scheme in ("redis", "rediss", "unix", "postgresql", "postgres"):
        lease = settings.get("SCHEDULER_LEASE_SECONDS", "")
        try:
            seconds = float(lease) if lease else DEFAULT_LEASE.total_seconds()
        except ValueError:
            seconds = 0
        if seconds <= 0:
            raise MutexUnavailable(f"SCHEDULER_LEASE_SECONDS {lease!r} is not a positive "
                                   f"number of seconds")
        if scheme.startswith("postgres"):
            from scheduler.mutex.postgres import PostgresMutexBackend

            return PostgresMutexBackend(url, namespace(settings), timedelta(seconds=seconds))
        from scheduler.mutex.redis import RedisMutexBackend

        return RedisMutexBackend(url, namespace(settings), timedelta(seconds=seconds))
    raise MutexUnavailable(f"SCHEDULER_CACHE_URL {redact(url)!r}: unsupported scheme "
                           f"{scheme!r} (use redis://host:port/db or "
                           f"postgresql://user@host/db, or leave it unset for files)")
