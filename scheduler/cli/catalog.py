"""The commands artisan knows, read from the running command line application."""

from __future__ import annotations

import typer


def command_summaries(context: typer.Context) -> dict[str, str]:
    """Every command's name and the first line of its help."""
    root = context.find_root()
    group = root.command
    names = group.list_commands(root)  # type: ignore[attr-defined]
    summaries = {}
    for name in names:
        command = group.get_command(root, name)  # type: ignore[attr-defined]
        summaries[name] = command.get_short_help_str(limit=70) if command else ""
    return summaries


def command_names(context: typer.Context) -> list[str]:
    """Every command's name: artisan passes them all as the context's `obj`, since the
    application it runs may hold only the command that was asked for."""
    root = context.find_root()
    if isinstance(root.obj, list):
        return [str(name) for name in root.obj]
    return list(root.command.list_commands(root))  # type: ignore[attr-defined]
