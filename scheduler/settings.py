"""Configuration from the environment, with a project `.env` file as the fallback.

Every setting has one name, the same in the environment and in `.env`; a variable set
in the environment wins over the file, so a crontab line or a systemd unit can override
what the project ships.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path

from scheduler.typing_names import NamedTuple
from scheduler.zones import local_zone, zone_named

ROOT_VARIABLE = "SCHEDULER_ROOT"
KERNEL_VARIABLE = "SCHEDULER_KERNEL"


class Settings(NamedTuple):
    """Everything the scheduler reads from its environment, resolved once."""

    root: Path
    app_env: str
    timezone: tzinfo
    kernel: str
    commands_package: str
    storage: Path
    cache_url: str | None
    prefix: str
    host: str
    values: Mapping[str, str]

    def get(self, name: str, default: str = "") -> str:
        """A raw setting by name (for the settings a feature reads itself, e.g. MAIL_*)."""
        return self.values.get(name, default)

    @classmethod
    def load(cls, root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings for the project at `root` (default: `$SCHEDULER_ROOT`, else cwd)."""
        environ = os.environ if environ is None else environ
        root = Path(root or environ.get(ROOT_VARIABLE) or os.getcwd()).resolve()
        values = {**read_env_file(root / ".env"), **environ}
        zone_name = values.get("APP_TIMEZONE", "").strip()
        try:
            zone = zone_named(zone_name) if zone_name else local_zone()
        except ValueError as error:
            raise ValueError(f"APP_TIMEZONE: {error}") from None
        storage = Path(values.get("SCHEDULER_STORAGE") or root / "storage")
        if not storage.is_absolute():
            storage = root / storage
        return cls(
            root=root,
            app_env=values.get("APP_ENV") or "production",
            timezone=zone,
            kernel=values.get(KERNEL_VARIABLE) or "console.kernel",
            commands_package=values.get("SCHEDULER_COMMANDS") or "console.commands",
            storage=storage,
            cache_url=values.get("SCHEDULER_CACHE_URL") or None,
            prefix=values.get("SCHEDULER_PREFIX", ""),
            host=values.get("SCHEDULER_HOST") or os.uname().nodename,
            values=values,
        )


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a `.env` file, by python-dotenv's rules (the ones Python users
    know): `KEY=value`, `export KEY=value`, no escapes in single quotes, escapes
    (`\\n`, `\\"`) in double quotes, `# comments` after a space outside quotes,
    `${VAR}` and `${VAR:-default}` expanded (quoted or not) from earlier lines and the
    environment. A key without `=` and a file that cannot be read are ignored.
    """
    try:
        if not path.is_file():
            return {}  # most deployments have none: the import below is not paid for
    except OSError:  # a folder this user may not enter (a task run as another user)
        return {}
    # Imported here: it costs a few milliseconds (it brings `logging`), which ticks of
    # projects without a .env file need not pay.
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return {key: value for key, value in values.items() if value is not None}


_current: Settings | None = None


def current() -> Settings:
    """The settings of this process, loaded on first use."""
    global _current
    if _current is None:
        _current = Settings.load()
    return _current


def forget() -> None:
    """Drop the process's settings; the next `current()` reads them afresh."""
    global _current
    _current = None


def configure(settings: Settings) -> Settings:
    """Make `settings` the process's own, and tell child processes where the project is."""
    global _current
    _current = settings
    os.environ[ROOT_VARIABLE] = str(settings.root)
    return settings
