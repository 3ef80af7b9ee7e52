"""Bad configuration stops only what needs it: a malformed SCHEDULER_CACHE_URL skips the
tasks that need the mutex store, with one clear line each and no password, and the others
run; a kernel that exits (even with 0) is a broken kernel."""

from __future__ import annotations

import pytest

from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran

KERNEL = RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "plain").name("plain")
    schedule().job(record, "locked").name("locked").without_overlapping()
    schedule().job(record, "shared").name("shared").on_one_server()
    schedule().job(record, "last").name("last")
"""


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:99999/0", "redis://127.0.0.1:99999/0"),
    ("redis://[127.0.0.1:6379/0", "redis://[127.0.0.1:6379/0"),
    ("redis://:hunter2@[cache/0", "redis://:***@[cache/0"),
    ("redis://:hunter2@cache:port/0", "redis://:***@cache:port/0"),
])
def test_a_malformed_cache_url_skips_only_the_tasks_that_need_the_store(
        project: Project, url: str, shown: str) -> None:
    project.kernel(KERNEL)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={"SCHEDULER_CACHE_URL": url})
    assert result.returncode == 1
    assert ran(project) == ["plain", "last"]
    assert "Traceback" not in result.stdout + result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    for name in ("locked", "shared"):
        assert f"Skipping {name}: SCHEDULER_CACHE_URL {shown!r}" in result.stdout, result.stdout


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "sys.exit()", "sys.exit(3)"])
def test_a_kernel_that_exits_is_a_broken_kernel(project: Project, exit_call: str) -> None:
    project.kernel(RECORDING_KERNEL + f"""
def schedule_tasks():
    schedule().job(record, "never")
    {exit_call}
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 2
    assert "schedule_tasks() in 'console.kernel' called sys.exit(" in result.stderr
    assert "so no task was run" in result.stderr
    assert ran(project) == []


def test_a_kernel_module_that_exits_on_import_is_a_broken_kernel(project: Project) -> None:
    project.kernel("import sys\nsys.exit(0)\n")
    result = project.artisan("schedule:run")
    assert result.returncode == 2
    assert ("importing the kernel module 'console.kernel' called sys.exit(0), so no task "
            "was run") in result.stderr
