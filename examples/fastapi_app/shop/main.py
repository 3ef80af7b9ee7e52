"""The web application: `uvicorn shop.main:app`.

With SHOP_RUN_SCHEDULER=1 the app also starts the scheduler (`schedule:work`) as a
managed subprocess from its lifespan; of N uvicorn workers, one starts it (see
shop.scheduler_process). Without it, run the scheduler as a service of its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from shop.scheduler_process import ManagedScheduler
from shop.storage import read_reports


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    scheduler = ManagedScheduler.start_once() if os.environ.get("SHOP_RUN_SCHEDULER") == "1" \
        else None
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.stop()


app = FastAPI(title="shop", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "pid": str(os.getpid())}


@app.get("/rates")
async def rates() -> dict[str, Any]:
    """The newest exchange rates, as the scheduled task last stored them."""
    reports = read_reports()
    return {"reports": len(reports), "latest": reports[-1] if reports else None}
