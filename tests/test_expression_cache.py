"""Compiled cron expressions cached in storage: a warm tick imports no croniter, and a
cache that is damaged, foreign or stale is never trusted."""

from __future__ import annotations

import marshal
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler import cron, expression_cache
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran

EXPRESSIONS = ["* * * * *", "*/5 * * * *", "0 2-2 * * *", "30 9 * * 1#2,1", "0 0 L * *",
               "15 3 1,15 * 1-5", "0 0 * JAN-JAN *", "0 9 * * 2#2,4#1"]


def test_stored_expressions_read_back_equal_to_what_croniter_compiled(tmp_path: Path):
    storage = tmp_path / "storage"
    compiled = {text: cron._compile_with_croniter(text) for text in EXPRESSIONS}
    cron.compiled_here.clear()
    cron.compiled_here.update(compiled)
    identity = expression_cache.croniter_identity()
    assert identity is not None
    expression_cache._save(storage, identity)
    assert expression_cache._load(storage, identity) == compiled
    assert expression_cache._load(storage, identity + "-upgraded") == {}


KERNEL = RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "quarter").cron("*/15 * * * *")
    schedule().job(record, "two").cron("0 2-2 * * *")
    schedule().job(record, "never-at-seven").cron("0 8 * * *")
"""


def cache_file(project: Project) -> Path:
    return expression_cache.cache_folder(project.storage) / expression_cache.FILE_NAME


def imports_croniter(project: Project, at: str) -> bool:
    result = project.artisan("schedule:run", "--dry-run", "--at", at,
                             env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    return "croniter" in result.stderr


def test_a_tick_with_a_warm_cache_does_not_import_croniter(project: Project) -> None:
    project.kernel(KERNEL)
    assert imports_croniter(project, "2026-03-08T07:00:00Z")  # cold: croniter compiles
    path = cache_file(project)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not imports_croniter(project, "2026-03-08T07:15:00Z")
    # A new expression is compiled by croniter and added; the old ones are kept.
    project.kernel(KERNEL + '    schedule().job(record, "new").cron("5 4 * * *")\n')
    assert imports_croniter(project, "2026-03-08T07:15:00Z")
    stored = marshal.loads(path.read_bytes())[2]
    assert {"*/15 * * * *", "0 2-2 * * *", "0 8 * * *", "5 4 * * *"} <= set(stored)


HOURS = 1  # where a CronExpression's hours are among its stored fields (after its text)


def plant(project: Project, how: str) -> None:
    """Damage the warm cache: the expression for 08:00 is rewritten to mean 07:00."""
    path = cache_file(project)
    stored_format, identity, expressions = marshal.loads(path.read_bytes())
    fields = list(expressions["0 8 * * *"])
    fields[HOURS] = frozenset({7})
    if how == "garbage":
        path.write_bytes(b"\x00{not marshal")
        return
    if how == "out of range":
        fields[HOURS] = frozenset({7, 99})
    if how == "not a set":
        fields[HOURS] = [7]
    if how == "other croniter":
        identity = "something else"
    expressions["0 8 * * *"] = tuple(fields)
    path.write_bytes(marshal.dumps((stored_format, identity, expressions)))
    if how == "other owner":
        os.chown(path, 65534, 65534)
    if how == "group-writable":
        path.chmod(0o620)
    if how == "a symlink":
        target = project.root / "elsewhere.marshal"
        path.rename(target)
        path.symlink_to(target)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
@pytest.mark.parametrize("how", ["garbage", "out of range", "not a set", "other croniter",
                                 "other owner", "group-writable", "a symlink"])
def test_a_cache_that_cannot_be_trusted_is_ignored(project: Project, how: str) -> None:
    project.kernel(KERNEL)
    project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T06:00:00Z")
    plant(project, how)
    tick = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert ran(project) == ["quarter"]  # not "never-at-seven": croniter compiled it


def test_the_trusted_cache_is_what_the_tick_uses(project: Project) -> None:
    # The check above is only meaningful if a planted entry that passes every check is
    # believed: then the rewritten hour decides.
    project.kernel(KERNEL)
    project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T06:00:00Z")
    plant(project, "trusted")
    tick = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert ran(project) == ["quarter", "never-at-seven"]


def test_every_minute_needs_no_croniter() -> None:
    assert cron._compile_with_croniter("* * * * *") == cron.EVERY_MINUTE


def test_croniter_identity_is_found_without_importing_it(tmp_path: Path) -> None:
    code = ("import sys; from scheduler.expression_cache import croniter_identity; "
            "print(croniter_identity() is not None, 'croniter' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent, check=True).stdout.split()
    assert out == ["True", "False"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a folder's group needs root")
def test_a_storage_shared_with_a_group_on_purpose_keeps_its_cache(project: Project) -> None:
    project.kernel(KERNEL)
    project.storage.mkdir(parents=True, exist_ok=True)
    os.chown(project.storage, 0, 1)  # group "daemon", given write access on purpose
    project.storage.chmod(0o770)
    shared = {"PYTHONPROFILEIMPORTTIME": "1", "SCHEDULER_STORAGE_SHARED_GROUP": "daemon"}
    first = project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T07:00:00Z",
                            env=shared)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "croniter" in first.stderr
    second = project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T07:15:00Z",
                             env=shared)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "croniter" not in second.stderr


# A list that says it holds 2**31 - 1 items: marshal asks for 16 GB before it finds the
# file ends. Where the memory is limited (a small server without overcommit, a ulimit)
# that is a MemoryError, which must not stop the tick any more than other damage does.
HUGE_LIST = b"[" + (2**31 - 1).to_bytes(4, "little")


def _limited_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_cache_that_asks_for_more_memory_than_there_is_is_ignored(
        project: Project) -> None:
    project.kernel(KERNEL)
    project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T06:00:00Z")
    path = cache_file(project)
    path.write_bytes(HUGE_LIST)
    tick = subprocess.run(
        [sys.executable, str(project.root / "artisan"), "schedule:run",
         "--at", "2026-03-08T07:00:00Z"],
        capture_output=True, text=True, timeout=60, cwd=project.root, env=project.env,
        stdin=subprocess.DEVNULL, preexec_fn=_limited_memory)
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert ran(project) == ["quarter"]


# `def f(a): return [x for x in a]`'s code object as Python 3.6 marshals it: Python 3.11
# to 3.13's marshal raises SystemError reading it (their code objects have other fields).
# Another Python's file, or damage that happens to read as a code object, must be
# ignored like any other damage.
PYTHON_36_CODE = bytes.fromhex(
    "e30100000000000000010000000200000043000000730e0000006401640284007c0044008301530029"
    "034e630100000000000000020000000300000053000000731000000067007c005d087d017c01910271"
    "045300a90072010000002902da022e30da017872010000007201000000da083c737472696e673efa0a"
    "3c6c697374636f6d703e04000000730200000006007a15662e3c6c6f63616c733e2e3c6c697374636f"
    "6d703e72010000002901da0161720100000072010000007204000000da01660300000073020000000001")


def test_a_cache_that_marshal_cannot_make_sense_of_is_ignored(project: Project) -> None:
    project.kernel(KERNEL)
    project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T06:00:00Z")
    cache_file(project).write_bytes(PYTHON_36_CODE)
    tick = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert ran(project) == ["quarter"]


def test_the_cache_is_keyed_by_the_scheduler_s_own_compiler_too() -> None:
    # An upgrade that changes how croniter's answers become field sets rebuilds it.
    info = os.stat(cron.__file__)
    identity = expression_cache.croniter_identity()
    assert identity is not None
    assert identity.endswith(f"|{info.st_size}:{info.st_mtime_ns}")
