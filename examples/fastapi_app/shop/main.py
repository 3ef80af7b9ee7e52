"""The web application: `uvicorn shop.main:app`.

With SHOP_RUN_SCHEDULER=1 the app also starts the scheduler (`schedule:work`) as a
managed subprocess from its lifespan; of N uvicorn workers, one starts it (see
shop.scheduler_process). Without it, run the scheduler as a service of its own.

The scheduler's status page is mounted at /scheduler/, behind the shop's own admin
login (HTTP Basic, the password in SHOP_ADMIN_PASSWORD; unset, nobody gets in).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from scheduler.web import router as scheduler_status
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


def admin_only(credentials: Annotated[HTTPBasicCredentials, Depends(HTTPBasic())]) -> None:
    """The shop's own gate for its admin pages."""
    expected = os.environ.get("SHOP_ADMIN_PASSWORD", "")
    if not expected or not secrets.compare_digest(credentials.password.encode(),
                                                  expected.encode()):
        raise HTTPException(401, "admins only", headers={"WWW-Authenticate": "Basic"})


# Every route of the status page, its JSON and its actions, is behind admin_only.
app.include_router(scheduler_status, prefix="/scheduler", dependencies=[Depends(admin_only)])
