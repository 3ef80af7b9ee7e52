"""Retention: runs and ticks older than `SCHEDULER_HISTORY_DAYS` are deleted, a batch
per tick, so the store stays bounded without a tick ever spending long on it.

A tick deletes at most PRUNE_BATCH runs: far more than any schedule adds in a minute
(an `every_second()` task adds 60), so the backlog of a store that grew before
retention was set is worked off over a few ticks, and a store in its steady state is
trimmed of a minute's worth each tick. SQLite reuses the freed pages, so the file stops
growing once the oldest runs are being deleted as fast as new ones come.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.history.store import Store

PRUNE_BATCH = 2000


def prune(store: Store, now: datetime, days: float, batch: int = PRUNE_BATCH) -> int:
    """Delete up to `batch` runs and `batch` ticks that started more than `days` before
    `now`; return how many runs were deleted."""
    cutoff = now - timedelta(days=days)
    deleted = store.delete_older_than("runs", cutoff, batch)
    store.delete_older_than("ticks", cutoff, batch)
    return deleted
