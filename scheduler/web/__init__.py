"""The status page: the schedule, its runs and a timeline, in the browser.

    from scheduler.web import router
    app.include_router(router, prefix="/scheduler")

or `artisan schedule:serve` for a server of its own. It needs the `[web]` extra
(`pip install 'artisan-scheduler[web]'`); no tick imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

EXTRA_HINT = "the status page needs the [web] extra: pip install 'artisan-scheduler[web]'"

__all__ = ["create_app", "router"]


def create_app() -> FastAPI:
    """A FastAPI application that serves the status page at its root."""
    from fastapi import FastAPI

    from scheduler.web.pages import router

    app = FastAPI(title="Scheduler status", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app


def __getattr__(name: str) -> Any:
    if name == "router":
        try:
            from scheduler.web.pages import router
        except ImportError as error:
            raise ImportError(f"{EXTRA_HINT} ({error})") from None
        return router
    raise AttributeError(f"module 'scheduler.web' has no attribute {name!r}")


if TYPE_CHECKING:
    router: APIRouter
