"""A user who can write to the storage folder plants links, FIFOs and names there; a
root tick must change nothing outside storage, never hang, and say what it refused."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

from scheduler import Schedule
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran
from tests.security.planting import as_user, checksums, needs_root

pytestmark = needs_root

AT = "2026-03-08T07:00:00Z"


def tick(project: Project, storage: Path, *extra: str, at: str = AT,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A root tick over `storage`, bounded: a hang fails the test instead of blocking it."""
    return project.artisan("schedule:run", "--at", at, *extra, timeout=60,
                           env={"SCHEDULER_STORAGE": str(storage), **(env or {})})


def record_to(folder: Path) -> str:
    """A kernel whose `record(word)` appends to `folder`/ran.txt (outside storage, so a
    refused storage does not stop the test from seeing what ran)."""
    return RECORDING_KERNEL.replace("folder = current().storage", f"folder = Path({str(folder)!r})")


def test_a_storage_folder_others_can_write_to_is_refused_naming_it_and_the_fix(
        project: Project, area: Path, user: pwd.struct_passwd) -> None:
    project.kernel(record_to(area) + """
def schedule_tasks():
    schedule().job(record, "ran")
""")
    storage = area / "storage"
    storage.mkdir(mode=0o777)
    storage.chmod(0o777)
    result = tick(project, storage)
    assert result.returncode == 2
    assert (f"Refusing to use {storage}: every user can write to it (owner root, group "
            f"root, mode 0777). Make it the scheduler's alone (chown root {storage} && "
            f"chmod go-w {storage}).") in result.stdout
    # A shared group would not make it safe, so it is not offered as a fix.
    assert "SCHEDULER_STORAGE_SHARED_GROUP" not in result.stdout
    assert not (area / "ran.txt").exists()

    # Owned by another user, even with mode 0700: refused too, naming the owner.
    storage.chmod(0o700)
    os.chown(storage, user.pw_uid, user.pw_gid)
    result = tick(project, storage)
    assert result.returncode == 2
    assert f"Refusing to use {storage}: its owner {user.pw_name} can write to it" \
        in result.stdout
    assert "or set SCHEDULER_STORAGE_SHARED_GROUP=" in result.stdout
    assert not (area / "ran.txt").exists()


def test_a_folder_inside_storage_others_can_write_to_stops_only_the_tasks_using_it(
        project: Project, area: Path) -> None:
    project.kernel(record_to(area) + """
def schedule_tasks():
    schedule().job(record, "locked").without_overlapping()
    schedule().job(record, "plain")
""")
    storage = area / "storage"
    (storage / "mutex").mkdir(parents=True, mode=0o700)
    (storage / "mutex").chmod(0o757)
    result = tick(project, storage)
    assert result.returncode == 1
    assert (f"Skipping console.kernel.record('locked'): Refusing to use {storage}/mutex: "
            f"every user can write to it") in result.stdout
    assert (area / "ran.txt").read_text().split() == ["plain"]


def test_links_fifos_and_names_planted_in_a_shared_storage_change_nothing_outside(
        project: Project, area: Path, decoy: Path, user: pwd.struct_passwd) -> None:
    """The operator shares storage with the web user's group on purpose; that user
    plants every trap it can. The root tick runs its tasks and touches no decoy."""
    group = subprocess.run(["id", "-gn", user.pw_name], capture_output=True, text=True,
                           check=True).stdout.strip()
    storage = area / "storage"
    storage.mkdir()
    os.chown(storage, user.pw_uid, user.pw_gid)
    storage.chmod(0o770)
    kernel = record_to(area) + """
def schedule_tasks():
    schedule().job(record, "plain")
    schedule().exec("echo locked >> RAN").without_overlapping()
    schedule().exec("echo fifo >> RAN").without_overlapping().name("fifo")
    schedule().exec("echo solo >> RAN").on_one_server()
    schedule().exec("echo to-the-link").send_output_to("STORAGE/out.log")
""".replace("RAN", str(area / "ran.txt")).replace("STORAGE", str(storage))
    project.kernel(kernel)
    schedule = Schedule()
    locked = schedule.exec(f"echo locked >> {area / 'ran.txt'}").without_overlapping()
    fifo = schedule.exec(f"echo fifo >> {area / 'ran.txt'}").without_overlapping()
    token = "0123456789abcdef0123456789abcdef"
    last_pid = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    guesses = " ".join(str(pid) for pid in range(last_pid, last_pid + 400))
    as_user(user, f"""
cd {storage}
mkdir -p framework/ticks mutex/claims logs
# Old minutes whose clean-up would delete every file in the decoy tree.
ln -s {decoy} framework/ticks/20200101T0000
ln -s {decoy} mutex/claims/20200101T0000
# The run history's database and an output file, as links to a decoy file.
ln -s {decoy}/file.txt scheduler.sqlite3
ln -s {decoy}/file.txt out.log
# A state file whose token climbs out of the mutex folder to the decoy's *.lock.
mkdir production-{locked.mutex_key}.x mutex/production-{locked.mutex_key}.x
printf '{{"token": "x/../../../decoy/victim", "pid": 1, "host": "h",
  "started": "2026-03-08T06:59:00+00:00"}}' > mutex/production-{locked.mutex_key}.json
# A FIFO in place of a holder's lock file: opening it for reading would block.
printf '{{"token": "{token}", "pid": 1, "host": "h",
  "started": "2026-03-08T06:59:00+00:00"}}' > mutex/production-{fifo.mutex_key}.json
mkfifo mutex/production-{fifo.mutex_key}.{token}.lock
# Temporary names a writer might use, as links to the decoy file.
for pid in {guesses}; do
  ln -s {decoy}/data.json mutex/production-{locked.mutex_key}.json.$pid.tmp
  ln -s {decoy}/data.json mutex/flag-production-interrupt.json.$pid.tmp
done
""")
    before = checksums(decoy)
    result = tick(project, storage, env={"SCHEDULER_STORAGE_SHARED_GROUP": group})
    assert result.returncode == 1, result.stdout + result.stderr  # the output was refused
    assert checksums(decoy) == before
    assert sorted((area / "ran.txt").read_text().split()) == [
        "fifo", "locked", "plain", "solo"]
    assert (f"could not write the output: {storage}/out.log is a symbolic link in {storage}, "
            f"which its owner {user.pw_name} can write to; refusing to follow it") \
        in result.stdout
    # The history's database is not opened through the link, and the tick says, once,
    # that it could not record the runs.
    assert (storage / "scheduler.sqlite3").is_symlink()
    [warning] = [line for line in result.stderr.splitlines() if "run history" in line]
    assert f"{storage}/scheduler.sqlite3" in warning
    # The old minutes' links are gone, their targets untouched.
    assert not os.path.lexists(storage / "framework" / "ticks" / "20200101T0000")
    assert not os.path.lexists(storage / "mutex" / "claims" / "20200101T0000")
    assert checksums(decoy) == before
    # What the tick made itself is private, whatever the shared group may do.
    made = storage / "framework" / "ticks" / "20260308T0700"
    assert (made.stat().st_mode & 0o777, made.stat().st_uid) == (0o700, 0)
    for name in os.listdir(made):
        assert (made / name).stat().st_mode & 0o777 == 0o600, name


def test_the_maintenance_mark_as_a_link_is_not_taken_for_one(
        project: Project, area: Path, decoy: Path, user: pwd.struct_passwd) -> None:
    project.kernel(record_to(area) + """
def schedule_tasks():
    schedule().job(record, "ran")
""")
    storage = area / "storage"
    (storage / "framework").mkdir(parents=True)
    os.chown(storage, user.pw_uid, user.pw_gid)
    os.chown(storage / "framework", user.pw_uid, user.pw_gid)
    group = subprocess.run(["id", "-gn", user.pw_name], capture_output=True, text=True,
                           check=True).stdout.strip()
    as_user(user, f"ln -s {decoy}/file.txt {storage}/framework/down")
    result = tick(project, storage, env={"SCHEDULER_STORAGE_SHARED_GROUP": group})
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran_words(area) == ["ran"]


def ran_words(folder: Path) -> list[str]:
    path = folder / "ran.txt"
    return path.read_text().split() if path.exists() else []


@pytest.mark.parametrize("sticky", [True, False])
def test_an_output_link_planted_in_a_folder_others_can_write_to_is_refused(
        project: Project, area: Path, decoy: Path, user: pwd.struct_passwd,
        sticky: bool) -> None:
    public = area / "public"
    public.mkdir()
    public.chmod(0o1777 if sticky else 0o777)
    as_user(user, f"ln -s {decoy}/file.txt {public}/report.log")
    private = area / "private"
    private.mkdir(mode=0o755)
    (private / "report.log").symlink_to(area / "target.log")  # the operator's own link
    project.kernel(RECORDING_KERNEL + f"""
def schedule_tasks():
    schedule().exec("echo planted").send_output_to({str(public / 'report.log')!r})
    schedule().exec("echo followed").send_output_to({str(private / 'report.log')!r})
""")
    before = checksums(decoy)
    result = project.artisan("schedule:run", "--at", AT, timeout=60)
    assert result.returncode == 1
    assert checksums(decoy) == before
    assert (f"could not write the output: {public}/report.log is a symbolic link in "
            f"{public}, which every user can write to; refusing to follow it") in result.stdout
    assert (area / "target.log").read_text() == "followed\n"
    assert ran(project) == []
