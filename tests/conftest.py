"""Shared fixtures: a throw-away project with its own `artisan`, kernel and storage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scheduler import settings as settings_module
from tests.postgres_support import postgres_url  # noqa: F401 - a fixture
from tests.redis_support import redis_server, redis_url  # noqa: F401 - fixtures
from tests.servers import http_server, smtp, smtp_with_login  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Project:
    """A project folder: a copy of `artisan`, `console/kernel.py`, `console/commands/`."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def kernel(self, source: str) -> Path:
        """Write `console/kernel.py` (dedented)."""
        path = self.root / "console" / "kernel.py"
        path.write_text(textwrap.dedent(source))
        return path

    def artisan(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `python <root>/artisan args...` and capture what it prints."""
        return subprocess.run(
            [sys.executable, str(self.root / "artisan"), *args],
            capture_output=True, text=True, timeout=timeout, cwd=cwd or self.root,
            env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL)


def clean_environment() -> dict[str, str]:
    """The test process's environment without any scheduler setting leaking in."""
    prefixes = ("APP_", "SCHEDULER_", "MAIL_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(APP_ENV="production", APP_TIMEZONE="UTC", PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "app"
    (root / "console" / "commands").mkdir(parents=True)
    shutil.copy(REPO / "artisan", root / "artisan")
    (root / "console" / "__init__.py").write_text("")
    (root / "console" / "commands" / "__init__.py").write_text("")
    for example in ("cache_clear.py", "inspire.py"):
        shutil.copy(REPO / "console" / "commands" / example, root / "console" / "commands")
    return Project(root, clean_environment())


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process tests get settings of their own: UTC, production, a temporary storage."""
    for key in list(os.environ):
        if key.startswith(("APP_", "SCHEDULER_", "MAIL_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("APP_TIMEZONE", "UTC")
    previous = settings_module._current
    settings_module._current = settings_module.Settings.load(
        tmp_path, {"APP_TIMEZONE": "UTC", "SCHEDULER_STORAGE": str(tmp_path / "storage")})
    yield
    settings_module._current = previous
