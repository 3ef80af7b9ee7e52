"""What the tick says: each line to stdout and through the `scheduler` logger.

An application routes the tick's messages through its own logging by configuring the
logger named "scheduler" (in its kernel module, say). Each record carries the extra
fields `task` (the task's display name), `status` (DONE, FAIL, STARTED, SKIPPED) and
`duration` (seconds), None on lines that are not about one run.

stdout gets the same lines as text, or with `SCHEDULER_LOG_FORMAT=json` one JSON object
per line, for container log collectors, or with `off` nothing (the logger alone). A
stdout that cannot be written is dropped (see scheduler.streams); the logger still gets
every line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime

from scheduler.streams import write_line
from scheduler.zones import UTC

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

LOGGER_NAME = "scheduler"
FORMAT_VARIABLE = "SCHEDULER_LOG_FORMAT"
# `off`: nothing on stdout, for an application whose own logging (a root handler that
# `logging.basicConfig` set up, say) already shows the `scheduler` logger's records.
FORMATS = ("text", "json", "off")
# logging's levels, by number: the module itself is imported only when needed (below).
INFO, WARNING, ERROR = 20, 30, 40
LEVEL_NAMES = {INFO: "info", WARNING: "warning", ERROR: "error"}

_logger: logging.Logger | None = None


def scheduler_logger() -> logging.Logger | None:
    """The `scheduler` logger, or None while nothing in this process has imported
    `logging`: then no handler exists that could receive a record, and a tick of a
    kernel that logs nothing spares itself the import (it costs milliseconds a minute).
    """
    global _logger
    if _logger is None:
        logging = sys.modules.get("logging")
        if logging is None:
            return None
        _logger = logging.getLogger(LOGGER_NAME)
        # A library's logger stays silent unless the application configures it: without
        # this, logging's last-resort handler would print warnings again, on stderr.
        _logger.addHandler(logging.NullHandler())
    return _logger


Write = Callable[[str], None]


def write_stdout(line: str) -> None:
    """Print `line` on stdout, never raising for a closed, full or broken stdout."""
    write_line(sys.stdout, line)


def write_stderr(line: str) -> None:
    """Print `line` on stderr, never raising for a closed, full or broken stderr."""
    write_line(sys.stderr, line)


class TickLog:
    """Say a line of the tick: `tick_log("text", task=..., status=..., duration=...)`."""

    def __init__(self, write: Write | None = None, log_format: str = "") -> None:
        self.write = write or write_stdout
        chosen = log_format.strip().lower() or "text"
        self.json = chosen == "json"
        self.quiet = chosen == "off"
        if chosen not in FORMATS:
            self(f"Warning: {FORMAT_VARIABLE}={log_format!r} is not one of "
                 f"{', '.join(FORMATS)}; printing text.", level=WARNING)

    def __call__(self, message: str, *, task: str | None = None, status: str | None = None,
                 duration: float | None = None, level: int = INFO) -> None:
        text = self._record(message, level, task=task, status=status, duration=duration)
        if text is not None:
            self.write(text)

    def lines(self, messages: Sequence[tuple[str, str | None]]) -> None:
        """Say several lines at once, each `(message, task)`, at INFO: one write for
        them all (a dry run of thousands of events lists thousands of lines)."""
        texts = [self._record(message, INFO, task=task) for message, task in messages]
        if texts and not self.quiet:
            self.write("\n".join(text for text in texts if text is not None))

    def _record(self, message: str, level: int, *, task: str | None = None,
                status: str | None = None, duration: float | None = None) -> str | None:
        """Give the line to the logger; return it as stdout shows it (None: `off`)."""
        fields = {"task": task, "status": status, "duration": duration}
        logger = scheduler_logger()
        if logger is not None:
            logger.log(level, message, extra=fields)
        if self.quiet:
            return None
        if not self.json:
            return message
        import json  # for SCHEDULER_LOG_FORMAT=json only

        return json.dumps({
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": LEVEL_NAMES.get(level, str(level)),
            "message": message,
            **fields,
        }, ensure_ascii=False)
