"""Storage on a full disk or read-only: tasks that need no storage still run, those
that need it are skipped with one clear line each, and no half-written file is ever
taken for a claim. A real 64 KiB tmpfs is mounted for each test and unmounted after."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
AT = "2026-03-08T07:00:00Z"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not IN_CI,
                                reason="mounting a tmpfs needs root (CI runs as root)")


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted (and its mount point removed) after the test."""
    point = Path(tempfile.mkdtemp(prefix="scheduler-tmpfs-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                              str(point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        point.rmdir()
        message = f"cannot mount a tmpfs: {mounted.stderr.strip()}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)
        point.rmdir()


def fill(disk: Path) -> None:
    """Write until the disk is full."""
    descriptor = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(descriptor, b"x" * 512)
    except OSError:
        pass
    finally:
        os.close(descriptor)


KERNEL = RECORDING_KERNEL.replace("folder = current().storage", "folder = Path('OUT')") + """
def schedule_tasks():
    schedule().job(record, "plain")
    schedule().job(record, "locked").without_overlapping()
    schedule().exec("echo shell >> OUT/ran.txt")
    schedule().job(record, "solo").on_one_server()
"""


def tick(project: Project, storage: Path) -> subprocess.CompletedProcess[str]:
    return project.artisan("schedule:run", "--at", AT, timeout=60,
                           env={"SCHEDULER_STORAGE": str(storage)})


def words(folder: Path) -> list[str]:
    path = folder / "ran.txt"
    return path.read_text().split() if path.exists() else []


def empty_claims(storage: Path) -> list[Path]:
    """Claims and "started" records that are empty (lock files are empty by design)."""
    return [path for folder in (storage / "framework", storage / "mutex")
            for path in folder.rglob("*") if path.is_file() and path.stat().st_size == 0
            and not path.name.endswith((".lock", ".guard"))]


@pytest.fixture
def out(project: Project, tmp_path: Path) -> Path:
    """The folder the tasks record to (outside storage), with the kernel written."""
    folder = tmp_path / "out"
    folder.mkdir()
    project.kernel(KERNEL.replace("OUT", str(folder)))
    return folder


@pytest.fixture
def storage(small_disk: Path) -> Path:
    folder = small_disk / "storage"
    folder.mkdir(mode=0o700)
    return folder


def test_on_a_full_disk_tasks_without_storage_run_and_the_others_say_why(
        project: Project, small_disk: Path, storage: Path, out: Path) -> None:
    fill(small_disk)
    result = tick(project, storage)
    assert sorted(words(out)) == ["plain", "shell"]
    lines = result.stdout.splitlines()
    for name in ("record('locked')", "record('solo')"):
        skipped = [line for line in lines if line.startswith(f"Skipping console.kernel.{name}")]
        assert len(skipped) == 1, result.stdout
        assert "No space left on device" in skipped[0] and str(storage) in skipped[0]
    assert sum("cannot record which tasks started" in line for line in lines) == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    assert empty_claims(storage) == []  # nothing half-written to be read as a claim

    # Space again: a retry of the minute runs what was skipped. (The tasks that ran
    # without their "started" record run again too: nothing could say they had run.)
    (small_disk / "filler").unlink()
    retry = tick(project, storage)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert sorted(words(out)) == ["locked", "plain", "plain", "shell", "shell", "solo"]
    third = tick(project, storage)
    assert "A tick already ran for 2026-03-08 07:00:00" in third.stdout


def test_on_read_only_storage_tasks_without_storage_run_and_the_others_say_why(
        project: Project, small_disk: Path, storage: Path, out: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = tick(project, storage)
    assert sorted(words(out)) == ["plain", "shell"]
    skipped = [line for line in result.stdout.splitlines() if line.startswith("Skipping")]
    assert len(skipped) == 2, result.stdout
    assert all("Read-only file system" in line for line in skipped)
    # The run history cannot be written either: one warning says so.
    history_warnings = [line for line in result.stderr.splitlines() if "run history" in line]
    assert len(history_warnings) == 1 and "Read-only file system" in history_warnings[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1


def test_an_empty_started_record_is_no_record(project: Project, out: Path) -> None:
    """A record cut short (an empty file, as a full disk left before) is not a claim."""
    storage = project.storage
    first = tick(project, storage)
    assert first.returncode == 0, first.stdout + first.stderr
    minute = storage / "framework" / "ticks" / "20260308T0700"
    started = sorted(minute.glob("*.started"))
    assert len(started) == 4
    for record in started:
        record.write_bytes(b"")  # as if each write had been cut short
    retry = tick(project, storage)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    # Each ran again, but for the one-server task, which its own claim still guards.
    assert sorted(words(out)) == ["locked", "locked", "plain", "plain", "shell", "shell", "solo"]
    assert "Skipping console.kernel.record('solo'): already ran on another server" \
        in retry.stdout
