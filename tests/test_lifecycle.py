"""A task's lifecycle through the real tick: background runs, e-mail, pings, timeouts, and
the record each run leaves in the run history."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as HEADER
from tests.kernels import history as run_log
from tests.kernels import ran, wait_for
from tests.servers import MailServer


def test_background_tasks_outlive_the_tick_and_finish_their_lifecycle(project: Project) -> None:
    project.kernel(HEADER + """
def slow(word):
    time.sleep(3)
    print(f"{word} output")
    record(word)

def schedule_tasks():
    schedule().job(slow, "job").run_in_background().name("bg job").after(
        lambda output: record("after-job:" + output.split()[0])).send_output_to("storage/job.log")
    schedule().exec("sleep 3 && echo shell output && echo exec >> storage/ran.txt") \\
        .run_in_background().name("bg exec").send_output_to("storage/exec.log")
    schedule().command("inspire").run_in_background().send_output_to("storage/command.log")
    schedule().job(record, "foreground")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    # The tick has exited; the three-second tasks have not finished yet.
    assert ran(project) == ["foreground"]
    assert result.stdout.count("in the background") == 3
    assert "Running bg job in the background" in result.stdout
    # Each supervisor records its run once the output is written and the hooks ran.
    wait_for(lambda: len([r for r in run_log(project) if r["background"]]) == 3)
    assert sorted(ran(project)) == ["after-job:job", "exec", "foreground", "job"]
    assert (project.storage / "job.log").read_text() == "job output\n"
    assert (project.storage / "exec.log").read_text() == "shell output\n"
    assert (project.storage / "command.log").read_text().strip()
    statuses = {r["task"]: r["status"] for r in run_log(project)}
    assert statuses["bg job"] == "success" and statuses["bg exec"] == "success"


def test_a_crash_in_the_background_is_a_failure_with_its_hooks_run(project: Project) -> None:
    project.kernel(HEADER + """
def crash():
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGSEGV)

def schedule_tasks():
    schedule().job(crash).run_in_background().name("crasher") \\
        .on_failure(lambda exit_code: record(f"failed:{exit_code}")) \\
        .on_success(lambda: record("succeeded"))
""")
    assert project.artisan("schedule:run").returncode == 0
    wait_for(lambda: bool(ran(project)))
    assert ran(project) == ["failed:139"]
    wait_for(lambda: bool(run_log(project)))
    [entry] = run_log(project)
    assert (entry["task"], entry["status"], entry["signal"]) == ("crasher", "failure", 11)
    assert entry["background"] is True


def test_a_background_run_holds_its_overlap_lock_until_it_ends(project: Project) -> None:
    project.kernel(HEADER + """
def slow():
    record("start")
    time.sleep(float(os.environ.get("TASK_SECONDS", "3")))
    record("end")

def schedule_tasks():
    schedule().job(slow).name("slow").run_in_background().without_overlapping()
""")
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    wait_for(lambda: ran(project) == ["start"])
    second = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert "Skipping slow: the previous run is still running" in second.stdout
    wait_for(lambda: ran(project) == ["start", "end"])
    wait_for(lambda: len(run_log(project)) == 1)  # the supervisor released it, then recorded
    third = project.artisan("schedule:run", "--at", "2026-03-08T07:02:00Z",
                            env={"TASK_SECONDS": "0"})
    assert "Running slow in the background" in third.stdout


def test_output_is_e_mailed_as_asked(project: Project, smtp: MailServer) -> None:
    project.kernel(HEADER + """
def talk():
    print("nightly report: café ✓")

def quiet():
    pass

def fail():
    print("it broke")
    sys.exit(3)

def schedule_tasks():
    schedule().job(talk).name("report").email_output_to(["ops@example.test", "me@example.test"])
    schedule().job(quiet).name("quiet").email_output_to("ops@example.test")
    schedule().job(quiet).name("quiet but always").email_output_to("ops@example.test",
                                                                   only_if_output=False)
    schedule().job(fail).name("breaker").email_output_on_failure("oncall@example.test")
    schedule().job(talk).name("fine").email_output_on_failure("oncall@example.test")
""")
    env = {"MAIL_HOST": "127.0.0.1", "MAIL_PORT": str(smtp.port),
           "MAIL_FROM": "scheduler@example.test"}
    result = project.artisan("schedule:run", env=env)
    assert result.returncode == 1  # "breaker" failed; the mails did not
    wait_for(lambda: len(smtp.inbox.received) == 3, timeout=10)
    by_subject = {r.message["Subject"]: r for r in smtp.inbox.received}
    report = by_subject['Scheduled task "report" succeeded']
    assert report.recipients == ["ops@example.test", "me@example.test"]
    assert report.message["From"] == "scheduler@example.test"
    assert report.message.get_content().strip() == "nightly report: café ✓"
    assert 'Scheduled task "quiet but always" succeeded' in by_subject
    failure = by_subject['Scheduled task "breaker" failed (exit code 3)']
    assert failure.recipients == ["oncall@example.test"]
    assert failure.message.get_content().strip() == "it broke"


def test_a_mail_server_that_is_down_is_reported_and_fails_nothing(project: Project) -> None:
    project.kernel(HEADER + """
def talk():
    print("hello")
    record("talked")

def schedule_tasks():
    schedule().job(talk).name("report").email_output_to("ops@example.test")
    schedule().job(record, "next")
""")
    result = project.artisan("schedule:run", env={"MAIL_HOST": "127.0.0.1", "MAIL_PORT": "9"})
    assert result.returncode == 0
    assert "Warning: report: could not send mail via 127.0.0.1:9" in result.stdout
    assert "Running report" in result.stdout and ran(project) == ["talked", "next"]


def test_pings_arrive_in_lifecycle_order(project: Project, http_server) -> None:
    base, requests = http_server
    project.kernel(HEADER + f"""
BASE = {base!r}

def ok():
    pass

def bad():
    sys.exit(1)

def schedule_tasks():
    for name, task in (("ok", ok), ("bad", bad)):
        schedule().job(task).name(name).then_ping(f"{{BASE}}/{{name}}/then") \\
            .ping_on_success(f"{{BASE}}/{{name}}/success") \\
            .ping_on_failure(f"{{BASE}}/{{name}}/failure") \\
            .ping_before(f"{{BASE}}/{{name}}/before") \\
            .ping_before_if(False, f"{{BASE}}/{{name}}/never") \\
            .then_ping_if(lambda: True, f"{{BASE}}/{{name}}/then-if")
""")
    result = project.artisan("schedule:run")
    assert result.returncode == 1
    assert [path for path, _ in requests] == [
        "/ok/before", "/ok/success", "/ok/then", "/ok/then-if",
        "/bad/before", "/bad/failure", "/bad/then", "/bad/then-if"]


def test_a_failed_ping_is_reported_and_never_fails_the_task(project: Project,
                                                           http_server) -> None:
    base, requests = http_server
    project.kernel(HEADER + f"""
def schedule_tasks():
    schedule().job(record, "work").name("work").ping_on_success({base!r} + "/status/500")
""")
    result = project.artisan("schedule:run")
    assert result.returncode == 0
    assert "Warning: work: ping" in result.stdout and "HTTP 500" in result.stdout
    assert ran(project) == ["work"] and requests[0][0] == "/status/500"


def test_a_task_past_its_timeout_is_stopped_as_a_failure(project: Project) -> None:
    project.kernel(HEADER + """
def sleepy():
    record("started")
    time.sleep(30)
    record("not reached")

def schedule_tasks():
    schedule().job(sleepy).name("sleepy").timeout(1).without_overlapping() \\
        .on_failure(lambda: record("failure-hook"))
    schedule().exec("trap '' TERM; sleep 30").name("stubborn").timeout(0.5)
    schedule().job(record, "after")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", timeout=30)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if " Running " in line]
    assert lines[0].startswith("2026") and "sleepy" in lines[0] and lines[0].endswith("FAIL")
    assert "timed out after 1s and was stopped" in result.stdout
    assert "killed by SIGTERM" in result.stdout
    assert "timed out after 0.5s" in result.stdout and "killed by SIGKILL" in result.stdout
    assert ran(project) == ["started", "failure-hook", "after"]
    entries = {entry["task"]: entry for entry in run_log(project)}
    assert entries["sleepy"]["status"] == "timeout"
    # The lock was released: the next minute's run starts at once.
    again = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z", timeout=30)
    assert "Skipping sleepy" not in again.stdout and ran(project).count("started") == 2


def test_the_history_has_a_record_per_run(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "one").name("first")
    schedule().exec("exit 7").name("second")
""")
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    first, second = run_log(project)
    assert (first["task"], first["status"], first["exit_code"]) == ("first", "success", 0)
    assert (second["task"], second["status"], second["exit_code"]) == ("second", "failure", 7)
    for entry in (first, second):
        assert entry["expression"] == "* * * * *"
        assert entry["scheduled"] == "2026-03-08T07:00:00+00:00"
        assert str(entry["started"]) <= str(entry["finished"])
        assert 0 <= entry["duration"] < 30


def test_runs_appending_to_one_file_never_tear_each_others_lines(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    for run in range(4):
        schedule().exec(f"for i in $(seq 1 2000); do echo run{run}-line$i; done") \\
            .name(f"writer {run}").run_in_background().append_output_to("storage/shared.log")
""")
    project.artisan("schedule:run")
    shared = project.storage / "shared.log"
    wait_for(lambda: shared.exists() and len(shared.read_text().splitlines()) == 8000)
    lines = shared.read_text().splitlines()
    # Each run's 2000 lines arrive whole and in order, in one block.
    blocks = [lines[i:i + 2000] for i in range(0, 8000, 2000)]
    for block in blocks:
        run = block[0].split("-")[0]
        assert block == [f"{run}-line{i}" for i in range(1, 2001)]
    assert sorted(block[0].split("-")[0] for block in blocks) == ["run0", "run1", "run2", "run3"]


def test_schedule_test_runs_a_background_task_in_the_foreground(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "now").name("bg").run_in_background()
""")
    result = project.artisan("schedule:test", "--name", "bg")
    assert result.returncode == 0 and ran(project) == ["now"]
    assert result.stdout.rstrip().endswith("DONE")


def test_hooks_and_pings_run_even_when_the_output_file_cannot_be_written(
        project: Project, tmp_path: Path) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().exec("echo hi").send_output_to("/proc/forbidden/out.log") \\
        .on_failure(lambda output: record("failure:" + output.strip()))
""")
    result = project.artisan("schedule:run")
    assert result.returncode == 1
    assert ran(project) == ["failure:hi"]
