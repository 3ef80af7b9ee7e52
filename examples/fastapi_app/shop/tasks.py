"""The shop's scheduled work: plain `async def` functions, as the rest of the app."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timezone

from shop.storage import reports_folder


async def fetch_rate(currency: str) -> float:
    """Stands in for an HTTP call to a rates service (an `await httpx...` in real life)."""
    await asyncio.sleep(0.05)
    return {"EUR": 1.0, "USD": 1.08, "GBP": 0.86}[currency]


async def refresh_exchange_rates() -> None:
    """Fetch the rates concurrently and store them as a report the API serves."""
    currencies = ["EUR", "USD", "GBP"]
    rates = await asyncio.gather(*(fetch_rate(currency) for currency in currencies))
    now = datetime.now(timezone.utc)
    report = {"kind": "rates", "at": now.isoformat(), "pid": os.getpid(),
              "rates": dict(zip(currencies, rates, strict=True))}
    path = reports_folder() / f"{now:%Y%m%dT%H%M%S%f}-rates.json"
    path.write_text(json.dumps(report))


async def prune_reports(keep: int = 100) -> None:
    """Keep only the newest `keep` reports."""
    await asyncio.sleep(0)
    for path in sorted(reports_folder().glob("*.json"))[:-keep]:
        path.unlink()
