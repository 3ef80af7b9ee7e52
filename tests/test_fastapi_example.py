"""The FastAPI example (examples/fastapi_app): real uvicorn beside real `schedule:work`."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, clean_environment
from tests.kernels import processes_in, processes_started_in, wait_for

EXAMPLE = REPO / "examples" / "fastapi_app"

Start = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A copy of the example, so its storage/ is the test's own."""
    root = tmp_path / "shop_app"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "storage"))
    return root


@pytest.fixture
def processes(shop: Path) -> Iterator[Start]:
    """Start `python argv...` in the example's folder, its output to a pipe or to the
    file `log`; whatever a failed test leaves is killed."""
    with processes_started_in(shop, clean_environment()) as start:
        def start_python(*argv: str, env: dict[str, str] | None = None,
                         log: Path | None = None) -> subprocess.Popen[str]:
            return start([sys.executable, *argv], env_overrides=env,
                         stdout=subprocess.PIPE if log is None else log.open("w"))

        yield start_python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def schedulers_in(folder: Path) -> list[int]:
    """The `schedule:work` processes working in `folder`."""
    found = []
    for pid in processes_in(folder):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"schedule:work" in argv:
            found.append(pid)
    return found


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_api_answers_while_schedule_work_runs_the_async_tasks_beside_it(
        shop: Path, processes: Start) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = processes("-m", "uvicorn", "shop.main:app", "--port", str(port))
    worker = processes("-m", "scheduler", "schedule:work", "--interval-seconds", "1")
    wait_for(lambda: answers(f"{base}/health"), timeout=30)
    # The scheduled async task stores rates; the API serves them as they appear, and
    # answers every request meanwhile.
    answered = 0

    def rates_served() -> bool:
        nonlocal answered
        response = httpx.get(f"{base}/rates", timeout=5)
        assert response.status_code == 200
        answered += 1
        return bool(response.json()["latest"])

    wait_for(rates_served, timeout=60)
    latest = httpx.get(f"{base}/rates", timeout=5).json()["latest"]
    assert latest["rates"] == {"EUR": 1.0, "USD": 1.08, "GBP": 0.86}
    assert latest["pid"] not in (web.pid, worker.pid)  # ran in a child of a tick
    assert answered >= 1
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "Running shop.tasks.refresh_exchange_rates" in output and "DONE" in output
    assert answers(f"{base}/health")  # the web app does not depend on the scheduler
    web.send_signal(signal.SIGTERM)
    web.communicate(timeout=30)


def test_artisan_knows_the_shops_command_and_runs_it(shop: Path, processes: Start) -> None:
    (shop / "storage" / "reports").mkdir(parents=True)
    (shop / "storage" / "reports" / "1-rates.json").write_text(
        '{"kind": "rates", "rates": {"EUR": 1.0}}')
    listing = processes("-m", "scheduler", "list")
    assert "reports:summary" in listing.communicate(timeout=60)[0]
    summary = processes("-m", "scheduler", "schedule:run", "--at", "2026-03-09T06:00:00Z")
    output, _ = summary.communicate(timeout=60)
    assert summary.returncode == 0, output
    assert "Running reports:summary" in output


def test_n_uvicorn_workers_start_one_managed_scheduler_and_stop_it(
        shop: Path, processes: Start, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "uvicorn.log"
    web = processes("-m", "uvicorn", "shop.main:app", "--port", str(port), "--workers", "3",
                    env={"SHOP_RUN_SCHEDULER": "1",
                         "SHOP_SCHEDULER_ARGS": "--interval-seconds 1"}, log=log)
    # uvicorn says this once per worker, after the worker's lifespan has started.
    wait_for(lambda: log.read_text().count("Application startup complete.") == 3, timeout=60)
    wait_for(lambda: bool(list((shop / "storage" / "reports").glob("*.json"))), timeout=60)
    assert len(schedulers_in(shop)) == 1
    assert answers(f"http://127.0.0.1:{port}/health")
    web.send_signal(signal.SIGTERM)
    assert web.wait(timeout=90) == 0
    wait_for(lambda: schedulers_in(shop) == [], timeout=30)
    assert "Running shop.tasks.refresh_exchange_rates" in log.read_text()


def test_the_status_page_is_mounted_behind_the_shops_admin_login(
        shop: Path, processes: Start) -> None:
    tick = processes("-m", "scheduler", "schedule:run", "--at", "2026-03-09T06:00:00Z")
    assert tick.wait(timeout=60) == 0
    port = free_port()
    base = f"http://127.0.0.1:{port}/scheduler"
    web = processes("-m", "uvicorn", "shop.main:app", "--port", str(port),
                    env={"SHOP_ADMIN_PASSWORD": "open-sesame"})
    wait_for(lambda: answers(f"http://127.0.0.1:{port}/health"), timeout=30)
    # The shop's own gate stands before every route of the page, its API included.
    for path in ("/", "/api/tasks", "/health"):
        assert httpx.get(base + path, timeout=10).status_code == 401
        assert httpx.get(base + path, auth=("admin", "wrong"), timeout=10).status_code == 401
    page = httpx.get(base + "/", auth=("admin", "open-sesame"), timeout=30)
    assert page.status_code == 200
    for name in ("shop.tasks.refresh_exchange_rates", "shop.tasks.prune_reports",
                 "reports:summary"):
        assert f'data-task="{name}"' in page.text
    runs = httpx.get(base + "/api/runs", params={"status": "success"},
                     auth=("admin", "open-sesame"), timeout=30).json()
    assert sorted(run["task"] for run in runs) == [  # the tick's runs
        "reports:summary", "shop.tasks.prune_reports", "shop.tasks.refresh_exchange_rates"]
    web.send_signal(signal.SIGTERM)
    web.communicate(timeout=30)
