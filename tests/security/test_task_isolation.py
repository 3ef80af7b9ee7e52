"""What a task can see of the root tick: a task run as another user gets a clean
environment and none of the tick's descriptors; no task gets its Redis sockets or
lock descriptors; no secret reaches any output or log."""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from scheduler.process import RunAs
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, history_dump
from tests.security.planting import needs_root

pytestmark = needs_root

REDIS_PASSWORD = "S3cr#t/pw?x"  # unencoded #, / and ? in the URL's own form
MAIL_PASSWORD = "mail-Geheimnis"
API_TOKEN = "token-Geheimnis"

SPY = RECORDING_KERNEL + """
import json, socket

def spy():
    from scheduler.settings import current
    descriptors = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            descriptors[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    answers = []
    for name, target in descriptors.items():
        if target.startswith("socket:"):  # try a Redis command on it
            try:
                os.write(int(name), b"*2\\r\\n$3\\r\\nGET\\r\\n$4\\r\\nloot\\r\\n")
                answers.append(os.read(int(name), 100).decode())
            except OSError as error:
                answers.append(str(error))
    print(json.dumps({"env": dict(os.environ), "fds": descriptors, "answers": answers,
                      "mail_password": current().get("MAIL_PASSWORD"),
                      "cache_url": current().get("SCHEDULER_CACHE_URL")}))
"""


@pytest.fixture
def redis_with_password(redis_server: str) -> Iterator[str]:
    """The tests' Redis with a user whose password holds #, / and ?, and a key to steal."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.acl_setuser("scheduler", enabled=True, passwords=[f"+{REDIS_PASSWORD}"],
                       keys=["*"], commands=["+@all"])
    client.set("loot", "the-loot")
    host_port = redis_server.split("://", 1)[1]
    yield f"redis://scheduler:{quote(REDIS_PASSWORD, safe='')}@{host_port}"
    client.acl_deluser("scheduler")
    client.delete("loot")
    client.close()


def secrets_in(text: str) -> list[str]:
    return [secret for secret in (REDIS_PASSWORD, "S3cr", MAIL_PASSWORD, API_TOKEN, "the-loot")
            if secret in text]


def test_a_task_run_as_another_user_sees_a_clean_environment_and_no_descriptors(
        project: Project, user: pwd.struct_passwd, redis_with_password: str) -> None:
    storage = project.storage
    project.kernel(SPY + f"""
def schedule_tasks():
    schedule().job(spy).user({user.pw_name!r}, env=["REPORT_TITLE"]).without_overlapping() \\
        .send_output_to("storage/as-user-job.json")
    schedule().exec("env; ls -l /proc/self/fd").user({user.pw_name!r}).without_overlapping() \\
        .send_output_to("storage/as-user-exec.txt")
    schedule().job(spy).without_overlapping().send_output_to("storage/as-root-job.json")
""")
    env = {"SCHEDULER_CACHE_URL": redis_with_password, "MAIL_PASSWORD": MAIL_PASSWORD,
           "API_TOKEN": API_TOKEN, "REPORT_TITLE": "weekly", "LANG": "C.UTF-8"}
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env,
                             timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

    as_user = json.loads((storage / "as-user-job.json").read_text())
    expected = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8", "APP_ENV": "production", "REPORT_TITLE": "weekly",
        "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name,
        "SHELL": user.pw_shell, "SCHEDULER_ROOT": str(project.root)}
    expected.update({name: project.env[name] for name in ("TZ", "LC_ALL")
                     if name in project.env})
    assert as_user["env"] == expected
    # Standard input, output and error: nothing of the tick's.
    assert sorted(as_user["fds"]) == ["0", "1", "2"]
    assert as_user["answers"] == []
    assert as_user["mail_password"] == "" and as_user["cache_url"] == ""

    shell = (storage / "as-user-exec.txt").read_text()
    names = {line.split("=", 1)[0] for line in shell.splitlines() if "=" in line
             and not line.startswith(("l", "c", "t", "d", "-"))}
    assert names <= {"PATH", "LANG", "APP_ENV", "HOME", "USER", "LOGNAME", "SHELL", "TZ",
                     "SCHEDULER_ROOT", "PWD", "SHLVL", "_", "OLDPWD"}
    assert "socket:" not in shell and ".lock" not in shell

    # A task of the tick's own user keeps its environment, but not the tick's Redis
    # connection (already logged in) or its lock descriptor.
    as_root = json.loads((storage / "as-root-job.json").read_text())
    assert as_root["env"]["REPORT_TITLE"] == "weekly"
    assert not [target for target in as_root["fds"].values()
                if target.startswith("socket:") or target.endswith(".lock")]
    assert as_root["answers"] == []

    log = history_dump(storage)
    assert log  # the runs were recorded, so their records are checked too
    everything = result.stdout + result.stderr + log + shell
    assert secrets_in(everything) == []
    assert secrets_in(json.dumps(as_user)) == []


def test_the_clean_environment_keeps_only_what_says_who_where_and_which_application(
        user: pwd.struct_passwd) -> None:
    tick = {"PATH": "/root/bin:/usr/bin", "HOME": "/root", "LANG": "C.UTF-8",
            "APP_ENV": "staging", "SCHEDULER_ROOT": "/srv/app", "SCHEDULER_KERNEL": "app.tasks",
            "SCHEDULER_COMMANDS": "app.commands", "SCHEDULER_CACHE_URL": "redis://:x@h/0",
            "MAIL_PASSWORD": MAIL_PASSWORD, "API_TOKEN": API_TOKEN, "REPORT_TITLE": "weekly"}
    environment = RunAs.named(user.pw_name, ("REPORT_TITLE", "NOT_SET")).environment(tick)
    assert environment == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8", "APP_ENV": "staging", "SCHEDULER_ROOT": "/srv/app",
        "SCHEDULER_KERNEL": "app.tasks", "SCHEDULER_COMMANDS": "app.commands",
        "REPORT_TITLE": "weekly", "HOME": user.pw_dir, "USER": user.pw_name,
        "LOGNAME": user.pw_name, "SHELL": user.pw_shell}
