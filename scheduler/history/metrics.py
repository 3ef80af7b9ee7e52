"""`schedule:metrics`: the history's facts in Prometheus' text exposition format.

prometheus_client (the `[metrics]` extra) is imported here only, so no tick pays for
it. The values are read from the store at each scrape; nothing is kept in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scheduler.history.lateness import Health
from scheduler.history.store import Store


def exposition(health: Health, store: Store) -> bytes:
    """The metrics of `health` and `store`, as Prometheus scrapes them."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
    except ImportError:
        raise RuntimeError("schedule:metrics needs prometheus_client: "
                           "pip install 'artisan-scheduler[metrics]'") from None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_HistoryCollector(health, store))
    return bytes(generate_latest(registry))


class _HistoryCollector:
    """A custom collector: the metric families of one scrape."""

    def __init__(self, health: Health, store: Store) -> None:
        self.health = health
        self.store = store

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        runs = GaugeMetricFamily(
            "scheduler_task_runs", "Runs of each task in the history (the last "
            "SCHEDULER_HISTORY_DAYS days), by status.", labels=["task", "status"])
        for (name, status), count in sorted(self.store.counts().items()):
            runs.add_metric([name, status], count)
        yield runs
        successes = self.store.last_success_times()
        last_success = GaugeMetricFamily(
            "scheduler_task_last_success_timestamp_seconds",
            "When each task last finished successfully (Unix time).", labels=["task"])
        last_duration = GaugeMetricFamily(
            "scheduler_task_last_duration_seconds",
            "How long the last run of each task that ended took.", labels=["task"])
        lateness = GaugeMetricFamily(
            "scheduler_task_lateness_seconds",
            "How long ago the oldest due run with no record was due (0: not late).",
            labels=["task"])
        failing = GaugeMetricFamily(
            "scheduler_task_failing", "1 when the last run of the task failed or timed out.",
            labels=["task"])
        for task in self.health.tasks:
            if task.name in successes:
                last_success.add_metric([task.name], successes[task.name].timestamp())
            if task.last_run is not None and task.last_run.duration is not None:
                last_duration.add_metric([task.name], task.last_run.duration)
            late = (0.0 if task.late_since is None
                    else (self.health.now - task.late_since).total_seconds())
            lateness.add_metric([task.name], late)
            failing.add_metric([task.name], 1.0 if task.failed else 0.0)
        yield from (last_success, last_duration, lateness, failing)
        tick = self.health.last_tick
        last_tick = GaugeMetricFamily(
            "scheduler_last_tick_timestamp_seconds",
            "The minute of the latest recorded tick (Unix time).")
        last_tick.add_metric([], 0.0 if tick is None else tick.minute.timestamp())
        yield last_tick
        ticks = GaugeMetricFamily("scheduler_ticks", "Ticks in the history.")
        ticks.add_metric([], self.store.tick_count())
        yield ticks
        up = GaugeMetricFamily("scheduler_up", "1 while the scheduler ticks (a tick in the "
                                               "last two minutes), else 0.")
        up.add_metric([], 0.0 if self.health.down else 1.0)
        yield up
