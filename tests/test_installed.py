"""The scheduler as an application installs it: a wheel in a fresh virtualenv, with no
source tree on the path, and an application package `myapp/` of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_environment
from tests.kernels import wait_for

APP_FILES = {
    "myapp/__init__.py": '"""An application that uses the installed scheduler."""\n',
    "myapp/tasks.py": '''
        """The application's scheduled work: each task leaves a file in storage/."""

        from __future__ import annotations

        import asyncio
        import os

        from scheduler.settings import current


        def mark(word: str) -> None:
            folder = current().storage
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{word}.done").write_text(str(os.getpid()))


        def nightly_report() -> None:
            mark("job")


        async def refresh_cache() -> None:
            await asyncio.sleep(0.01)  # a coroutine that was never awaited would not get here
            mark("async")
        ''',
    "myapp/schedule.py": '''
        """The application's kernel."""

        from __future__ import annotations

        from myapp.tasks import nightly_report, refresh_cache
        from scheduler import Event, schedule


        def schedule_tasks() -> None:
            schedule().job(nightly_report).daily_at("02:00")
            event: Event = schedule().job(refresh_cache).every_minute()
            event.without_overlapping()
            schedule().command("report:write", "--label", "nightly").daily_at("02:00")
        ''',
    "myapp/commands/__init__.py": '"""The application\'s artisan commands."""\n',
    "myapp/commands/report.py": '''
        """`artisan report:write`."""

        from __future__ import annotations

        import typer

        from myapp.tasks import mark
        from scheduler.cli import command


        @command("report:write")
        def write_report(label: str = typer.Option("plain", "--label")) -> None:
            """Write the report."""
            mark(f"command-{label}")
        ''',
    ".env": "SCHEDULER_COMMANDS=myapp.commands\nAPP_TIMEZONE=UTC\n",
}


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding the project's wheel and its dependencies, nothing else
    (built once per test session)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy, so the build leaves nothing in the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "scheduler", source / "scheduler",
                    ignore=shutil.ignore_patterns("__pycache__"))
    python = Path(sys.executable)
    build = subprocess.run(
        [str(python), "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    [wheel] = (work / "dist").glob("artisan_scheduler-*.whl")
    venv = work / "venv"
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    install = subprocess.run(
        [str(python), "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return venv


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    for name, text in APP_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def app_environment() -> dict[str, str]:
    env = clean_environment()
    env.pop("PYTHONPATH", None)
    return env


def done(app: Path) -> set[str]:
    return {path.stem for path in (app / "storage").glob("*.done")}


def test_the_wheel_ships_the_console_script_the_module_entry_and_type_information(
        fresh_venv: Path, app: Path) -> None:
    where = subprocess.run([str(fresh_venv / "bin" / "python"), "-c",
                            "import scheduler, sys; print(scheduler.__file__); print(sys.path)"],
                           cwd=app, env=app_environment(), capture_output=True, text=True,
                           check=True)
    location = Path(where.stdout.splitlines()[0])
    assert location.is_relative_to(fresh_venv), where.stdout
    assert str(REPO) not in where.stdout  # no source tree on the path
    assert (location.parent / "py.typed").exists()
    assert (fresh_venv / "bin" / "artisan").exists()
    # The status page's templates travel with the package (its [web] extra is not
    # installed here, so only the files are checked).
    templates = {path.name for path in (location.parent / "web" / "templates").glob("*.html")}
    assert {"base.html", "overview.html", "task.html", "run.html", "timeline.html"} <= templates


def test_python_m_scheduler_runs_the_apps_job_async_job_and_command(
        fresh_venv: Path, app: Path) -> None:
    result = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-m", "scheduler", "--app", "myapp.schedule",
         "schedule:run", "--at", "2026-03-09T02:00:00Z"],
        cwd=app, env=app_environment(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert done(app) == {"job", "async", "command-nightly"}
    runs = [line for line in result.stdout.splitlines() if " Running " in line]
    assert len(runs) == 3 and all(line.endswith("DONE") for line in runs)
    assert "can't open file" not in result.stdout


def test_the_artisan_console_script_finds_the_app_by_scheduler_kernel(
        fresh_venv: Path, app: Path) -> None:
    env = {**app_environment(), "SCHEDULER_KERNEL": "myapp.schedule"}
    artisan = str(fresh_venv / "bin" / "artisan")
    listing = subprocess.run([artisan, "list"], cwd=app, env=env, capture_output=True,
                             text=True, timeout=60)
    assert "report:write" in listing.stdout and "schedule:run" in listing.stdout
    result = subprocess.run([artisan, "schedule:run", "--at", "2026-03-10T02:00:00Z"],
                            cwd=app, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert done(app) == {"job", "async", "command-nightly"}
    # From another folder, SCHEDULER_ROOT names the project (its .env and storage/).
    shutil.rmtree(app / "storage")
    elsewhere = subprocess.run(
        [artisan, "schedule:run", "--at", "2026-03-11T02:00:00Z"], cwd="/",
        env={**env, "SCHEDULER_ROOT": str(app)}, capture_output=True, text=True, timeout=120)
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    assert done(app) == {"job", "async", "command-nightly"}


def test_schedule_work_of_the_installed_tool_runs_the_async_task(
        fresh_venv: Path, app: Path) -> None:
    worker = subprocess.Popen(
        [str(fresh_venv / "bin" / "artisan"), "--app", "myapp.schedule", "schedule:work",
         "--interval-seconds", "1"],
        cwd=app, env=app_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        wait_for(lambda: "async" in done(app), timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "Running myapp.tasks.refresh_cache" in output


def test_mypy_strict_passes_on_the_application(fresh_venv: Path, app: Path,
                                               tmp_path: Path) -> None:
    mypy = Path(sys.executable).parent / "mypy"
    result = subprocess.run(
        [str(mypy), "--strict", "--python-executable", str(fresh_venv / "bin" / "python"),
         "--cache-dir", str(tmp_path / "mypy-cache"), "myapp"],
        cwd=app, env=app_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 5 source files" in result.stdout


@pytest.fixture
def damaged_copy(tmp_path: Path) -> Iterator[Path]:
    """A copy of the package in a folder of its own, to damage as PyPI's `scheduler`
    would when installed over it."""
    folder = tmp_path / "site"
    shutil.copytree(REPO / "scheduler", folder / "scheduler",
                    ignore=shutil.ignore_patterns("__pycache__"))
    yield folder / "scheduler"


def run_damaged(site: Path) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages, so only the damaged copy can be imported as `scheduler`.
    return subprocess.run([sys.executable, "-S", "-m", "scheduler", "list"],
                          cwd=site.parent, env={**app_environment(), "PYTHONPATH": str(site)},
                          capture_output=True, text=True, timeout=60)


def test_a_foreign_init_is_named_at_import(damaged_copy: Path) -> None:
    (damaged_copy / "__init__.py").write_text('"""Another project\'s scheduler."""\n'
                                              "class Scheduler: ...\n")
    result = run_damaged(damaged_copy.parent)
    assert result.returncode != 0
    assert "ForeignPackage: The 'scheduler' package is not artisan-scheduler's" in result.stderr
    assert f"its __init__.py ({damaged_copy / '__init__.py'}) belongs to another project" \
        in result.stderr
    assert "pip uninstall -y scheduler artisan-scheduler" in result.stderr


def test_a_missing_init_is_named_at_import(damaged_copy: Path) -> None:
    os.remove(damaged_copy / "__init__.py")
    result = run_damaged(damaged_copy.parent)
    assert result.returncode != 0
    assert f"its __init__.py is missing from {damaged_copy}" in result.stderr
