"""`artisan cache:clear`: empty the application's file cache (storage/cache)."""

import shutil

import typer

from scheduler.cli import command
from scheduler.settings import current


@command("cache:clear")
def cache_clear() -> None:
    """Remove every file in the application's cache folder."""
    cache = current().storage / "cache"
    removed = 0
    if cache.is_dir():
        for entry in cache.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
    typer.echo(f"Application cache cleared ({removed} entries removed).")
