"""`.env` files are read by python-dotenv's rules; the environment wins over them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scheduler.settings import Settings, read_env_file
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran

# Common lines and the value python-dotenv (and so the scheduler) gives them.
LINES = [
    ("PLAIN=value", "PLAIN", "value"),
    ("SPACED = value", "SPACED", "value"),
    ("APP_ENV=production # live", "APP_ENV", "production"),
    ("HASH=a#b", "HASH", "a#b"),
    ("QUOTED_COMMENT=\"two words\" # comment", "QUOTED_COMMENT", "two words"),
    ("SINGLE='single $NOT ${NOT}'", "SINGLE", "single $NOT "),  # ${} even here
    ("DOUBLE=\"double\"", "DOUBLE", "double"),
    ("ESCAPES=\"line\\nnext\\ttab \\\"q\\\"\"", "ESCAPES", "line\nnext\ttab \"q\""),
    ("RAW_ESCAPES='line\\nnext'", "RAW_ESCAPES", "line\\nnext"),
    ("export EXPORTED=yes", "EXPORTED", "yes"),
    ("export\tTABBED=yes", "TABBED", "yes"),
    ("EXPANDED=${PLAIN}-x", "EXPANDED", "value-x"),
    ("DEFAULTED=${MISSING:-fallback}", "DEFAULTED", "fallback"),
    ("EMPTY=", "EMPTY", ""),
    ("EMPTY_QUOTES=\"\"", "EMPTY_QUOTES", ""),
    ("URL=redis://h:6379/0?x=1#frag", "URL", "redis://h:6379/0?x=1#frag"),
    ("EQUALS=a=b=c", "EQUALS", "a=b=c"),
    ("MULTI=\"one\ntwo\"", "MULTI", "one\ntwo"),
    ("TRAILING=value   ", "TRAILING", "value"),
]


def test_each_common_line_reads_as_python_dotenv_reads_it(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# a comment line\n\n" + "\n".join(line for line, _, _ in LINES) + "\n")
    values = read_env_file(path)
    assert {name: values.get(name) for _, name, _ in LINES} == {
        name: value for _, name, value in LINES}


def test_the_environment_wins_and_a_missing_file_is_no_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("APP_ENV=staging # from the file\nAPP_TIMEZONE=UTC\n")
    assert Settings.load(tmp_path, {}).app_env == "staging"
    assert Settings.load(tmp_path, {"APP_ENV": "production"}).app_env == "production"
    assert read_env_file(tmp_path / "missing" / ".env") == {}


@pytest.mark.parametrize("line", ["APP_ENV=production # live", "APP_ENV='production' # live"])
def test_an_inline_comment_does_not_stop_production_tasks(project: Project, line: str) -> None:
    (project.root / ".env").write_text(line + "\n")
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "live").environments("production")
""")
    env = {key: value for key, value in project.env.items() if key != "APP_ENV"}
    project.env = env
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran(project) == ["live"]


@pytest.mark.skipif(os.geteuid() != 0, reason="running a task as another user needs root")
def test_tasks_see_the_app_env_the_tick_read_from_env_file(project: Project) -> None:
    (project.root / ".env").write_text("APP_ENV=staging # live\n")
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    folder = current().storage
    folder.mkdir(parents=True, exist_ok=True)
    schedule().exec(f'echo "[$APP_ENV]" > {folder}/shell.txt').environments("staging")
    schedule().exec('echo "[$APP_ENV]"').name("as nobody").user("nobody") \\
        .send_output_to(folder / "nobody.txt").environments("staging")
""")
    project.env = {key: value for key, value in project.env.items() if key != "APP_ENV"}
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project.storage / "shell.txt").read_text() == "[staging]\n"
    assert (project.storage / "nobody.txt").read_text() == "[staging]\n"
