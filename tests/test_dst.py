"""Daylight saving time done as cron does it, checked minute by minute.

Every case runs a real tick (`Schedule.due_events`) over each UTC minute of a window
that covers the whole local day(s) of a 2026 transition, with an hour of margin on each
side, and compares the minutes at which the event was due with a list written out by
hand from the rules in `scheduler/cron.py`:

* fixed-time (neither minute nor hour starts with `*`) in a spring-forward gap: one run,
  at the first real minute after the jump; wildcard: the gap's wall times do not exist;
* fixed-time in a fall-back repeat: first pass only; wildcard: both passes;
* `between`/`unless_between` judge the wall time the run is *for* (for a caught-up run,
  the skipped wall time).

The same case then chains `Schedule.next_due` from the start of the window and must land
on exactly the same minutes (what `schedule:list` shows is what the tick does).

The transitions (checked against zoneinfo in `test_transitions_are_where_the_cases_assume`):

  New York   2026-03-08 07:00 UTC  01:59 EST -> 03:00 EDT   gap 02:00-02:59
             2026-11-01 06:00 UTC  01:59 EDT -> 01:00 EST   repeat 01:00-01:59
  London     2026-03-29 01:00 UTC  00:59 GMT -> 02:00 BST   gap 01:00-01:59
             2026-10-25 01:00 UTC  01:59 BST -> 01:00 GMT   repeat 01:00-01:59
  Lord Howe  2026-04-04 15:00 UTC  (Apr 5) 01:59 +11 -> 01:30 +10:30   repeat 01:30-01:59
             2026-10-03 15:30 UTC  (Oct 4) 01:59 +10:30 -> 02:30 +11   gap 02:00-02:29
  Santiago   2026-04-05 03:00 UTC  (Sat Apr 4) 23:59 -03 -> 23:00 -04   repeat 23:00-23:59
             2026-09-06 04:00 UTC  (Sat Sep 5) 23:59 -04 -> (Sun Sep 6) 01:00 -03
                                                             gap Sep 6 00:00-00:59
  Havana     2026-03-08 05:00 UTC  (Sat Mar 7) 23:59 -05 -> (Sun Mar 8) 01:00 -04
                                                             gap Mar 8 00:00-00:59
             2026-11-01 05:00 UTC  (Sun Nov 1) 00:59 -04 -> 00:00 -05   repeat 00:00-00:59

Santiago's fall-back repeat is on the local evening of Saturday April 4 (April 5 in UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest

from scheduler import Schedule
from scheduler.event import Event

UTC = timezone.utc
MINUTE = timedelta(minutes=1)


def task() -> None:
    """The scheduled job; never called by these tests."""


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def span(first: str, last: str, every: int, count: int) -> list[str]:
    """The UTC minutes first, first+every, ... last (both written by hand), of which
    there must be exactly `count` (also written by hand, to catch a wrong end point)."""
    minutes = []
    moment = utc(first)
    while moment <= utc(last):
        minutes.append(shown(moment))
        moment += timedelta(minutes=every)
    assert minutes[-1] == last, f"{last} is not on the {every}-minute grid from {first}"
    assert len(minutes) == count, f"{first}..{last} every {every}: {len(minutes)} != {count}"
    return minutes


class Window(NamedTuple):
    """UTC minutes [start, end) scanned for one transition, and the zone of its events."""

    zone: str
    start: str
    end: str


WINDOWS = {
    # local Sat Mar 7 23:00 EST .. Mon Mar 9 01:00 EDT
    "ny-spring": Window("America/New_York", "2026-03-08 04:00", "2026-03-09 05:00"),
    # local Sat Oct 31 23:00 EDT .. Mon Nov 2 01:00 EST
    "ny-fall": Window("America/New_York", "2026-11-01 03:00", "2026-11-02 06:00"),
    # local Sat Mar 28 23:00 GMT .. Mon Mar 30 01:00 BST
    "london-spring": Window("Europe/London", "2026-03-28 23:00", "2026-03-30 00:00"),
    # local Sat Oct 24 23:00 BST .. Mon Oct 26 01:00 GMT
    "london-fall": Window("Europe/London", "2026-10-24 22:00", "2026-10-26 01:00"),
    # local Sat Apr 4 23:00 +11 .. Mon Apr 6 01:00 +10:30
    "lordhowe-fall": Window("Australia/Lord_Howe", "2026-04-04 12:00", "2026-04-05 14:30"),
    # local Sat Oct 3 23:00 +10:30 .. Mon Oct 5 01:00 +11
    "lordhowe-spring": Window("Australia/Lord_Howe", "2026-10-03 12:30", "2026-10-04 14:00"),
    # local Fri Apr 3 23:00 -03 .. Mon Apr 6 01:00 -04 (both local days around midnight)
    "santiago-fall": Window("America/Santiago", "2026-04-04 02:00", "2026-04-06 05:00"),
    # local Fri Sep 4 23:00 -04 .. Mon Sep 7 01:00 -03
    "santiago-spring": Window("America/Santiago", "2026-09-05 03:00", "2026-09-07 04:00"),
    # local Fri Mar 6 23:00 -05 .. Mon Mar 9 01:00 -04
    "havana-spring": Window("America/Havana", "2026-03-07 04:00", "2026-03-09 05:00"),
    # local Fri Oct 30 23:00 -04 .. Mon Nov 2 01:00 -05
    "havana-fall": Window("America/Havana", "2026-10-31 03:00", "2026-11-02 06:00"),
}

Build = Callable[[Event], Event]


class Case(NamedTuple):
    window: str
    label: str
    build: Build
    expected: list[str]


def case(window: str, label: str, build: Build, expected: list[str]) -> Case:
    return Case(window, label, build, expected)


CASES = [
    # -- New York, spring forward: 02:00-02:59 EST does not exist -------------------------
    case("ny-spring", "daily_at 02:30 (in the gap)", lambda e: e.daily_at("02:30"),
         ["2026-03-08 07:00"]),
    case("ny-spring", "daily_at 01:30 (before the gap)", lambda e: e.daily_at("01:30"),
         ["2026-03-08 06:30"]),
    case("ny-spring", "daily_at 03:30 (after the gap)", lambda e: e.daily_at("03:30"),
         ["2026-03-08 07:30"]),
    case("ny-spring", "cron 0,30 2: two gap times, one run", lambda e: e.cron("0,30 2 * * *"),
         ["2026-03-08 07:00"]),
    case("ny-spring", "hourly_at 15", lambda e: e.hourly_at(15),
         # local 23:15 EST .. 01:15 EST, (02:15 missing), 03:15 EDT .. 00:15 EDT
         span("2026-03-08 04:15", "2026-03-09 04:15", 60, 25)),
    case("ny-spring", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-03-08 04:00", "2026-03-09 04:45", 15, 100)),
    case("ny-spring", "twice_daily", lambda e: e.twice_daily(),
         ["2026-03-08 06:00", "2026-03-08 17:00"]),
    case("ny-spring", "cron */30 2 (wildcard, hour 2 missing)",
         lambda e: e.cron("*/30 2 * * *"), []),
    case("ny-spring", "weekly_on sunday 02:00", lambda e: e.weekly_on("sunday", "02:00"),
         ["2026-03-08 07:00"]),
    case("ny-spring", "weekly_on monday 02:30 (not today)",
         lambda e: e.weekly_on("monday", "02:30"), []),
    case("ny-spring", "every 15 between 01:00-03:15",
         lambda e: e.every_fifteen_minutes().between("01:00", "03:15"),
         ["2026-03-08 06:00", "2026-03-08 06:15", "2026-03-08 06:30", "2026-03-08 06:45",
          "2026-03-08 07:00", "2026-03-08 07:15"]),
    case("ny-spring", "daily_at 02:30 between 02:00-02:59 (judged as 02:30)",
         lambda e: e.daily_at("02:30").between("02:00", "02:59"), ["2026-03-08 07:00"]),
    case("ny-spring", "daily_at 02:30 between 03:00-04:00 (judged as 02:30)",
         lambda e: e.daily_at("02:30").between("03:00", "04:00"), []),
    case("ny-spring", "daily_at 02:30 unless_between 02:00-02:59",
         lambda e: e.daily_at("02:30").unless_between("02:00", "02:59"), []),
    case("ny-spring", "daily_at 02:30 unless_between 03:00-04:00",
         lambda e: e.daily_at("02:30").unless_between("03:00", "04:00"),
         ["2026-03-08 07:00"]),
    case("ny-spring", "cron 0,30 2 between 02:15-02:45 (02:00 vetoed, 02:30 runs)",
         lambda e: e.cron("0,30 2 * * *").between("02:15", "02:45"), ["2026-03-08 07:00"]),
    # -- New York, fall back: 01:00-01:59 happens at 05:xx and again at 06:xx UTC ---------
    case("ny-fall", "daily_at 01:30 (repeated: first pass)", lambda e: e.daily_at("01:30"),
         ["2026-11-01 05:30"]),
    case("ny-fall", "daily_at 00:30 (EDT, then EST the next day)",
         lambda e: e.daily_at("00:30"), ["2026-11-01 04:30", "2026-11-02 05:30"]),
    case("ny-fall", "daily_at 02:30", lambda e: e.daily_at("02:30"), ["2026-11-01 07:30"]),
    case("ny-fall", "hourly_at 15 (both passes)", lambda e: e.hourly_at(15),
         span("2026-11-01 03:15", "2026-11-02 05:15", 60, 27)),
    case("ny-fall", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-11-01 03:00", "2026-11-02 05:45", 15, 108)),
    case("ny-fall", "twice_daily", lambda e: e.twice_daily(),
         ["2026-11-01 05:00", "2026-11-01 18:00"]),
    case("ny-fall", "cron */30 2", lambda e: e.cron("*/30 2 * * *"),
         ["2026-11-01 07:00", "2026-11-01 07:30"]),
    case("ny-fall", "cron */30 1 (wildcard: both passes)", lambda e: e.cron("*/30 1 * * *"),
         ["2026-11-01 05:00", "2026-11-01 05:30", "2026-11-01 06:00", "2026-11-01 06:30"]),
    case("ny-fall", "weekly_on sunday 01:15", lambda e: e.weekly_on("sunday", "01:15"),
         ["2026-11-01 05:15"]),
    case("ny-fall", "hourly_at 15 between 01:00-02:00",
         lambda e: e.hourly_at(15).between("01:00", "02:00"),
         ["2026-11-01 05:15", "2026-11-01 06:15"]),
    case("ny-fall", "every 15 between 01:00-01:30",
         lambda e: e.every_fifteen_minutes().between("01:00", "01:30"),
         ["2026-11-01 05:00", "2026-11-01 05:15", "2026-11-01 05:30",
          "2026-11-01 06:00", "2026-11-01 06:15", "2026-11-01 06:30"]),
    case("ny-fall", "daily_at 01:30 unless_between 01:00-02:00",
         lambda e: e.daily_at("01:30").unless_between("01:00", "02:00"), []),
    # -- London, spring forward: 01:00-01:59 GMT does not exist ---------------------------
    case("london-spring", "daily_at 01:30 (in the gap)", lambda e: e.daily_at("01:30"),
         ["2026-03-29 01:00"]),
    case("london-spring", "daily_at 00:30 (GMT, then BST the next day)",
         lambda e: e.daily_at("00:30"), ["2026-03-29 00:30", "2026-03-29 23:30"]),
    case("london-spring", "daily_at 02:30", lambda e: e.daily_at("02:30"),
         ["2026-03-29 01:30"]),
    case("london-spring", "cron 0 1,2: caught-up 01:00 and real 02:00 are one run",
         lambda e: e.cron("0 1,2 * * *"), ["2026-03-29 01:00"]),
    case("london-spring", "hourly_at 15", lambda e: e.hourly_at(15),
         span("2026-03-28 23:15", "2026-03-29 23:15", 60, 25)),
    case("london-spring", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-03-28 23:00", "2026-03-29 23:45", 15, 100)),
    case("london-spring", "twice_daily (01:00 in the gap)", lambda e: e.twice_daily(),
         ["2026-03-29 01:00", "2026-03-29 12:00"]),
    case("london-spring", "cron */30 2", lambda e: e.cron("*/30 2 * * *"),
         ["2026-03-29 01:00", "2026-03-29 01:30"]),
    case("london-spring", "cron */30 1 (wildcard, hour 1 missing)",
         lambda e: e.cron("*/30 1 * * *"), []),
    case("london-spring", "weekly_on sunday 01:00", lambda e: e.weekly_on("sunday", "01:00"),
         ["2026-03-29 01:00"]),
    case("london-spring", "daily_at 01:30 between 01:00-01:59",
         lambda e: e.daily_at("01:30").between("01:00", "01:59"), ["2026-03-29 01:00"]),
    case("london-spring", "daily_at 01:30 between 02:00-03:00",
         lambda e: e.daily_at("01:30").between("02:00", "03:00"), []),
    case("london-spring", "every 15 between 00:30-02:15",
         lambda e: e.every_fifteen_minutes().between("00:30", "02:15"),
         ["2026-03-29 00:30", "2026-03-29 00:45", "2026-03-29 01:00", "2026-03-29 01:15",
          # Monday Mar 30 00:30 and 00:45 BST
          "2026-03-29 23:30", "2026-03-29 23:45"]),
    # -- London, fall back: 01:00-01:59 happens at 00:xx and again at 01:xx UTC -----------
    case("london-fall", "daily_at 01:30 (repeated: first pass)", lambda e: e.daily_at("01:30"),
         ["2026-10-25 00:30"]),
    case("london-fall", "daily_at 02:30", lambda e: e.daily_at("02:30"),
         ["2026-10-25 02:30"]),
    case("london-fall", "daily_at 00:30 (BST, then GMT the next day)",
         lambda e: e.daily_at("00:30"), ["2026-10-24 23:30", "2026-10-26 00:30"]),
    case("london-fall", "hourly_at 15 (both passes)", lambda e: e.hourly_at(15),
         span("2026-10-24 22:15", "2026-10-26 00:15", 60, 27)),
    case("london-fall", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-10-24 22:00", "2026-10-26 00:45", 15, 108)),
    case("london-fall", "twice_daily", lambda e: e.twice_daily(),
         ["2026-10-25 00:00", "2026-10-25 13:00"]),
    case("london-fall", "cron */30 2", lambda e: e.cron("*/30 2 * * *"),
         ["2026-10-25 02:00", "2026-10-25 02:30"]),
    case("london-fall", "cron */30 1 (wildcard: both passes)",
         lambda e: e.cron("*/30 1 * * *"),
         ["2026-10-25 00:00", "2026-10-25 00:30", "2026-10-25 01:00", "2026-10-25 01:30"]),
    case("london-fall", "weekly_on sunday 01:45", lambda e: e.weekly_on("sunday", "01:45"),
         ["2026-10-25 00:45"]),
    case("london-fall", "hourly_at 15 between 01:00-02:00",
         lambda e: e.hourly_at(15).between("01:00", "02:00"),
         ["2026-10-25 00:15", "2026-10-25 01:15"]),
    # -- Lord Howe, fall back by 30 minutes: 01:30-01:59 happens twice --------------------
    case("lordhowe-fall", "daily_at 01:45 (repeated: first pass)",
         lambda e: e.daily_at("01:45"), ["2026-04-04 14:45"]),
    case("lordhowe-fall", "daily_at 01:15 (not repeated)", lambda e: e.daily_at("01:15"),
         ["2026-04-04 14:15"]),
    case("lordhowe-fall", "daily_at 02:00", lambda e: e.daily_at("02:00"),
         ["2026-04-04 15:30"]),
    case("lordhowe-fall", "hourly_at 15 (90 minutes between 01:15 and 02:15)",
         lambda e: e.hourly_at(15),
         span("2026-04-04 12:15", "2026-04-04 14:15", 60, 3)
         + span("2026-04-04 15:45", "2026-04-05 13:45", 60, 23)),
    case("lordhowe-fall", "hourly_at 45 (01:45 twice, 30 minutes apart)",
         lambda e: e.hourly_at(45),
         span("2026-04-04 12:45", "2026-04-04 14:45", 60, 3)
         + span("2026-04-04 15:15", "2026-04-05 14:15", 60, 24)),
    case("lordhowe-fall", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-04-04 12:00", "2026-04-05 14:15", 15, 106)),
    case("lordhowe-fall", "twice_daily", lambda e: e.twice_daily(),
         ["2026-04-04 14:00", "2026-04-05 02:30"]),
    case("lordhowe-fall", "cron */30 2", lambda e: e.cron("*/30 2 * * *"),
         ["2026-04-04 15:30", "2026-04-04 16:00"]),
    case("lordhowe-fall", "cron */30 1 (01:30 twice, 01:00 once)",
         lambda e: e.cron("*/30 1 * * *"),
         ["2026-04-04 14:00", "2026-04-04 14:30", "2026-04-04 15:00"]),
    case("lordhowe-fall", "weekly_on sunday 01:30", lambda e: e.weekly_on("sunday", "01:30"),
         ["2026-04-04 14:30"]),
    case("lordhowe-fall", "every 15 between 01:30-02:00",
         lambda e: e.every_fifteen_minutes().between("01:30", "02:00"),
         ["2026-04-04 14:30", "2026-04-04 14:45", "2026-04-04 15:00", "2026-04-04 15:15",
          "2026-04-04 15:30"]),
    # -- Lord Howe, spring forward by 30 minutes: 02:00-02:29 does not exist --------------
    case("lordhowe-spring", "daily_at 02:15 (in the gap)", lambda e: e.daily_at("02:15"),
         ["2026-10-03 15:30"]),
    case("lordhowe-spring", "daily_at 01:45", lambda e: e.daily_at("01:45"),
         ["2026-10-03 15:15"]),
    case("lordhowe-spring", "daily_at 02:45", lambda e: e.daily_at("02:45"),
         ["2026-10-03 15:45"]),
    case("lordhowe-spring", "cron 0,15 2: two gap times, one run",
         lambda e: e.cron("0,15 2 * * *"), ["2026-10-03 15:30"]),
    case("lordhowe-spring", "cron 15,30 2: caught-up 02:15 and real 02:30 are one run",
         lambda e: e.cron("15,30 2 * * *"), ["2026-10-03 15:30"]),
    case("lordhowe-spring", "hourly_at 15 (02:15 missing)", lambda e: e.hourly_at(15),
         span("2026-10-03 12:45", "2026-10-03 14:45", 60, 3)
         + span("2026-10-03 16:15", "2026-10-04 13:15", 60, 22)),
    case("lordhowe-spring", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-10-03 12:30", "2026-10-04 13:45", 15, 102)),
    case("lordhowe-spring", "twice_daily", lambda e: e.twice_daily(),
         ["2026-10-03 14:30", "2026-10-04 02:00"]),
    case("lordhowe-spring", "cron */30 2 (wildcard: 02:00 missing)",
         lambda e: e.cron("*/30 2 * * *"), ["2026-10-03 15:30"]),
    case("lordhowe-spring", "weekly_on sunday 02:00", lambda e: e.weekly_on("sunday", "02:00"),
         ["2026-10-03 15:30"]),
    case("lordhowe-spring", "daily_at 02:15 between 02:00-02:20",
         lambda e: e.daily_at("02:15").between("02:00", "02:20"), ["2026-10-03 15:30"]),
    case("lordhowe-spring", "daily_at 02:15 between 02:30-03:00",
         lambda e: e.daily_at("02:15").between("02:30", "03:00"), []),
    case("lordhowe-spring", "daily_at 02:15 unless_between 02:00-02:20",
         lambda e: e.daily_at("02:15").unless_between("02:00", "02:20"), []),
    case("lordhowe-spring", "every 15 between 01:30-02:45",
         lambda e: e.every_fifteen_minutes().between("01:30", "02:45"),
         ["2026-10-03 15:00", "2026-10-03 15:15", "2026-10-03 15:30", "2026-10-03 15:45"]),
    # -- Santiago, fall back at midnight: Sat Apr 4 23:00-23:59 happens twice -------------
    case("santiago-fall", "daily_at 23:30 (repeated on Apr 4: first pass)",
         lambda e: e.daily_at("23:30"),
         ["2026-04-04 02:30", "2026-04-05 02:30", "2026-04-06 03:30"]),
    case("santiago-fall", "daily_at 00:30", lambda e: e.daily_at("00:30"),
         ["2026-04-04 03:30", "2026-04-05 04:30", "2026-04-06 04:30"]),
    case("santiago-fall", "daily (midnight)", lambda e: e.daily(),
         ["2026-04-04 03:00", "2026-04-05 04:00", "2026-04-06 04:00"]),
    case("santiago-fall", "hourly_at 15 (both passes)", lambda e: e.hourly_at(15),
         span("2026-04-04 02:15", "2026-04-06 04:15", 60, 51)),
    case("santiago-fall", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-04-04 02:00", "2026-04-06 04:45", 15, 204)),
    case("santiago-fall", "twice_daily", lambda e: e.twice_daily(),
         ["2026-04-04 04:00", "2026-04-04 16:00", "2026-04-05 05:00", "2026-04-05 17:00"]),
    case("santiago-fall", "cron */30 2", lambda e: e.cron("*/30 2 * * *"),
         ["2026-04-04 05:00", "2026-04-04 05:30", "2026-04-05 06:00", "2026-04-05 06:30"]),
    case("santiago-fall", "cron */30 23 (wildcard: both passes on Apr 4)",
         lambda e: e.cron("*/30 23 * * *"),
         ["2026-04-04 02:00", "2026-04-04 02:30",
          "2026-04-05 02:00", "2026-04-05 02:30", "2026-04-05 03:00", "2026-04-05 03:30",
          "2026-04-06 03:00", "2026-04-06 03:30"]),
    case("santiago-fall", "weekly_on saturday 23:15",
         lambda e: e.weekly_on("saturday", "23:15"), ["2026-04-05 02:15"]),
    case("santiago-fall", "hourly_at 15 between 23:00-23:59",
         lambda e: e.hourly_at(15).between("23:00", "23:59"),
         ["2026-04-04 02:15", "2026-04-05 02:15", "2026-04-05 03:15", "2026-04-06 03:15"]),
    # -- Santiago, spring forward at midnight: Sun Sep 6 00:00-00:59 does not exist -------
    case("santiago-spring", "daily (midnight in the gap)", lambda e: e.daily(),
         ["2026-09-05 04:00", "2026-09-06 04:00", "2026-09-07 03:00"]),
    case("santiago-spring", "daily_at 00:30 (in the gap on Sep 6)",
         lambda e: e.daily_at("00:30"),
         ["2026-09-05 04:30", "2026-09-06 04:00", "2026-09-07 03:30"]),
    case("santiago-spring", "daily_at 01:30", lambda e: e.daily_at("01:30"),
         ["2026-09-05 05:30", "2026-09-06 04:30"]),
    case("santiago-spring", "hourly_at 15", lambda e: e.hourly_at(15),
         span("2026-09-05 03:15", "2026-09-07 03:15", 60, 49)),
    case("santiago-spring", "every_fifteen_minutes", lambda e: e.every_fifteen_minutes(),
         span("2026-09-05 03:00", "2026-09-07 03:45", 15, 196)),
    case("santiago-spring", "twice_daily", lambda e: e.twice_daily(),
         ["2026-09-05 05:00", "2026-09-05 17:00", "2026-09-06 04:00", "2026-09-06 16:00"]),
    case("santiago-spring", "cron */30 2", lambda e: e.cron("*/30 2 * * *"),
         ["2026-09-05 06:00", "2026-09-05 06:30", "2026-09-06 05:00", "2026-09-06 05:30"]),
    case("santiago-spring", "cron */30 0 (wildcard, hour 0 missing on Sep 6)",
         lambda e: e.cron("*/30 0 * * *"),
         ["2026-09-05 04:00", "2026-09-05 04:30", "2026-09-07 03:00", "2026-09-07 03:30"]),
    case("santiago-spring", "weekly_on sunday 00:15 (in the gap)",
         lambda e: e.weekly_on("sunday", "00:15"), ["2026-09-06 04:00"]),
    case("santiago-spring", "weekly_on saturday 00:15",
         lambda e: e.weekly_on("saturday", "00:15"), ["2026-09-05 04:15"]),
    case("santiago-spring", "daily_at 00:30 between 00:00-00:59",
         lambda e: e.daily_at("00:30").between("00:00", "00:59"),
         ["2026-09-05 04:30", "2026-09-06 04:00", "2026-09-07 03:30"]),
    case("santiago-spring", "daily_at 00:30 between 01:00-02:00",
         lambda e: e.daily_at("00:30").between("01:00", "02:00"), []),
    case("santiago-spring", "daily_at 00:30 unless_between 00:00-00:59",
         lambda e: e.daily_at("00:30").unless_between("00:00", "00:59"), []),
    # -- Havana, spring forward at midnight: Sun Mar 8 00:00-00:59 does not exist ---------
    case("havana-spring", "daily (midnight in the gap)", lambda e: e.daily(),
         ["2026-03-07 05:00", "2026-03-08 05:00", "2026-03-09 04:00"]),
    case("havana-spring", "daily_at 00:30 (in the gap on Mar 8)",
         lambda e: e.daily_at("00:30"),
         ["2026-03-07 05:30", "2026-03-08 05:00", "2026-03-09 04:30"]),
    case("havana-spring", "cron */30 0 (wildcard, hour 0 missing on Mar 8)",
         lambda e: e.cron("*/30 0 * * *"),
         ["2026-03-07 05:00", "2026-03-07 05:30", "2026-03-09 04:00", "2026-03-09 04:30"]),
    case("havana-spring", "hourly_at 15", lambda e: e.hourly_at(15),
         span("2026-03-07 04:15", "2026-03-09 04:15", 60, 49)),
    case("havana-spring", "weekly_on sunday 00:00 (in the gap)",
         lambda e: e.weekly_on("sunday", "00:00"), ["2026-03-08 05:00"]),
    # -- Havana, fall back at midnight: Sun Nov 1 00:00-00:59 happens twice ---------------
    case("havana-fall", "daily (midnight repeated: first pass)", lambda e: e.daily(),
         ["2026-10-31 04:00", "2026-11-01 04:00", "2026-11-02 05:00"]),
    case("havana-fall", "daily_at 00:30", lambda e: e.daily_at("00:30"),
         ["2026-10-31 04:30", "2026-11-01 04:30", "2026-11-02 05:30"]),
    case("havana-fall", "cron */30 0 (wildcard: both passes on Nov 1)",
         lambda e: e.cron("*/30 0 * * *"),
         ["2026-10-31 04:00", "2026-10-31 04:30",
          "2026-11-01 04:00", "2026-11-01 04:30", "2026-11-01 05:00", "2026-11-01 05:30",
          "2026-11-02 05:00", "2026-11-02 05:30"]),
    case("havana-fall", "hourly_at 15 (both passes)", lambda e: e.hourly_at(15),
         span("2026-10-31 03:15", "2026-11-02 05:15", 60, 51)),
    case("havana-fall", "weekly_on sunday 00:30 between 00:00-01:00",
         lambda e: e.weekly_on("sunday", "00:30").between("00:00", "01:00"),
         ["2026-11-01 04:30"]),
]

CASE_PARAMS = [pytest.param(c, id=f"{c.window}: {c.label}") for c in CASES]


def minutes_of(window: Window) -> list[datetime]:
    moment, end, minutes = utc(window.start), utc(window.end), []
    while moment < end:
        minutes.append(moment)
        moment += MINUTE
    return minutes


@cache
def ticked(window_key: str) -> dict[str, list[str]]:
    """Tick every minute of a window once, with every case of that window in one
    schedule; return the minutes each case's event was due, by label."""
    window = WINDOWS[window_key]
    schedule = Schedule()
    events = {}
    for c in CASES:
        if c.window == window_key:
            assert c.label not in events, f"duplicate label {c.label!r}"
            events[c.label] = c.build(schedule.job(task)).timezone(window.zone)
    runs: dict[str, list[str]] = {label: [] for label in events}
    labels = {id(event): label for label, event in events.items()}
    for minute in minutes_of(window):
        for event in schedule.due_events(minute, environment="production",
                                         in_maintenance=False):
            runs[labels[id(event)]].append(shown(minute))
    return runs


@pytest.mark.parametrize("c", CASE_PARAMS)
def test_tick_runs_exactly_at_the_hand_written_minutes(c: Case):
    assert ticked(c.window)[c.label] == c.expected


@pytest.mark.parametrize("c", CASE_PARAMS)
def test_next_due_chain_agrees_with_the_tick(c: Case):
    window = WINDOWS[c.window]
    schedule = Schedule()
    event = c.build(schedule.job(task)).timezone(window.zone)
    end = utc(window.end)
    chained = []
    moment = schedule.next_due(event, utc(window.start) - MINUTE)
    while moment is not None and moment < end:
        chained.append(shown(moment))
        moment = schedule.next_due(event, moment)
    assert chained == c.expected


def test_every_window_has_cases_for_each_required_frequency():
    # Guard the table itself: each DST transition of the four main zones has the
    # frequencies the issue names.
    required = ("daily_at", "hourly_at 15", "every_fifteen_minutes", "twice_daily",
                "cron */30 2", "weekly_on", "between")
    for key in WINDOWS:
        if key.startswith("havana"):
            continue
        labels = [c.label for c in CASES if c.window == key]
        for name in required:
            assert any(name in label for label in labels), (key, name)


class Transition(NamedTuple):
    zone: str
    instant: str  # first UTC minute with the new offset
    before: str  # local wall minute just before, in the old offset
    after: str  # local wall minute at `instant`, in the new offset


TRANSITIONS = [
    Transition("America/New_York", "2026-03-08 07:00", "2026-03-08 01:59", "2026-03-08 03:00"),
    Transition("America/New_York", "2026-11-01 06:00", "2026-11-01 01:59", "2026-11-01 01:00"),
    Transition("Europe/London", "2026-03-29 01:00", "2026-03-29 00:59", "2026-03-29 02:00"),
    Transition("Europe/London", "2026-10-25 01:00", "2026-10-25 01:59", "2026-10-25 01:00"),
    Transition("Australia/Lord_Howe", "2026-04-04 15:00", "2026-04-05 01:59",
               "2026-04-05 01:30"),
    Transition("Australia/Lord_Howe", "2026-10-03 15:30", "2026-10-04 01:59",
               "2026-10-04 02:30"),
    Transition("America/Santiago", "2026-04-05 03:00", "2026-04-04 23:59", "2026-04-04 23:00"),
    Transition("America/Santiago", "2026-09-06 04:00", "2026-09-05 23:59", "2026-09-06 01:00"),
    Transition("America/Havana", "2026-03-08 05:00", "2026-03-07 23:59", "2026-03-08 01:00"),
    Transition("America/Havana", "2026-11-01 05:00", "2026-11-01 00:59", "2026-11-01 00:00"),
]


@pytest.mark.parametrize("t", TRANSITIONS, ids=lambda t: f"{t.zone} {t.instant}")
def test_transitions_are_where_the_cases_assume(t: Transition):
    # The hand-written minutes above rest on these dates; if tzdata moves one, this
    # fails first and says which.
    zone = ZoneInfo(t.zone)
    instant = utc(t.instant)

    def wall(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    assert wall(instant - MINUTE) == t.before
    assert wall(instant) == t.after
    assert (instant - MINUTE).astimezone(zone).utcoffset() != instant.astimezone(zone).utcoffset()
    # and it is the only change in 2026 near there: a day either side is steady
    for hours in range(1, 25):
        assert (instant + timedelta(hours=hours)).astimezone(zone).utcoffset() == \
            instant.astimezone(zone).utcoffset()
        assert (instant - MINUTE - timedelta(hours=hours)).astimezone(zone).utcoffset() == \
            (instant - MINUTE).astimezone(zone).utcoffset()


@pytest.mark.parametrize(("zone", "build", "at", "wall"), [
    ("America/New_York", lambda e: e.daily_at("02:30"), "2026-03-08 07:00",
     "2026-03-08 02:30"),
    ("America/New_York", lambda e: e.cron("0,30 2 * * *").between("02:15", "02:45"),
     "2026-03-08 07:00", "2026-03-08 02:30"),
    ("America/New_York", lambda e: e.daily_at("03:00"), "2026-03-08 07:00",
     "2026-03-08 03:00"),
    ("Australia/Lord_Howe", lambda e: e.daily_at("02:15"), "2026-10-03 15:30",
     "2026-10-04 02:15"),
    ("America/Santiago", lambda e: e.daily(), "2026-09-06 04:00", "2026-09-06 00:00"),
    ("America/Havana", lambda e: e.weekly_on("sunday", "00:45"), "2026-03-08 05:00",
     "2026-03-08 00:45"),
    ("America/New_York", lambda e: e.hourly_at(30), "2026-11-01 06:30", "2026-11-01 01:30"),
])
def test_a_caught_up_run_reports_the_wall_time_it_was_meant_for(zone, build, at, wall):
    schedule = Schedule()
    event = build(schedule.job(task)).timezone(zone)
    due = schedule.due_with_wall_times(utc(at), "production", False)
    assert [(e, w.strftime("%Y-%m-%d %H:%M")) for e, w in due] == [(event, wall)]


# -- day fields: the Vixie rule -----------------------------------------------------------

FEBRUARY_2026 = Window("UTC", "2026-02-01 00:00", "2026-03-01 00:00")
# February 2026 starts on a Sunday; its Fridays are the 6th, 13th, 20th and 27th and
# its Mondays the 2nd, 9th, 16th and 23rd.
DAY_FIELD_CASES = [
    # both restricted: either may match
    ("0 0 13 * 5", ["02-06", "02-13", "02-20", "02-27"]),
    ("0 0 1-7 * 1", ["02-01", "02-02", "02-03", "02-04", "02-05", "02-06", "02-07",
                     "02-09", "02-16", "02-23"]),
    ("0 0 10,11 * fri", ["02-06", "02-10", "02-11", "02-13", "02-20", "02-27"]),
    # one side starts with `*`: both must match
    ("0 0 * * 5", ["02-06", "02-13", "02-20", "02-27"]),
    ("0 0 13 * *", ["02-13"]),
    ("0 0 */2 * 5", ["02-13", "02-27"]),  # odd days (1,3,...) that are Fridays
    ("0 0 10-20 * */2", ["02-10", "02-12", "02-14", "02-15", "02-17", "02-19"]),  # Sun/Tue/Thu/Sat
]


@pytest.fixture(scope="module")
def february_ticks() -> dict[str, list[str]]:
    schedule = Schedule()
    events = {expression: schedule.job(task).cron(expression).timezone("UTC")
              for expression, _ in DAY_FIELD_CASES}
    runs: dict[str, list[str]] = {expression: [] for expression in events}
    by_id = {id(event): expression for expression, event in events.items()}
    for minute in minutes_of(FEBRUARY_2026):
        for event in schedule.due_events(minute, environment="production",
                                         in_maintenance=False):
            runs[by_id[id(event)]].append(minute.strftime("%m-%d %H:%M"))
    return runs


@pytest.mark.parametrize(("expression", "days"), DAY_FIELD_CASES)
def test_day_fields_follow_the_vixie_rule(february_ticks, expression, days):
    assert february_ticks[expression] == [f"{day} 00:00" for day in days]
    schedule = Schedule()
    event = schedule.job(task).cron(expression).timezone("UTC")
    chained = []
    moment = schedule.next_due(event, utc(FEBRUARY_2026.start) - MINUTE)
    while moment is not None and moment < utc(FEBRUARY_2026.end):
        chained.append(moment.strftime("%m-%d %H:%M"))
        moment = schedule.next_due(event, moment)
    assert chained == [f"{day} 00:00" for day in days]


def test_friday_the_13th_in_a_dst_zone_runs_once_on_each_matching_local_day():
    # 2026-03-13 is a Friday; New York is on EDT (-4) by then.
    schedule = Schedule()
    event = schedule.job(task).cron("30 9 13 * 5").timezone("America/New_York")
    chained = []
    moment = schedule.next_due(event, utc("2026-03-01 00:00"))
    while moment is not None and moment < utc("2026-03-21 00:00"):
        chained.append(shown(moment))
        moment = schedule.next_due(event, moment)
    # Fri Mar 6 (EST, -5), Fri Mar 13 (EDT, -4: one run although day and weekday both
    # match), Fri Mar 20 (EDT)
    assert chained == ["2026-03-06 14:30", "2026-03-13 13:30", "2026-03-20 13:30"]
