"""The history's listener: each task event of a run becomes a row of the store.

`starting` records the run as `running` (so a run in progress, or one whose supervisor
was killed, is seen); `finished` records how it ended; `skipped` records a due run that
was not started, with its reason; `failed` without a start records a run that could not
start. The recorder is called in whichever process supervises the run, so background
runs are recorded by their supervisor and sub-minute runs by their own process.

Recording must never cost a task: the first error (the database is down, the disk is
full) is printed as one warning line, and the recorder then stays quiet in that
process; the runs go on unrecorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from scheduler.event import Event
from scheduler.history import HistoryConfig, warn_on_stderr
from scheduler.history.store import Store
from scheduler.listeners import Listeners
from scheduler.settings import Settings
from scheduler.typing_names import TYPE_CHECKING
from scheduler.zones import UTC

if TYPE_CHECKING:
    from typing import Any

    from scheduler.execution import RunOutcome
    from scheduler.schedule import Schedule

Warn = Callable[[str], None]
# What the recorder's listeners take (given when they subscribe: see Listeners.add).
LISTENS_WITH = frozenset({"event", "outcome"})


class HistoryRecorder:
    """Records the runs told to it by the task events into `store`."""

    def __init__(self, store: Store, config: HistoryConfig, host: str,
                 warn: Warn = warn_on_stderr) -> None:
        self.store = store
        self.config = config
        self.host = host
        self.warn = warn
        self.broken = False
        self._rows: dict[int, int] = {}  # id(outcome) -> the row of its run

    def subscribe(self, listeners: Listeners) -> None:
        """Listen to the task events a run's history is made of."""
        listeners.add("starting", self.on_starting, parameters=LISTENS_WITH)
        listeners.add("finished", self.on_finished, parameters=LISTENS_WITH)
        listeners.add("failed", self.on_failed, parameters=LISTENS_WITH)
        listeners.add("skipped", self.on_skipped, parameters=LISTENS_WITH)

    def safely(self, action: Callable[[], Any]) -> None:
        """Do `action`; the first error is one warning line, then the history is off in
        this process (a store that is down would otherwise cost every run a timeout)."""
        if self.broken:
            return
        try:
            action()
        except Exception as error:
            self.broken = True
            self.warn(f"runs are not being recorded in the run history: "
                      f"{_one_line(error)}")

    # -- the listeners --------------------------------------------------------------------
    def on_starting(self, event: Event, outcome: RunOutcome) -> None:
        def record() -> None:
            self._rows[id(outcome)] = self.store.insert_run(
                {**self._identity(event, outcome), "status": "running"})
        self.safely(record)

    def on_finished(self, event: Event, outcome: RunOutcome) -> None:
        row = self._rows.pop(id(outcome), None)
        ended = self._ending(outcome)

        def record() -> None:
            if row is None:
                self.store.insert_run({**self._identity(event, outcome), **ended})
            else:
                self.store.update_run(row, ended)
        self.safely(record)

    def on_failed(self, event: Event, outcome: RunOutcome) -> None:
        if not outcome.not_run:
            return  # a run that started and failed: `finished` recorded it
        self.safely(lambda: self.store.insert_run({
            **self._identity(event, outcome), "status": "failure",
            "message": outcome.not_run, "finished_at": datetime.now(UTC)}))

    def on_skipped(self, event: Event, outcome: RunOutcome) -> None:
        fields = {**self._identity(event, outcome), "status": "skipped",
                  "reason": outcome.skip_code, "message": outcome.skipped,
                  "finished_at": outcome.started}
        if outcome.skip_code == "other_server":
            self.safely(lambda: self.store.insert_once(fields))
        else:
            self.safely(lambda: self.store.insert_run(fields))

    # -- the columns --------------------------------------------------------------------
    def _identity(self, event: Event, outcome: RunOutcome) -> dict[str, Any]:
        return {"task": event.display_name, "expression": event.expression,
                "scheduled_at": outcome.scheduled, "host": self.host, "pid": os.getpid(),
                "started_at": outcome.started, "background": outcome.background,
                "attributes": event.attributes}

    def _ending(self, outcome: RunOutcome) -> dict[str, Any]:
        status = outcome.status
        errors = [error.splitlines()[0] for error in outcome.errors + outcome.hook_errors
                  if error.strip()]
        return {"status": outcome.result, "finished_at": datetime.now(UTC),
                "exit_code": status.code if status is not None else None,
                "signal": status.signal if status is not None else None,
                "duration": outcome.duration, "background": outcome.background,
                "message": "; ".join(errors) or None, "job_id": outcome.job_id,
                "output": output_tail(outcome.output, self.config.output_bytes)}


def output_tail(output: str, limit: int) -> str:
    """The last `limit` bytes of `output` (cut at a character boundary)."""
    if limit <= 0:
        return ""
    data = output.encode("utf-8", "replace")
    return data[-limit:].decode("utf-8", "ignore") if len(data) > limit else output


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


def record_runs(schedule: Schedule, settings: Settings) -> HistoryRecorder | None:
    """Subscribe a recorder to `schedule`'s task events, for a run started by hand with
    `schedule:test` (a tick's is subscribed by scheduler.history.tick); None when the
    history is off or its settings are wrong (said in one warning)."""
    from scheduler.history import open_store, recording_config

    config = recording_config(settings)
    if config is None:
        return None
    recorder = HistoryRecorder(open_store(config), config, settings.host)
    recorder.subscribe(schedule.listeners)
    return recorder
