"""`artisan schedule:serve`: the status page on a server of its own (uvicorn).

Nothing of the web stack is imported until the command runs: artisan registers every
command each time it starts, ticks included.
"""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8089


def schedule_serve(
    host: Annotated[str, typer.Option(
        "--host", help="The address to listen on (127.0.0.1: this machine only).")]
        = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", min=1, max=65535,
                                      help="The port to listen on.")] = DEFAULT_PORT,
) -> None:
    """Serve the status page: the schedule, its runs, a timeline, /health and /metrics."""
    try:
        import uvicorn

        from scheduler.web import create_app
    except ImportError as error:
        from scheduler.web import EXTRA_HINT

        typer.echo(f"schedule:serve: {EXTRA_HINT} ({error})", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"The status page is at http://{host}:{port}/ (Ctrl+C stops it).")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("schedule:serve")(schedule_serve)
