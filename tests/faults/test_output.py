"""A task's output: streamed to its file with flat memory, its END kept for the failure
report, the hooks and the e-mail (which says when it was cut), spooled under storage
rather than $TMPDIR, and kept for background runs too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scheduler.output import TAIL_BYTES
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, history, wait_for
from tests.servers import MailServer

MEGABYTE = 1 << 20

FAILING_KERNEL = RECORDING_KERNEL + """
def noisy():
    for number in range(22_000):  # 2.2 MB of numbered lines, then the error
        print(f"line {number:05d} " + "." * 88)
    print("FATAL: the disk is on fire")
    sys.exit(1)

def keep_output(output):
    (current().storage / "hook.txt").write_text(output)

def schedule_tasks():
    event = schedule().job(noisy).name("noisy").on_failure(keep_output)
    if os.environ.get("BACKGROUND"):
        event.run_in_background()
    else:
        event.email_output_on_failure("ops@example.test")
"""


def test_a_gigabyte_class_output_streams_to_its_file_with_flat_memory(
        project: Project) -> None:
    project.kernel(RECORDING_KERNEL + """
def flood():
    block = (b"x" * 1023 + b"\\n") * 1024
    for _ in range(300):
        sys.stdout.buffer.write(block)

def schedule_tasks():
    schedule().job(flood).name("flood").send_output_to("storage/flood.log")
""")
    # A parent of its own, so that the peak memory it reads is the tick's (and its
    # children's), not some other process's of this test session.
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    result = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, str(project.root / "artisan"),
         "schedule:run", "--at", "2026-03-08T07:00:00Z"],
        capture_output=True, text=True, env=project.env, cwd=project.root, timeout=300)
    code, peak_kib = map(int, result.stdout.split())
    assert code == 0, result.stderr
    assert (project.storage / "flood.log").stat().st_size == 300 * MEGABYTE
    assert peak_kib * 1024 < 100 * MEGABYTE  # 300 MB went through; memory stayed flat


def test_a_failing_task_reports_the_end_of_its_output(project: Project,
                                                      smtp: MailServer) -> None:
    project.kernel(FAILING_KERNEL)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env={
        "MAIL_HOST": "127.0.0.1", "MAIL_PORT": str(smtp.port)})
    assert result.returncode == 1
    report = result.stdout.splitlines()
    assert report[-1] == "    | FATAL: the disk is on fire"
    assert report[-2].startswith("    | line 21999 ")
    hook_output = (project.storage / "hook.txt").read_text()
    assert hook_output.endswith("FATAL: the disk is on fire\n")
    assert hook_output.startswith("line ")  # it starts at a whole line
    assert len(hook_output.encode()) <= TAIL_BYTES
    wait_for(lambda: len(smtp.inbox.received) == 1, timeout=10)
    body = smtp.inbox.received[0].message.get_content()
    assert body.startswith("[The first ")
    assert "bytes of the output were left out; the last " in body.splitlines()[0]
    assert body.rstrip().endswith("FATAL: the disk is on fire")


def test_a_background_run_keeps_its_output_like_a_foreground_run(project: Project) -> None:
    project.kernel(FAILING_KERNEL)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={"BACKGROUND": "1"})
    assert "noisy in the background" in result.stdout
    wait_for(lambda: len(history(project)) == 1)
    [record] = history(project)
    assert record["status"] == "failure" and record["background"]
    stored = project.artisan("schedule:history", "--output", str(record["id"])).stdout
    assert stored.rstrip().endswith("FATAL: the disk is on fire")
    wait_for((project.storage / "hook.txt").exists)
    assert (project.storage / "hook.txt").read_text().endswith("FATAL: the disk is on fire\n")


def test_output_is_spooled_under_storage_not_tmpdir(project: Project, tmp_path: Path) -> None:
    project.kernel(RECORDING_KERNEL + """
def where():
    print(os.readlink("/proc/self/fd/1"))

def schedule_tasks():
    schedule().job(where).name("where").send_output_to("storage/where.log")
""")
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stdout
    spool = (project.storage / "where.log").read_text().strip()
    assert spool.startswith(f"{project.storage / 'framework' / 'output'}/")
    assert spool.endswith("(deleted)")  # nameless: nothing is left behind
    assert list(scratch.iterdir()) == []
    assert oct((project.storage / "framework" / "output").stat().st_mode & 0o777) == "0o700"
