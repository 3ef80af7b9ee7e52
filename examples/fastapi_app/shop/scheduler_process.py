"""Start the scheduler once from the web app's lifespan, however many workers it has.

`uvicorn --workers N` runs the lifespan in each of N processes; each would start a
scheduler. A lock file decides: the first worker to take it starts `schedule:work` and
hands the lock to that child, so the lock lives exactly as long as the scheduler (a
web worker that dies and is restarted finds it held and starts nothing).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys

from scheduler.settings import current

# How long schedule:work may take to finish its running ticks when the app stops.
STOP_GRACE_SECONDS = 30


class ManagedScheduler:
    """A `schedule:work` child of this web worker."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start_once(cls) -> ManagedScheduler | None:
        """Start `schedule:work` unless another process holds the lock already."""
        folder = current().storage / "framework"
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / "scheduler.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None  # another worker (or its scheduler) has it
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "schedule:work",
                 "--grace", str(STOP_GRACE_SECONDS),
                 *os.environ.get("SHOP_SCHEDULER_ARGS", "").split()],
                pass_fds=(descriptor,), stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            os.close(descriptor)  # the child holds the lock now
        return cls(process)

    def stop(self) -> None:
        """SIGTERM: schedule:work starts no more ticks and waits for the running ones."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS + 10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
