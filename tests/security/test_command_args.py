"""Command arguments are a list, never a shell line: shell syntax in them is inert."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project

COMMAND = """
import sys
from pathlib import Path
from scheduler.cli import command
from scheduler.settings import current

@command("echo:args")
def echo_args(words: list[str]) -> None:
    (current().storage / "args.txt").write_text("\\n".join(words))
"""


def test_shell_syntax_in_command_arguments_is_passed_literally(project: Project,
                                                               tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    (project.root / "console" / "commands" / "echo_args.py").write_text(COMMAND)
    payloads = [f"; touch {pwned}", f"$(touch {pwned})", f"`touch {pwned}`",
                f"| touch {pwned}", "$HOME", "*"]
    project.kernel(f"""
from scheduler import schedule

def schedule_tasks():
    schedule().command("echo:args", *{payloads!r})
""")
    project.storage.mkdir(parents=True, exist_ok=True)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project.storage / "args.txt").read_text().split("\n") == payloads
    assert not pwned.exists()
