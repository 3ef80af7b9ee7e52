"""Overlap and one-server mutexes on a real Redis, shared by many processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import redis

from scheduler.mutex import Acquired, Blocked, Holder
from scheduler.mutex.redis import RedisMutexBackend
from tests.conftest import Project

UTC = timezone.utc
MINUTE = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)












def test_an_expired_holder_is_overridden_with_a_warning(redis_url: str) -> None:
    backend = RedisMutexBackend(redis_url, "production")
    old = Holder("old-token", 4242, "elsewhere", datetime.now(UTC) - timedelta(hours=3))
    client = redis.Redis.from_url(redis_url)
    client.set("scheduler:production:overlap:key", old.to_json(), px=60000)
    assert isinstance(backend.acquire("key", timedelta(hours=4)), Blocked)
    taken = backend.acquire("key", timedelta(hours=2))
    assert isinstance(taken, Acquired) and taken.stale == old
    stored = json.loads(client.get("scheduler:production:overlap:key") or b"{}")
    assert stored["token"] == taken.lock.holder.token



def test_one_server_claims_expire_after_at_least_an_hour(redis_url: str) -> None:
    backend = RedisMutexBackend(redis_url, "production")
    assert backend.claim("key", MINUTE)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    [name] = client.keys("scheduler:production:server:*")
    assert name == "scheduler:production:server:key:20260308T070000"
    assert client.ttl(name) >= 3590


def test_tick_with_overlap_on_redis_and_clear_cache(project: Project, redis_url: str) -> None:
    project.kernel("""
import time
from scheduler import schedule

def slow():
    time.sleep(30)

def schedule_tasks():
    schedule().job(slow).name("slow").without_overlapping()
""")
    env = {**project.env, "SCHEDULER_CACHE_URL": redis_url}
    tick = subprocess.Popen([sys.executable, str(project.root / "artisan"), "schedule:run",
                             "--at", "2026-03-08T07:00:00Z"],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 20
        while not client.keys("scheduler:production:overlap:*"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                                 env={"SCHEDULER_CACHE_URL": redis_url})
        assert "Skipping slow: the previous run is still running" in second.stdout
        listed = json.loads(project.artisan("schedule:list", "--json",
                                            env={"SCHEDULER_CACHE_URL": redis_url}).stdout)
        assert listed[0]["running"]["pid"] == tick.pid
        cleared = project.artisan("schedule:clear-cache", env={"SCHEDULER_CACHE_URL": redis_url})
        assert cleared.stdout.strip() == "Deleting mutex for [slow]"
        assert client.keys("scheduler:production:overlap:*") == []
    finally:
        tick.kill()
        tick.wait()
