"""The run history: what ran, when, where and how it ended, in a database.

Configured by four settings:

* `SCHEDULER_DATABASE_URL`: `sqlite:///relative/path` (to the project),
  `sqlite:////absolute/path`, or `postgresql://user:password@host/database` (the
  `[postgres]` extra); unset: `scheduler.sqlite3` in the storage folder;
* `SCHEDULER_HISTORY`: `off` records nothing (and the commands that read it say so);
* `SCHEDULER_HISTORY_OUTPUT_KB`: how much of the end of a run's output is kept (64);
* `SCHEDULER_HISTORY_DAYS`: how long runs and ticks are kept (30).

A tick records itself and subscribes a `HistoryRecorder` (scheduler.history.recorder) to
the task events through scheduler.history.tick; everything else reads through a `Store`
(scheduler.history.store), opened with `open_store`, whose `ensure_schema()` comes
first. This module imports nothing heavy: a tick pays for the database module only when
it records a run (a tick with none notes itself in SQLite's tick journal,
scheduler.history.journal).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from scheduler.settings import Settings
from scheduler.ticklog import write_stderr
from scheduler.typing_names import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from scheduler.history.store import Store

DEFAULT_FILE = "scheduler.sqlite3"
DEFAULT_OUTPUT_KB = 64
DEFAULT_DAYS = 30
OFF_WORDS = ("off", "false", "0", "no")
ON_WORDS = ("on", "true", "1", "yes", "")


class HistoryConfig(NamedTuple):
    """The history's settings, checked."""

    enabled: bool
    url: str  # as configured (may hold a password: never print it; see `display_url`)
    sqlite_path: Path | None  # the file, when the store is SQLite
    output_bytes: int
    days: float
    storage: Path

    @property
    def display_url(self) -> str:
        return display_url(self.url)


def history_config(settings: Settings) -> HistoryConfig:
    """The history settings of `settings`; ValueError naming the setting and its value
    when one is not valid (a password in the URL is not repeated)."""
    switch = settings.get("SCHEDULER_HISTORY").strip().lower()
    if switch not in OFF_WORDS + ON_WORDS:
        raise ValueError(f"SCHEDULER_HISTORY={switch!r}: expected on or off")
    output_kb = _number(settings, "SCHEDULER_HISTORY_OUTPUT_KB", DEFAULT_OUTPUT_KB, minimum=0)
    days = _number(settings, "SCHEDULER_HISTORY_DAYS", DEFAULT_DAYS, minimum=1)
    url = settings.get("SCHEDULER_DATABASE_URL").strip()
    sqlite_path = None
    if not url:
        sqlite_path = settings.storage / DEFAULT_FILE
        url = f"sqlite:///{sqlite_path}"
    else:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "sqlite":
            path_text = url[len("sqlite:///"):] if url.lower().startswith("sqlite:///") else ""
            if not path_text or path_text == ":memory:":
                raise ValueError(f"SCHEDULER_DATABASE_URL={display_url(url)!r}: expected "
                                 f"sqlite:///relative/path or sqlite:////absolute/path")
            path = Path(path_text)
            sqlite_path = path if path.is_absolute() else settings.root / path
        elif scheme not in ("postgresql", "postgres"):
            raise ValueError(f"SCHEDULER_DATABASE_URL={display_url(url)!r}: expected a "
                             f"sqlite:/// or postgresql:// URL")
    return HistoryConfig(enabled=switch not in OFF_WORDS, url=url, sqlite_path=sqlite_path,
                         output_bytes=int(output_kb * 1024), days=days,
                         storage=settings.storage)


def recording_config(settings: Settings) -> HistoryConfig | None:
    """The history's settings, when runs are to be recorded: None when the history is
    off, or when its settings are wrong (said in one warning line: the runs go on)."""
    try:
        config = history_config(settings)
    except ValueError as error:
        warn_on_stderr(f"runs are not being recorded in the run history: {error}")
        return None
    return config if config.enabled else None


def warn_on_stderr(message: str) -> None:
    """One warning line on stderr (dropped, never raised, when stderr is broken)."""
    write_stderr(f"Warning: {message}")


def open_store(config: HistoryConfig) -> Store:
    """The store `config` names (nothing is connected until it is first used)."""
    if config.sqlite_path is not None:
        from scheduler.history.sqlite import SqliteStore

        return SqliteStore(config.sqlite_path, config.storage)
    from scheduler.history.postgres import PostgresStore

    return PostgresStore(config.url, config.display_url)


def display_url(url: str) -> str:
    """`url` with its password replaced by `***`, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query,
                       parts.fragment))


def _number(settings: Settings, name: str, default: float, *, minimum: float) -> float:
    text = settings.get(name).strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= minimum or value == float("inf"):
        raise ValueError(f"{name}={text!r}: expected a number of at least {minimum:g}")
    return value
