"""`schedule:list` in another zone, sorted, filtered and fitted to the terminal, and
`schedule:test` choosing a task by its command line."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rich.cells import cell_len

from scheduler.cron import compile_expression
from scheduler.listing import TASK_CELLS_KEPT, column_widths, expressions_in_zone
from tests.conftest import Project

UTC = ZoneInfo("UTC")


# -- the expression in another zone -------------------------------------------------------
@pytest.mark.parametrize(("expression", "hours", "minutes", "expected"), [
    # no difference: as it is
    ("0 9 * * *", 0, 0, ("0 9 * * *",)),
    # whole hours: the hour list moves; every day stays every day
    ("0 9 * * *", 5, 0, ("0 14 * * *",)),
    ("0 1,13 * * *", -5, 0, ("0 8,20 * * *",)),
    ("15 22 * * *", 3, 0, ("15 1 * * *",)),
    ("*/5 * * * *", 9, 0, ("*/5 * * * *",)),
    # the shift carries into another day: the weekdays move with it...
    ("0 2 * * 1", -5, 0, ("0 21 * * 0",)),
    ("0 22 * * 1-5", 3, 0, ("0 1 * * 2-6",)),
    ("0 23 * * 5,6", 2, 0, ("0 1 * * 0,6",)),
    ("0 23 * * 7", 2, 0, ("0 1 * * 1",)),
    # ...and when only some hours carry, one expression per day
    ("0 2,14 * * 1", -5, 0, ("0 21 * * 0", "0 9 * * 1")),
    ("30 20,23 * * 1-5", 2, 0, ("30 22 * * 1-5", "30 1 * * 2-6")),
    # days of the month that exist in every month move too
    ("0 0 2,15 * *", -1, 0, ("0 23 1,14 * *",)),
    ("0 2 10 1 *", -5, 0, ("0 21 9 1 *",)),
    # an offset with minutes moves a single minute, carrying into the hour
    ("0 9 * * *", 5, 30, ("30 14 * * *",)),
    ("45 9 * * *", 5, 30, ("15 15 * * *",)),
    ("0 9 * * *", -6, 30, ("30 3 * * *",)),  # -05:30
    # left as they are (None): not a plain hour list, or not exact in the other zone
    ("0 */2 * * *", 1, 0, None),
    ("0 9-17 * * *", 1, 0, None),
    ("0 * * * 1", 1, 0, None),
    ("0 0 1,15 * *", -1, 0, None),      # day 0 does not exist
    ("0 20 28 * *", 5, 0, None),        # day 29 is not in every month
    ("0 5 29 * *", -6, 0, None),        # day 29 is not, so day 28 would run more often
    ("0 2 * 1 1", -5, 0, None),         # a Monday in January can be a Sunday in December
    ("0 2 * 1 *", -5, 0, None),
    ("0 2 * * MON", -5, 0, None),
    ("0,30 9 * * *", 5, 30, None),      # minutes that carry differently
    ("*/5 * * * *", 5, 30, None),
])
def test_an_expression_reads_in_another_zone(expression: str, hours: int, minutes: int,
                                              expected: tuple[str, ...] | None) -> None:
    offset = timedelta(hours=hours, minutes=minutes)
    assert expressions_in_zone(expression, offset) == expected


# Between these instants no zone below changes its offset, and the days cross a month end
# and cover every weekday: the rewritten expressions must fire at exactly the same
# instants as the original.
WINDOW = (datetime(2027, 1, 24, tzinfo=UTC), datetime(2027, 2, 6, tzinfo=UTC))
ZONE_PAIRS = [("America/New_York", "UTC"), ("UTC", "America/New_York"),
              ("Asia/Kolkata", "America/New_York"), ("Europe/Paris", "Asia/Tokyo"),
              ("Pacific/Auckland", "America/Los_Angeles")]
EXPRESSIONS = ["0 9 * * *", "0 1,13 * * *", "30 2,14 * * 1", "0 22 * * 1-5",
               "15 23 * * 0,6", "0 0 2,15 * *", "0 12 1,28 * *", "*/15 * * * *",
               "45 6 * * 3", "0 0,6,12,18 * * *"]


def _instants(expression: str, zone: str) -> set[datetime]:
    compiled, found = compile_expression(expression), set()
    moment: datetime | None = WINDOW[0]
    while moment is not None and moment < WINDOW[1]:
        found.add(moment)
        moment = compiled.next_due(moment, ZoneInfo(zone))
    return found - {WINDOW[0]}


def _offset(zone: str) -> timedelta:
    return ZoneInfo(zone).utcoffset(WINDOW[0].replace(tzinfo=None)) or timedelta(0)


@pytest.mark.parametrize(("own_zone", "display_zone"), ZONE_PAIRS)
def test_a_rewritten_expression_fires_at_the_same_instants(own_zone: str,
                                                           display_zone: str) -> None:
    rewritten = 0
    for expression in EXPRESSIONS:
        offset = _offset(display_zone) - _offset(own_zone)
        converted = expressions_in_zone(expression, offset)
        if converted is None:
            continue
        rewritten += 1
        inside = WINDOW[0] + timedelta(days=2), WINDOW[1] - timedelta(days=2)
        # Far from the window's edges (a rewritten expression may fire a day earlier).
        original = {moment for moment in _instants(expression, own_zone)
                    if inside[0] <= moment < inside[1]}
        shown = {moment for text in converted for moment in _instants(text, display_zone)
                 if inside[0] <= moment < inside[1]}
        assert original, expression
        assert shown == original, (expression, converted)
    assert rewritten >= 6  # most of them can be rewritten in every pair of zones


# -- fitting the table --------------------------------------------------------------------
@pytest.mark.parametrize(("natural", "terminal", "expected"), [
    ((10, 30, 16, 35, 20), None, [10, 30, 16, 35, 20]),    # no terminal: no limit
    ((10, 30, 16, 35, 20), 200, [10, 30, 16, 35, 20]),     # it fits
    ((10, 30, 16, 35, 20), 119, [10, 30, 16, 35, 20]),     # exactly
    # the task gives way first, down to TASK_CELLS_KEPT cells, then the flags
    ((10, 30, 16, 35, 20), 110, [10, TASK_CELLS_KEPT, 16, 35, 17]),
    ((10, 30, 16, 35, 20), 95, [10, TASK_CELLS_KEPT, 16, 35, 2]),
    ((10, 30, 16, 35, 20), 80, [10, 11, 16, 35, 0]),       # then the task again
    ((10, 30, 16, 35, 20), 40, [10, 0, 16, 35, 0]),        # too narrow: the task is gone
    ((10, 60, 16, 35, 5), 110, [10, 36, 16, 35, 5]),       # short flags stay whole
    ((10, 10, 16, 35, 40), 100, [10, 10, 16, 35, 21]),     # a short task stays whole
])
def test_columns_fit_the_terminal(natural: tuple[int, ...], terminal: int | None,
                                  expected: list[int]) -> None:
    widths = column_widths(natural, terminal)
    assert widths == expected
    if terminal is not None:  # the columns and their four gaps fit, if anything can
        assert sum(widths) + 8 <= max(terminal, natural[0] + natural[2] + natural[3] + 8)


# -- the command --------------------------------------------------------------------------
KERNEL = """
from scheduler import schedule

def work():
    pass

def schedule_tasks():
    schedule().exec("echo split").cron("0 2,14 * * 1").name("split across days")
    schedule().exec("echo paris").cron("0 */2 * * 1").timezone("Europe/Paris")
    schedule().command("inspire", "--quietly").hourly_at(30).environments("staging")
    schedule().job(work).daily_at("03:00").environments("local") \\
        .name("a task with a name long enough to be cut short in a narrow terminal")
"""
AT = "2026-11-27T12:00:00Z"  # a Friday


def listed(project: Project, *args: str, env: dict[str, str] | None = None
           ) -> list[dict[str, object]]:
    result = project.artisan("schedule:list", "--json", "--at", AT, *args, env=env)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_list_in_another_zone_splits_an_expression_that_crosses_a_day(
        project: Project) -> None:
    project.kernel(KERNEL)
    result = project.artisan("schedule:list", "--at", AT, "--timezone", "America/New_York")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    split = next(index for index, line in enumerate(lines) if "split across days" in line)
    # Monday 02:00 and 14:00 UTC are Sunday 21:00 and Monday 09:00 in New York.
    assert lines[split].split()[:5] == ["0", "21", "*", "*", "0"]
    assert "America/New_York" in lines[split]
    assert "2026-11-29 21:00 -0500" in lines[split]
    assert lines[split + 1].split() == ["0", "9", "*", "*", "1"]  # only the expression
    # An hour field with a step stays in its own zone, and the table says which.
    paris = next(line for line in lines if "echo paris" in line)
    assert paris.split()[:5] == ["0", "*/2", "*", "*", "1"] and "Europe/Paris" in paris
    assert "2026-11-29 18:00 -0500" in paris  # 00:00 Monday in Paris, in New York time
    rows = listed(project, "--timezone", "America/New_York")
    assert rows[0]["expression"] == "0 2,14 * * 1" and rows[0]["timezone"] == "UTC"
    assert rows[0]["display_expressions"] == ["0 21 * * 0", "0 9 * * 1"]
    assert rows[0]["display_timezone"] == "America/New_York"
    assert rows[1]["display_expressions"] == ["0 */2 * * 1"]
    assert rows[1]["display_timezone"] == "Europe/Paris"
    assert rows[1]["next_due"] == "2026-11-29T18:00:00-05:00"


def test_list_uses_the_app_zone_when_no_timezone_is_given(project: Project) -> None:
    project.kernel(KERNEL)
    rows = listed(project, env={"APP_TIMEZONE": "Asia/Tokyo"})
    # The events without a zone of their own are in Tokyo already: nothing to convert.
    assert [row["display_timezone"] for row in rows] == [
        "Asia/Tokyo", "Europe/Paris", "Asia/Tokyo", "Asia/Tokyo"]
    assert rows[0]["display_expressions"] == ["0 2,14 * * 1"]
    rows = listed(project, "--timezone", "UTC", env={"APP_TIMEZONE": "Asia/Tokyo"})
    # Tokyo is 9 hours ahead: Monday 02:00 there is Sunday 17:00 UTC.
    assert rows[0]["display_expressions"] == ["0 17 * * 0", "0 5 * * 1"]
    assert rows[2]["display_expressions"] == ["30 * * * *"]
    assert rows[3]["display_expressions"] == ["0 18 * * *"]


def test_list_next_sorts_by_next_due(project: Project) -> None:
    project.kernel(KERNEL)
    declared = [row["name"] for row in listed(project)]
    soonest = listed(project, "--next")
    assert [row["name"] for row in soonest] == [declared[2], declared[3], declared[1],
                                                declared[0]]
    dues = [str(row["next_due"]) for row in soonest]
    # 12:30 today, 03:00 tomorrow, Sunday 23:00 (Monday 00:00 in Paris), Monday 02:00.
    assert dues == ["2026-11-27T12:30:00+00:00", "2026-11-28T03:00:00+00:00",
                    "2026-11-29T23:00:00+00:00", "2026-11-30T02:00:00+00:00"]
    table = project.artisan("schedule:list", "--at", AT, "--next").stdout.splitlines()
    assert [line.split()[0] for line in table[1:3]] == ["30", "0"]
    assert "inspire --quietly" in table[1]


@pytest.mark.parametrize(("environments", "expected"), [
    ([], ["split across days", "echo paris", "inspire --quietly", "a task with a name"]),
    (["staging"], ["split across days", "echo paris", "inspire --quietly"]),
    (["local"], ["split across days", "echo paris", "a task with a name"]),
    (["staging", "local"], ["split across days", "echo paris", "inspire --quietly",
                            "a task with a name"]),
    (["production"], ["split across days", "echo paris"]),
])
def test_list_environment_may_be_given_more_than_once(
        project: Project, environments: list[str], expected: list[str]) -> None:
    project.kernel(KERNEL)
    args = [word for name in environments for word in ("--environment", name)]
    names = [str(row["name"]) for row in listed(project, *args)]
    assert [name[:len(want)] for name, want in zip(names, expected, strict=False)] == expected
    assert len(names) == len(expected)


def test_list_says_when_no_task_runs_in_the_environments(project: Project) -> None:
    project.kernel("""
from scheduler import schedule

def schedule_tasks():
    schedule().exec("echo hi").environments("production")
""")
    result = project.artisan("schedule:list", "--environment", "local",
                             "--environment", "staging")
    assert result.stdout.strip() == \
        "No scheduled tasks run in the 'local' or 'staging' environments."


@pytest.mark.parametrize("columns", [60, 80, 100, 120])
def test_list_fits_the_terminal_and_cuts_the_task_name(project: Project,
                                                       columns: int) -> None:
    project.kernel(KERNEL)
    result = project.artisan("schedule:list", "--at", AT, env={"COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 4  # the header and four tasks, none wrapped
    assert all(cell_len(line) <= columns for line in lines)
    long_name = next(line for line in lines if line.startswith("0 3 * * *"))
    if columns >= 80:
        assert "2026-11-28 03:00 +0000 (in 15 hours)" in long_name  # kept whole
        assert re.search(r"  a task wi[\w ]*…  UTC  ", long_name), long_name
        assert "short in a narrow terminal" not in long_name


def test_list_without_a_terminal_keeps_every_row_whole(project: Project) -> None:
    project.kernel(KERNEL)
    result = project.artisan("schedule:list", "--at", AT)
    lines = result.stdout.splitlines()
    assert any("a task with a name long enough to be cut short in a narrow terminal  UTC"
               in line for line in lines)
    assert "…" not in result.stdout


def test_list_json_carries_the_attributes(project: Project) -> None:
    project.kernel(KERNEL)
    assert [row["attributes"] for row in listed(project)] == [{}, {}, {}, {}]
    project.kernel("""
from scheduler import schedule

def schedule_tasks():
    with schedule().with_attributes({"team": "platform", "tier": 1}).group() as platform:
        platform.exec("true").daily()
        platform.exec("false").daily().with_attributes({"tier": 2})
""")
    assert [row["attributes"] for row in listed(project)] == [
        {"team": "platform", "tier": 1}, {"team": "platform", "tier": 2}]


# -- schedule:test ------------------------------------------------------------------------
TEST_KERNEL = """
from scheduler import schedule
from scheduler.settings import current

def schedule_tasks():
    folder = current().storage
    schedule().exec(f"mkdir -p {folder} && echo greeted > {folder}/greeting.txt") \\
        .name("morning greeting")
    schedule().command("cache:clear").name("nightly cleanup")
"""


@pytest.mark.parametrize(("name", "expected"), [
    ("morning greeting", "morning greeting"),   # the name
    ("nightly cleanup", "nightly cleanup"),
    ("artisan cache:clear", "nightly cleanup"),  # the whole command line
    ("cache:cl", "nightly cleanup"),             # a part of the command line
    ("ECHO GREETED", "morning greeting"),        # a part of the shell line, any case
])
def test_schedule_test_name_matches_the_name_or_the_command_line(
        project: Project, name: str, expected: str) -> None:
    project.kernel(TEST_KERNEL)
    result = project.artisan("schedule:test", "--name", name)
    assert f"Running {expected} now." in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0
    assert (project.storage / "greeting.txt").exists() == (expected == "morning greeting")


@pytest.mark.parametrize(("kernel", "args", "exit_code", "message", "stream"), [
    ("def schedule_tasks():\n    pass\n", [], 0,
     "No scheduled tasks have been defined.", "stdout"),
    ("def schedule_tasks():\n    pass\n", ["--strict"], 1,
     "No scheduled tasks have been defined.", "stdout"),
    (TEST_KERNEL, ["--name", "nightly backup"], 0,
     "No scheduled task matches 'nightly backup'. The tasks are:", "stderr"),
    (TEST_KERNEL, ["--name", "nightly backup", "--strict"], 1,
     "No scheduled task matches 'nightly backup'. The tasks are:", "stderr"),
])
def test_schedule_test_with_nothing_to_run_exits_0_unless_strict(
        project: Project, kernel: str, args: list[str], exit_code: int, message: str,
        stream: str) -> None:
    project.kernel(kernel)
    result = project.artisan("schedule:test", *args)
    assert result.returncode == exit_code
    assert message in getattr(result, stream)
    assert "Running" not in result.stdout
    if kernel == TEST_KERNEL:  # the tasks are listed, with their command lines
        assert "  nightly cleanup  (artisan cache:clear)" in result.stderr


def test_schedule_test_prefers_a_whole_name_in_any_case_to_a_part(project: Project) -> None:
    project.kernel("""
from scheduler import schedule
from scheduler.settings import current

def schedule_tasks():
    folder = current().storage
    schedule().exec(f"mkdir -p {folder} && echo sent > {folder}/send.txt").name("Send")
    schedule().exec("true").name("Send reports")
""")
    result = project.artisan("schedule:test", "--name", "send")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Running Send now." in result.stdout
    assert (project.storage / "send.txt").read_text() == "sent\n"
    several = project.artisan("schedule:test", "--name", "sen")
    assert several.returncode == 1 and "Several tasks match 'sen'" in several.stderr
