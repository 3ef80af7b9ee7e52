"""`make bench`: the tick's costs, each a median of several whole runs, as a table.

* whole processes, wall time and peak memory, next to the floor (`python -c pass` with
  the same interpreter): `schedule:run --dry-run` for 100, 1,000 and 10,000 events, and
  a real tick of 100 events in a minute when none is due, with the run history on
  (SQLite, the default) and off; and for comparison, importing the required packages;
* evaluation alone: finding the due events of 10,000 events, in process;
* starting a task: how long after its turn a `job` runs its first line, and the round
  trip of a no-op `job`, `exec` and `command`;
* sub-minute jitter: how late `every(1)` and `every(5)` runs start over one real minute;
* the run history's cost: a tick of ten no-op jobs with the history off, on SQLite and
  and (given SCHEDULER_BENCH_POSTGRES_URL, a server's maintenance database, in which
  a database is created and dropped) on PostgreSQL.

* what a tick imports: each module's own time from `python -X importtime`.

Nothing here asserts: it reports. Run on a quiet machine; `--quick` takes fewer runs and
skips the minute-long jitter measurement.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.measure import ProcessCost, import_times, percentile, process_costs, run_once
from benchmarks.projects import kernel_source, make_project

AT = "2026-03-08T07:00:00Z"
# A minute in which none of the generated kernels' first 100 events is due.
NOTHING_DUE_AT = "2026-03-08T07:02:00Z"
FLOOR = "pass"
STACK = "import typer, croniter, filelock, dateutil"


def environment(root: Path) -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE is dropped so that the warm-up run caches bytecode, as a
    # deployed project has it: otherwise every run compiles every module from source.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("APP_", "SCHEDULER_", "MAIL_"))
           and key != "PYTHONDONTWRITEBYTECODE"}
    env.update(APP_ENV="production", APP_TIMEZONE="UTC",
               SCHEDULER_STORAGE=str(root / "storage"))
    return env


def tick_argv(root: Path, *arguments: str) -> list[str]:
    return [sys.executable, str(root / "artisan"), "schedule:run", *arguments]


def whole_processes(runs: int) -> list[tuple[str, ProcessCost]]:
    """The floor (a Python that does nothing), the required packages' imports, and
    ticks, measured taking turns."""
    nowhere = environment(Path(tempfile.gettempdir()))
    rows: list[tuple[str, list[str], dict[str, str]]] = [
        ("floor: python -c 'pass'", [sys.executable, "-c", FLOOR], nowhere),
        (f"for comparison: python -c '{STACK}'", [sys.executable, "-c", STACK], nowhere)]
    for events in (100, 1000, 10000):
        root = make_project(events)
        rows.append((f"schedule:run --dry-run, {events:,} events",
                     tick_argv(root, "--dry-run", "--at", AT), environment(root)))
    for label, extra in (("history on (SQLite)", {}),
                         ("history off", {"SCHEDULER_HISTORY": "off"})):
        root = make_project(100)
        rows.append((f"schedule:run, 100 events, nothing due, {label}",
                     tick_argv(root, "--at", NOTHING_DUE_AT), {**environment(root), **extra}))
    costs = process_costs([(argv, env) for _, argv, env in rows], runs=runs)
    return [(label, cost) for (label, _, _), cost in zip(rows, costs, strict=True)]


def import_breakdown(top: int = 15) -> None:
    """What a 100-event dry run imports after Python's start-up, and what each costs."""
    root = make_project(100)
    argv, env = tick_argv(root, "--dry-run", "--at", AT), environment(root)
    run_once(argv, env)  # caches the bytecode of the project's kernel
    costs = import_times(argv, env)
    ours = sum(ms for module, ms in costs.items() if module.startswith(("scheduler", "console")))
    print(f"Imports of a 100-event dry run after Python's start-up (`python -X importtime`, "
          f"each module's own time, the smallest of 9 runs): {len(costs)} modules, "
          f"{sum(costs.values()):.1f} ms, of which the scheduler's and the kernel's "
          f"{ours:.1f} ms. The dearest:")
    print()
    print("| module | ms |")
    print("| --- | ---: |")
    for module, ms in sorted(costs.items(), key=lambda item: -item[1])[:top]:
        print(f"| {module} | {ms:.2f} |")


def evaluation(events: int = 10000, runs: int = 15) -> tuple[float, float]:
    """Median ms to define the schedule and to find its due events, in process, as a
    tick does both: without cyclic garbage collection while the kernel defines."""
    from scheduler.schedule import reset_schedule
    from scheduler.zones import UTC

    source = kernel_source(events)
    define_times, evaluate_times = [], []
    at = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    for _ in range(runs):
        namespace: dict[str, object] = {}
        exec(compile(source, "<kernel>", "exec"), namespace)
        schedule = reset_schedule()
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            namespace["schedule_tasks"]()  # type: ignore[operator]
            defined = time.perf_counter()
        finally:
            gc.enable()
        schedule.due_with_wall_times(at, "production", False)
        define_times.append((defined - started) * 1000)
        evaluate_times.append((time.perf_counter() - defined) * 1000)
    return statistics.median(define_times), statistics.median(evaluate_times)


def task_starts(runs: int = 25) -> dict[str, float]:
    """Job start latency, and no-op round trips of each kind of task (ms, medians)."""
    from scheduler import Schedule
    from scheduler import settings as settings_module
    from scheduler.execution import run_event

    root = make_project(0)
    settings = settings_module.configure(settings_module.Settings.load(
        root, environment(root)))
    reader, writer = os.pipe()

    def record_start() -> None:
        os.write(writer, repr(time.perf_counter()).encode())

    schedule = Schedule()
    job = schedule.job(record_start)
    noop_job = schedule.job(int)
    shell = schedule.exec("true")
    command = schedule.command("inspire")
    latencies = []
    for _ in range(runs):
        before = time.perf_counter()
        run_event(job, settings)
        latencies.append((float(os.read(reader, 64)) - before) * 1000)
    results = {"job: first line runs after its turn": statistics.median(latencies)}
    for label, event, count in (("job (no-op) round trip", noop_job, runs),
                                ("exec 'true' round trip", shell, runs),
                                ("command 'inspire' round trip", command, 5)):
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            outcome = run_event(event, settings)
            samples.append((time.perf_counter() - started) * 1000)
            assert outcome.succeeded, outcome.output
        results[label] = statistics.median(samples)
    return results


JITTER_KERNEL = """
import json, time
from scheduler import schedule
from scheduler.settings import current

def record(name):
    with open(current().storage / "starts.jsonl", "a") as handle:
        handle.write(json.dumps([name, time.time()]) + "\\n")

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    schedule().job(record, "every1").every_second()
    schedule().job(record, "every5").every_five_seconds()
"""


def jitter() -> dict[str, tuple[float, float, int]]:
    """Lateness (ms) of sub-minute runs over one whole real minute: median, p99, count."""
    root = make_project(0)
    (root / "console" / "kernel.py").write_text(JITTER_KERNEL)
    time.sleep(60 - time.time() % 60)  # start as cron does, at second 0
    minute_start = time.time() // 60 * 60
    subprocess.run([sys.executable, str(root / "artisan"), "schedule:run"],
                   env=environment(root), check=True, stdout=subprocess.DEVNULL)
    starts = [json.loads(line) for line in
              (root / "storage" / "starts.jsonl").read_text().splitlines()]
    results = {}
    for name in ("every1", "every5"):
        times = sorted(at for recorded, at in starts if recorded == name)
        # The first run is late by the tick's own start-up (Python, the kernel): it is
        # reported apart; the rest measure the loop.
        late = [(at - minute_start) % 1 * 1000 if name == "every1" else
                (at - minute_start) % 5 * 1000 for at in times[1:]]
        results[name] = (statistics.median(late), percentile(late, 0.99), len(times))
        results[name + " first run"] = ((times[0] - minute_start) * 1000, 0.0, 1)
    return results


HISTORY_KERNEL = """
from scheduler import schedule

def schedule_tasks():
    for number in range(10):
        schedule().job(int, number).name(f"no-op {number}")
"""


def history_costs(runs: int = 9) -> list[tuple[str, float]]:
    """Median wall time (ms) of a whole tick of ten no-op jobs, with the history off and
    on. Each variant has a project of its own, whose ticks come one minute after the
    other (as cron's do); the variants take turns."""
    variants = [("history off", {"SCHEDULER_HISTORY": "off"}),
                ("history on, SQLite", {})]
    server = os.environ.get("SCHEDULER_BENCH_POSTGRES_URL", "")
    database = f"scheduler_bench_{os.getpid()}"
    if server:
        _postgres(server, f'CREATE DATABASE "{database}"')
        variants.append(("history on, PostgreSQL",
                         {"SCHEDULER_DATABASE_URL": server.rsplit("/", 1)[0] + "/" + database}))
    roots = []
    for _ in variants:
        root = make_project(0)
        (root / "console" / "kernel.py").write_text(HISTORY_KERNEL)
        roots.append(root)
    samples: dict[str, list[float]] = {label: [] for label, _ in variants}
    start = datetime(2026, 3, 8, 7, 0, tzinfo=timezone.utc).timestamp()
    try:
        for number in range(runs + 1):  # the first round warms up (and migrates)
            at = datetime.fromtimestamp(start + 60 * number, timezone.utc).isoformat()
            for root, (label, extra) in zip(roots, variants, strict=True):
                wall, _ = run_once([sys.executable, str(root / "artisan"), "schedule:run",
                                    "--at", at], {**environment(root), **extra})
                if number:
                    samples[label].append(wall)
    finally:
        if server:
            _postgres(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return [(label, statistics.median(taken)) for label, taken in samples.items()]


def _postgres(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.system()} {platform.release()}; "
          f"{datetime.now(timezone.utc):%Y-%m-%d}")
    print()
    print("| measurement | median | peak memory |")
    print("| --- | ---: | ---: |")
    rows = whole_processes(runs=7 if quick else 15)
    floor = rows[0][1].wall_ms
    for label, cost in rows:
        ratio = f" ({cost.wall_ms / floor:.2f}x floor)" if cost is not rows[0][1] else ""
        print(f"| {label} | {cost.wall_ms:.0f} ms{ratio} | {cost.peak_mb:.0f} MB |")
    define_ms, evaluate_ms = evaluation()
    print(f"| defining 10,000 events (schedule_tasks) | {define_ms:.0f} ms | |")
    print(f"| finding the due events of 10,000 | {evaluate_ms:.1f} ms "
          f"({evaluate_ms * 100 / 1000:.1f} µs/event) | |")
    # In a fresh process, as a tick starts tasks: the benchmark's own heap (thousands of
    # events built above) would make every fork slower than a tick's.
    starts = subprocess.run(
        [sys.executable, "-c", "import json; from benchmarks.__main__ import task_starts; "
                               "print(json.dumps(task_starts()))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    for label, value in json.loads(starts.stdout).items():
        print(f"| {label} | {value:.1f} ms | |")
    costs = history_costs()
    off = costs[0][1]
    for label, wall in costs:
        added = f" (+{wall - off:.0f} ms)" if label != costs[0][0] else ""
        print(f"| schedule:run, 10 no-op jobs, {label} | {wall:.0f} ms{added} | |")
    if not quick:
        for name, (median, p99, count) in jitter().items():
            if name.endswith("first run"):
                print(f"| {name.split()[0]}: first run after the minute starts | "
                      f"{median:.0f} ms | |")
            else:
                print(f"| {name} lateness over a minute ({count} runs) | {median:.1f} ms, "
                      f"p99 {p99:.1f} ms | |")
    print()
    import_breakdown()


if __name__ == "__main__":
    main()
