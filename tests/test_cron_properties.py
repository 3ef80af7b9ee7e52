"""Away from DST changes, the tick's evaluator agrees with croniter, minute for minute.

For random valid five-field expressions (fields built from `*`, numbers, ranges, steps and
lists) and a random day with no offset change in UTC, Asia/Kolkata (+05:30, no DST) and
Europe/Paris (April to mid-October 2026, all CEST), the set of local minutes at which
`Schedule.due_events` finds the event due equals the set croniter matches.

Day-of-month / day-of-week: `croniter.match` ORs the two day fields whenever neither
*expands* to `*` (its `day_or=True` default), so `0 0 */2 * 5` matches every Friday and
every odd day there. Vixie cron (and this scheduler) OR them only when neither field
*starts with* `*`, so `0 0 */2 * 5` means odd-day Fridays. The comparison therefore
passes croniter `day_or` computed by the Vixie rule (`day_or=False` asks croniter for the
intersection); `test_croniter_plain_match_ors_a_starred_step` pins the difference.

A range whose two ends are equal (`2-2`, `1-1/3`): croniter widens it to `*`, cron reads
it as its one value. croniter is therefore asked about the expression with each such
range written as that value (`as_cron_reads_it`); `tests/test_cron_ranges.py` pins the
cron reading itself on tables of hand-written cases.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduler import Schedule
from scheduler.event import InvalidSchedule

UTC = timezone.utc
MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60
# (low, high) of minute, hour, day-of-month, month, day-of-week (7 is Sunday too).
RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
# Zones and the 2026 days on which their offset never changes.
ZONES = {
    "UTC": (date(2026, 1, 1), date(2026, 12, 31)),
    "Asia/Kolkata": (date(2026, 1, 1), date(2026, 12, 31)),
    "Europe/Paris": (date(2026, 4, 1), date(2026, 10, 20)),  # CEST: Mar 29 to Oct 25
}


def task() -> None:
    """The scheduled job; never called."""


@st.composite
def atom(draw, low: int, high: int) -> str:
    """A number, a range, or a stepped range; never starting with `*`, never reversed."""
    kind = draw(st.sampled_from(["number", "range", "stepped"]))
    first = draw(st.integers(low, high))
    if kind == "number":
        return str(first)
    last = draw(st.integers(first, high))
    if kind == "range":
        return f"{first}-{last}"
    return f"{first}-{last}/{draw(st.integers(1, max(1, high - low)))}"


@st.composite
def field(draw, position: int) -> str:
    low, high = RANGES[position]
    kind = draw(st.sampled_from(["star", "star-step", "list", "list"]))
    if kind == "star":
        return "*"
    if kind == "star-step":
        return f"*/{draw(st.integers(1, high - low))}"
    return ",".join(draw(st.lists(atom(low, high), min_size=1, max_size=3)))


@st.composite
def expressions(draw) -> str:
    return " ".join(draw(field(position)) for position in range(5))


def as_cron_reads_it(expression: str) -> str:
    """`expression` with every `N-N` or `N-N/step` range written as `N` (numbers only, as
    the strategy makes them)."""
    return re.sub(r"\b(\d+)-(\d+)(?:/\d+)?\b",
                  lambda m: m.group(1) if m.group(1) == m.group(2) else m.group(0), expression)


def vixie_day_or(expression: str) -> bool:
    fields = expression.split()
    return not fields[2].startswith("*") and not fields[4].startswith("*")


def croniter_matches(expression: str, wall: datetime) -> bool:
    return bool(croniter.match(as_cron_reads_it(expression), wall,
                               day_or=vixie_day_or(expression)))


def croniter_next_walls(expression: str, day: date, limit: int) -> list[datetime]:
    """Up to `limit` naive wall minutes on `day` that croniter says match, from 00:00."""
    start = datetime.combine(day, time()) - MINUTE
    walls: list[datetime] = []
    iterator = croniter(as_cron_reads_it(expression), start, day_or=vixie_day_or(expression))
    while len(walls) < limit:
        wall = iterator.get_next(datetime)
        if wall.date() != day:
            break
        walls.append(wall)
    return walls


def first_matching_day(expression: str, start: date, last: date) -> date:
    """The first day on or after `start` (up to `last`) croniter matches, else `start`:
    so that day-restricted expressions are mostly tested on days they fire."""
    iterator = croniter(as_cron_reads_it(expression), datetime.combine(start, time()) - MINUTE,
                        day_or=vixie_day_or(expression))
    try:
        found = iterator.get_next(datetime).date()
    except Exception:  # croniter gives up on expressions that fire rarely
        return start
    return found if found <= last else start


@settings(max_examples=200, deadline=None)
@given(expression=expressions(), zone_name=st.sampled_from(sorted(ZONES)),
       day_offset=st.integers(0, 365),
       sampled=st.lists(st.integers(0, DAY_MINUTES - 1), min_size=1, max_size=30))
def test_due_minutes_equal_croniter_matches(expression, zone_name, day_offset, sampled):
    schedule = Schedule()
    try:
        event = schedule.job(task).cron(expression).timezone(zone_name)
    except InvalidSchedule:
        assume(False)  # a reversed range, or a day that no month in the expression has
    assert croniter.is_valid(expression), expression

    zone = ZoneInfo(zone_name)
    first_day, last_day = ZONES[zone_name]
    start = min(first_day + timedelta(days=day_offset), last_day)
    day = first_matching_day(expression, start, last_day)
    midnight = datetime.combine(day, time(), tzinfo=zone)
    offset = midnight.utcoffset()
    assert offset is not None
    assert (midnight + timedelta(days=1)).utcoffset() == offset, "a DST day slipped in"

    def real_minute(wall: datetime) -> datetime:
        return (wall - offset).replace(tzinfo=UTC)

    # The minutes compared: random ones, plus the first matches on either side, so that
    # a sparse expression is compared where it fires and not only where it does not.
    walls = {datetime.combine(day, time()) + m * MINUTE for m in sampled}
    walls.update(croniter_next_walls(expression, day, limit=10))
    moment = schedule.next_due(event, real_minute(datetime.combine(day, time())) - MINUTE)
    while moment is not None and len(walls) < 60:
        wall = (moment + offset).replace(tzinfo=None)
        if wall.date() != day:
            break
        walls.add(wall)
        moment = schedule.next_due(event, moment)

    ours = {wall for wall in walls
            if schedule.due_events(real_minute(wall), environment="production",
                                   in_maintenance=False)}
    theirs = {wall for wall in walls if croniter_matches(expression, wall)}
    assert ours == theirs, (expression, zone_name, day,
                            sorted(w.strftime("%H:%M") for w in ours ^ theirs))


def test_croniter_plain_match_ors_a_starred_step():
    # Friday 2026-03-06, an even day: croniter's default ORs `*/2` with Friday; Vixie
    # cron ANDs them, because the day-of-month field starts with `*`.
    friday_6th = datetime(2026, 3, 6)
    assert croniter.match("0 0 */2 * 5", friday_6th)
    assert not croniter.match("0 0 */2 * 5", friday_6th, day_or=False)
    schedule = Schedule()
    schedule.job(task).cron("0 0 */2 * 5").timezone("UTC")
    at = friday_6th.replace(tzinfo=UTC)
    assert schedule.due_events(at, environment="production", in_maintenance=False) == []
    # Friday 2026-03-13, an odd day: both agree it runs
    assert croniter.match("0 0 */2 * 5", datetime(2026, 3, 13), day_or=False)
    assert schedule.due_events(datetime(2026, 3, 13, tzinfo=UTC), environment="production",
                               in_maintenance=False) != []


def test_the_strategy_reaches_the_interesting_forms():
    # The property is only as good as its inputs: make sure the generator can produce
    # starred steps, lists of ranges and stepped ranges in the day fields.
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(expressions())
    def collect(expression):
        fields = expression.split()
        for name, text in zip(("dom", "dow"), (fields[2], fields[4]), strict=True):
            if text.startswith("*/"):
                seen.add(f"{name} */")
            if "," in text:
                seen.add(f"{name} list")
            if "-" in text and "/" in text and not text.startswith("*"):
                seen.add(f"{name} stepped range")
        if vixie_day_or(expression):
            seen.add("day or")

    collect()
    assert seen >= {"dom */", "dow */", "dom list", "dow list", "dom stepped range",
                    "dow stepped range", "day or"}
