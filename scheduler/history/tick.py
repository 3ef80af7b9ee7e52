"""What one tick writes to the run history: the tick itself, at its start, and its runs.

A tick with nothing to run, the common case, must cost little: with the default SQLite
history it notes itself in the tick journal (scheduler.history.journal) and never
imports the database module. The database is opened when the tick has runs to record
(`TickHistory.record_runs`, before the first of them), and at the start when the journal
cannot take the tick: the first tick, a minute that had no tick (its due instants are
recorded as missed), a journal due for collecting, PostgreSQL (whose ticks other
servers' readers must see at once), or a journal that cannot be used (the store then
says why). Opening it takes in the journal and prunes a batch of old rows.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timedelta

from scheduler.settings import Settings
from scheduler.typing_names import TYPE_CHECKING
from scheduler.zones import UTC

if TYPE_CHECKING:
    from scheduler.history import HistoryConfig
    from scheduler.history.journal import NotedTick
    from scheduler.history.recorder import HistoryRecorder
    from scheduler.history.store import Store
    from scheduler.schedule import Schedule


class TickHistory:
    """The run history of one tick (see the module's docstring)."""

    def __init__(self, schedule: Schedule, settings: Settings, config: HistoryConfig,
                 tick: NotedTick, *, noted: bool) -> None:
        self.schedule = schedule
        self.settings = settings
        self.config = config
        self.tick = tick
        self.noted = noted  # the journal holds the tick: its row is written when collected
        self.recorder: HistoryRecorder | None = None

    @classmethod
    def begin(cls, schedule: Schedule, settings: Settings,
              minute: datetime) -> TickHistory | None:
        """Record the tick of `minute`: None when the history is off or its settings are
        wrong (said in one warning)."""
        from scheduler.history import recording_config
        from scheduler.history.journal import NotedTick, TickJournal

        config = recording_config(settings)
        if config is None:
            return None
        tick = NotedTick(minute.timestamp(), datetime.now(UTC).timestamp(), os.getpid(),
                         settings.host)
        noted = False
        if config.sqlite_path is not None:
            # Opening the store says what is wrong with a journal that cannot be used.
            with contextlib.suppress(OSError, ValueError):
                noted = TickJournal(config.sqlite_path, config.storage).note(tick)
        history = cls(schedule, settings, config, tick, noted=noted)
        if not noted:
            history.record_runs()
        return history

    def record_runs(self) -> HistoryRecorder:
        """Open the store and subscribe a recorder to the schedule's task events (once;
        before the tick's first run or skip); the tick's row too, unless the journal
        holds it. A store that fails is said in one warning, and the runs go on."""
        if self.recorder is not None:
            return self.recorder
        from scheduler.history import open_store
        from scheduler.history.recorder import HistoryRecorder

        store = open_store(self.config)
        self.recorder = HistoryRecorder(store, self.config, self.settings.host)
        self.recorder.subscribe(self.schedule.listeners)
        self.recorder.safely(lambda: self._open(store))
        return self.recorder

    def _open(self, store: Store) -> None:
        from scheduler.history.retention import prune

        store.ensure_schema()
        if not self.noted:
            previous = store.last_tick()
            store.record_tick(self.tick)
            minute = datetime.fromtimestamp(self.tick.minute, UTC)
            if previous is not None and minute - previous.minute > timedelta(minutes=1):
                from scheduler.history.lateness import record_missed  # only after a gap

                record_missed(store, self.schedule, previous.minute, minute, self.settings)
        prune(store, datetime.now(UTC), self.config.days)
