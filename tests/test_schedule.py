"""Which events are due in a minute: frequency, zone, windows, environment, maintenance."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scheduler import Schedule, schedule
from scheduler.clock import parse_instant
from scheduler.cron import compile_expression
from scheduler.settings import Settings, read_env_file
from scheduler.zones import zone_named

UTC = timezone.utc


def task() -> None:
    """A job."""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def due_minutes(s: Schedule, start: str, minutes: int) -> list[str]:
    first = at(start)
    return [(first + timedelta(minutes=i)).strftime("%m-%d %H:%M") for i in range(minutes)
            if s.due_events(first + timedelta(minutes=i), environment="production",
                            in_maintenance=False)]


def test_schedule_returns_the_process_wide_schedule_and_schedule_a_fresh_one() -> None:
    assert schedule() is schedule()
    assert Schedule() is not Schedule() and Schedule().events == []


def test_due_events_keeps_declaration_order() -> None:
    s = Schedule()
    first = s.job(task).hourly()
    s.job(task).daily_at("05:00")
    third = s.exec("true").every_minute()
    assert s.due_events(at("2026-01-01 06:00"), environment="production",
                        in_maintenance=False) == [first, third]


def test_seconds_of_the_instant_do_not_matter() -> None:
    s = Schedule()
    s.job(task).daily_at("02:00")
    assert s.due_events(at("2026-01-01 02:00:59.9"), environment="x", in_maintenance=False)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        Schedule().due_events(datetime(2026, 1, 1), environment="x", in_maintenance=False)


def test_event_time_zone_decides_the_wall_clock() -> None:
    s = Schedule()
    s.job(task).daily_at("09:00").timezone("Asia/Kolkata")
    assert due_minutes(s, "2026-06-01 00:00", 24 * 60) == ["06-01 03:30"]


def test_schedule_time_zone_is_the_default_for_its_events() -> None:
    s = Schedule(timezone="America/New_York")
    s.job(task).daily_at("09:00")
    assert due_minutes(s, "2026-06-01 00:00", 24 * 60) == ["06-01 13:00"]


def test_app_timezone_is_the_default_zone(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    from scheduler import settings as settings_module

    monkeypatch.setattr(settings_module, "_current",
                        Settings.load(tmp_path, {"APP_TIMEZONE": "Europe/Paris"}))
    s = Schedule()
    s.job(task).daily_at("09:00")
    assert due_minutes(s, "2026-06-01 00:00", 24 * 60) == ["06-01 07:00"]


def test_between_and_unless_between_windows() -> None:
    s = Schedule()
    s.job(task).hourly().between("9:00", "11:00")
    assert due_minutes(s, "2026-06-01 00:00", 24 * 60) == ["06-01 09:00", "06-01 10:00",
                                                          "06-01 11:00"]
    s = Schedule()
    s.job(task).every_thirty_minutes().unless_between("01:00", "23:00")
    assert due_minutes(s, "2026-06-01 00:00", 24 * 60) == ["06-01 00:00", "06-01 00:30",
                                                          "06-01 23:30"]


def test_a_window_may_wrap_past_midnight() -> None:
    s = Schedule()
    s.job(task).hourly().between("22:00", "2:00")
    assert due_minutes(s, "2026-06-01 00:00", 24 * 60) == [
        "06-01 00:00", "06-01 01:00", "06-01 02:00", "06-01 22:00", "06-01 23:00"]


def test_last_day_of_month_is_resolved_when_it_runs() -> None:
    s = Schedule()
    s.job(task).last_day_of_month("23:00")
    runs = [s.next_due(s.events[0], at("2028-01-15 00:00"))]
    for _ in range(3):
        previous = runs[-1]
        assert previous is not None
        runs.append(s.next_due(s.events[0], previous))
    assert [run.strftime("%Y-%m-%d %H:%M") for run in runs if run] == [
        "2028-01-31 23:00", "2028-02-29 23:00", "2028-03-31 23:00", "2028-04-30 23:00"]


def test_last_day_of_month_uses_the_events_zone() -> None:
    s = Schedule()
    s.job(task).last_day_of_month("00:30").timezone("Pacific/Auckland")
    # 00:30 on 30 April in Auckland (+12:00) is 12:30 UTC on 29 April.
    assert due_minutes(s, "2026-04-29 12:00", 60) == ["04-29 12:30"]


def test_environments_and_maintenance_filter_due_events() -> None:
    s = Schedule()
    production = s.job(task).environments("production")
    anywhere = s.job(task)
    essential = s.job(task).even_in_maintenance_mode()
    minute = at("2026-01-01 00:00")
    assert s.due_events(minute, environment="production", in_maintenance=False) == [
        production, anywhere, essential]
    assert s.due_events(minute, environment="staging", in_maintenance=False) == [
        anywhere, essential]
    assert s.due_events(minute, environment="production", in_maintenance=True) == [essential]


def test_the_vixie_rule_for_day_fields() -> None:
    either = compile_expression("0 0 13 * 5")
    both = compile_expression("0 0 */2 * 5")
    friday_12th = datetime(2026, 6, 12)
    saturday_13th = datetime(2026, 6, 13)
    assert either.matches(friday_12th) and either.matches(saturday_13th)
    # `*/2` starts with `*`, so both fields must match: odd days that are Fridays.
    assert both.matches(datetime(2026, 6, 5))  # a Friday on an odd day
    assert not both.matches(friday_12th)  # a Friday on an even day
    assert not both.matches(saturday_13th)  # an odd day that is not a Friday


def test_nth_weekday_of_the_month() -> None:
    second_monday = compile_expression("0 9 * * 1#2")
    assert second_monday.matches(datetime(2026, 6, 8, 9, 0))
    assert not second_monday.matches(datetime(2026, 6, 1, 9, 0))
    assert not second_monday.matches(datetime(2026, 6, 15, 9, 0))


def test_each_distinct_expression_is_compiled_once() -> None:
    assert compile_expression("*/7 * * * *") is compile_expression("*/7 * * * *")


def test_next_due_finds_a_leap_day_years_ahead() -> None:
    s = Schedule()
    event = s.job(task).yearly_on(2, 29, "12:00")
    assert s.next_due(event, at("2026-03-01 00:00")) == at("2028-02-29 12:00")


def test_parse_instant_accepts_iso_8601_forms() -> None:
    paris = zone_named("Europe/Paris")
    assert parse_instant("2026-03-08T07:00:00Z", paris) == at("2026-03-08 07:00")
    assert parse_instant("2026-03-08T02:30:00-05:00", paris) == at("2026-03-08 07:30")
    assert parse_instant("2026-06-01 09:00", paris) == at("2026-06-01 07:00")
    assert parse_instant("20260308T070000Z", paris) == at("2026-03-08 07:00")
    with pytest.raises(ValueError, match="not an ISO-8601 instant"):
        parse_instant("next tuesday", paris)


def test_settings_come_from_the_environment_over_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nAPP_ENV=staging\nexport APP_TIMEZONE='Europe/Paris'\n"
        "SCHEDULER_STORAGE=var/store\nSCHEDULER_KERNEL=\"app.kernel\"\n")
    loaded = Settings.load(tmp_path, {"APP_ENV": "production"})
    assert loaded.app_env == "production"
    assert str(loaded.timezone) == "Europe/Paris"
    assert loaded.storage == tmp_path / "var" / "store"
    assert loaded.kernel == "app.kernel"
    assert read_env_file(tmp_path / "missing") == {}


def test_a_bad_app_timezone_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="APP_TIMEZONE: unknown time zone 'Moon/Base'"):
        Settings.load(tmp_path, {"APP_TIMEZONE": "Moon/Base"})


def test_next_due_of_a_repeating_event_is_its_next_offset_second() -> None:
    s = Schedule()
    event = s.job(task).every(15).between("09:00", "09:30")
    assert s.next_due(event, at("2026-06-01 09:10:07")) == at("2026-06-01 09:10:15")
    assert s.next_due(event, at("2026-06-01 09:10:45")) == at("2026-06-01 09:11:00")
    assert s.next_due(event, at("2026-06-01 09:30:50")) == at("2026-06-02 09:00:00")
    assert s.next_due(event, at("2026-06-01 03:00:00")) == at("2026-06-01 09:00:00")
