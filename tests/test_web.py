"""The status page in process (FastAPI's TestClient): its JSON, /health, /metrics, the
timeline's geometry, and who may act. The runs it shows were made by real ticks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from html import unescape

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from scheduler import clock
from scheduler import settings as settings_module
from scheduler.settings import Settings
from scheduler.web import actions
from tests.conftest import Project
from tests.web_support import live_ticks, tick, web_project

NOW = datetime.fromisoformat("2026-03-28T23:11:30+00:00")
TICKS = ("2026-03-28T23:00:00Z", "2026-03-28T23:05:00Z", "2026-03-28T23:10:00Z")
TOKEN = "s3cret-dashboard-token"


def client_for(project: Project, monkeypatch: pytest.MonkeyPatch, *, now: datetime = NOW,
               prefix: str = "/scheduler", **env: str) -> TestClient:
    """A client of an application that mounts the router at `prefix`, with the
    project's settings and the clock at `now`."""
    from scheduler.web import router

    settings_module._current = Settings.load(project.root, {"APP_TIMEZONE": "UTC", **env})
    monkeypatch.setattr(clock, "now", lambda: now)
    app = FastAPI()
    app.include_router(router, prefix=prefix)
    return TestClient(app, base_url="http://testserver")


@pytest.fixture
def recorded(project: Project) -> Project:
    """Three ticks: `tidy` ran three times, `broken` once (and failed)."""
    web_project(project)
    for at in TICKS:
        tick(project, at)
    return project


@pytest.fixture
def live(project: Project) -> tuple[Project, datetime]:
    return project, live_ticks(project)


@pytest.fixture
def client(recorded: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with client_for(recorded, monkeypatch) as test_client:
        yield test_client


def test_api_tasks_describes_each_task_with_its_next_due_and_health(client: TestClient) -> None:
    tasks = {task["name"]: task for task in client.get("/scheduler/api/tasks").json()}
    assert list(tasks) == ["tidy", "broken", "nightly"]
    assert tasks["tidy"]["description"] == "Every 5 minutes"
    assert tasks["tidy"]["next_due"] == "2026-03-28T23:15:00+00:00"
    assert tasks["tidy"]["state"] == "ok"
    assert tasks["tidy"]["last_run"]["status"] == "success"
    assert tasks["broken"]["state"] == "failed"
    assert tasks["broken"]["description"] == "Every hour"
    # 02:30 in Berlin does not exist on 29 March 2026: it runs at the first minute after
    # the jump, 03:00 CEST, as the tick and schedule:list have it.
    assert tasks["nightly"]["description"] == "At 02:30"
    assert tasks["nightly"]["timezone"] == "Europe/Berlin"
    assert tasks["nightly"]["next_due"] == "2026-03-29T03:00:00+02:00"


def test_api_runs_lists_the_recorded_runs_newest_first_and_filters(client: TestClient) -> None:
    runs = client.get("/scheduler/api/runs").json()
    assert [(run["task"], run["status"]) for run in runs] == [
        ("tidy", "success"), ("tidy", "success"), ("broken", "failure"), ("tidy", "success")]
    assert [run["scheduled"] for run in runs if run["task"] == "tidy"] == [
        "2026-03-28T23:10:00+00:00", "2026-03-28T23:05:00+00:00", "2026-03-28T23:00:00+00:00"]
    failed = client.get("/scheduler/api/runs", params={"status": "failure"}).json()
    assert [run["task"] for run in failed] == ["broken"]
    assert len(client.get("/scheduler/api/runs", params={"task": "tidy", "limit": 2}).json()) == 2
    wrong = client.get("/scheduler/api/runs", params={"status": "exploded"})
    assert wrong.status_code == 400
    assert "status='exploded'" in wrong.json()["detail"]
    assert client.get("/scheduler/api/runs", params={"limit": 0}).status_code == 400


def test_health_is_503_naming_the_failed_task(client: TestClient) -> None:
    response = client.get("/scheduler/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["reason"] == "broken is failed"
    assert body["last_tick"]["minute"] == "2026-03-28T23:10:00+00:00"


def test_health_is_200_when_every_task_is_well(project: Project,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    web_project(project, """
        from scheduler import schedule
        def schedule_tasks():
            schedule().exec("true").every_five_minutes().name("fine")
    """)
    for at in TICKS:
        tick(project, at)
    with client_for(project, monkeypatch) as test_client:
        response = test_client.get("/scheduler/health")
    assert response.status_code == 200
    assert response.json()["reason"] == "all is well"


def test_health_is_503_when_the_scheduler_stopped_ticking(
        recorded: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    later = datetime.fromisoformat("2026-03-28T23:25:10+00:00")
    with client_for(recorded, monkeypatch, now=later) as test_client:
        response = test_client.get("/scheduler/health")
    assert response.status_code == 503
    assert response.json()["reason"] == "the scheduler has not ticked for 15 minutes"
    assert response.json()["status"] == "down"


def test_health_with_the_history_off_is_503_with_the_reason(
        recorded: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(recorded, monkeypatch, SCHEDULER_HISTORY="off") as test_client:
        response = test_client.get("/scheduler/health")
        page = test_client.get("/scheduler/")
    assert response.status_code == 503
    assert "SCHEDULER_HISTORY=off" in response.json()["reason"]
    assert page.status_code == 503


def test_metrics_are_the_prometheus_text_of_schedule_metrics(
        client: TestClient, recorded: Project) -> None:
    response = client.get("/scheduler/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'scheduler_task_runs{status="success",task="tidy"} 3.0' in response.text
    assert 'scheduler_task_failing{task="broken"} 1.0' in response.text
    assert "scheduler_up 1.0" in response.text
    command = recorded.artisan("schedule:metrics", "--at", NOW.isoformat())
    assert _samples(command.stdout) == _samples(response.text)


def _samples(text: str) -> set[str]:
    return {line for line in text.splitlines() if line and not line.startswith("#")}


def test_the_overview_shows_each_task_its_state_and_its_strip(
        live: tuple[Project, datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    project, now = live
    with client_for(project, monkeypatch, now=now) as test_client:
        html = test_client.get("/scheduler/").text
    rows = dict(re.findall(r'<tr data-task="([^"]+)">(.*?)</tr>', html, re.S))
    assert list(rows) == ["tidy", "broken", "nightly"]
    assert 'class="status ok">ok<' in rows["tidy"]
    assert 'class="status failed">failed<' in rows["broken"]
    assert "At 02:30" in rows["nightly"] and "Europe/Berlin" in rows["nightly"]
    # The strip: one mark per run of the last 24 hours, coloured by its status.
    assert re.findall(r'class="strip-run (\w+)"', rows["tidy"]) == ["success"] * 3
    assert re.findall(r'class="strip-run (\w+)"', rows["broken"]) == ["failure"]
    assert "strip-run" not in rows["nightly"]
    assert "Every minute" in rows["tidy"] and "in less than a minute" in rows["tidy"]
    assert "Run now" not in html  # no token: read-only


def test_times_are_shown_in_the_zone_the_viewer_chose(client: TestClient) -> None:
    page = client.get("/scheduler/", params={"tz": "Asia/Tokyo"})
    assert "2026-03-29 08:15:00 JST" in page.text  # tidy's next run, 23:15 UTC
    assert client.cookies.get("scheduler_zone", "").strip('"') == "Asia/Tokyo"
    assert "2026-03-29 08:15:00 JST" in client.get("/scheduler/").text  # remembered
    wrong = client.get("/scheduler/", params={"tz": "Mars/Olympus"})
    assert wrong.status_code == 400
    assert "Mars/Olympus" in wrong.json()["detail"]


def test_the_task_page_pages_its_runs_and_shows_their_output(
        recorded: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.web import pages

    monkeypatch.setattr(pages, "RUNS_PER_PAGE", 2)
    with client_for(recorded, monkeypatch) as test_client:
        first = test_client.get("/scheduler/task", params={"name": "tidy"}).text
        second = test_client.get("/scheduler/task", params={"name": "tidy", "page": 2}).text
        broken = test_client.get("/scheduler/task", params={"name": "broken"}).text
        missing = test_client.get("/scheduler/task", params={"name": "nope"})
    assert len(re.findall(r'<tr data-run-id="', first)) == 2
    assert "Older runs" in first and "Newer runs" not in first
    assert len(re.findall(r'<tr data-run-id="', second)) == 1
    assert "Newer runs" in second and "Older runs" not in second
    assert first.count("tidied 3 files") == 2
    assert "2026-03-28 23:10:00 UTC" in first  # the instant it was due
    assert "RuntimeError: disk on fire" in broken
    assert missing.status_code == 404


def test_a_run_page_holds_its_whole_output(client: TestClient) -> None:
    runs = client.get("/scheduler/api/runs", params={"task": "broken"}).json()
    page = client.get(f"/scheduler/runs/{runs[0]['id']}").text
    assert "Traceback" in page and "RuntimeError: disk on fire" in unescape(page)
    assert client.get("/scheduler/runs/999").status_code == 404


def test_the_timeline_draws_one_bar_per_run(live: tuple[Project, datetime],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project, now = live
    with client_for(project, monkeypatch, now=now) as test_client:
        html = test_client.get("/scheduler/timeline").text
        runs = test_client.get("/scheduler/api/runs").json()
        before = (now - timedelta(minutes=5)).isoformat()
        earlier = test_client.get("/scheduler/timeline", params={"hours": 1, "end": before})
    bars = re.findall(r'<rect class="run (\w+)" data-run-id="(\d+)"', html)
    assert len(runs) == 4
    assert sorted(int(run_id) for _, run_id in bars) == sorted(run["id"] for run in runs)
    assert sorted(status for status, _ in bars) == ["failure"] + ["success"] * 3
    # A window that ends before the ticks: none of their runs, and no plans.
    assert earlier.status_code == 200
    assert 'class="run ' not in earlier.text and 'class="planned' not in earlier.text


def test_the_timeline_plans_tonight_as_the_tick_will_run_it_dst_included(
        client: TestClient, recorded: Project) -> None:
    html = client.get("/scheduler/timeline").text
    rows = dict(re.findall(r'<g class="row" data-task="([^"]+)">(.*?)</g>', html, re.S))
    # 02:30 in Berlin does not exist on 29 March 2026: nightly's planned run sits at
    # the first minute after the jump (03:00 CEST, 01:00 UTC), where schedule:list has it.
    listed = json.loads(recorded.artisan("schedule:list", "--json", "--timezone", "UTC",
                                         "--at", NOW.isoformat()).stdout)
    nightly = next(task for task in listed if task["name"] == "nightly")
    assert nightly["next_due"] == "2026-03-29T01:00:00+00:00"
    assert re.findall(r'class="planned"[^>]*><title>([^<]+)<', rows["nightly"]) == [
        "due 2026-03-29 01:00:00 UTC"]
    for task in listed:  # every task's first planned run is its next due
        first = re.search(r'class="planned"[^>]*><title>[^<]*?(\d{4}-[\d-]+ [\d:]+) UTC',
                          rows[task["name"]])
        assert first is not None
        due = datetime.fromisoformat(task["next_due"])
        assert first.group(1) == f"{due:%Y-%m-%d %H:%M:%S}"
    hourly = re.findall(r'class="planned" data-count="(\d+)"', rows["broken"])
    assert sum(int(count) for count in hourly) == 24
    assert "DST: Europe/Berlin 02:00 → 03:00 (CEST)" in unescape(html)
    assert client.get("/scheduler/timeline", params={"hours": 0}).status_code == 400


def test_maintenance_and_pause_are_banners_and_hold_the_planned_runs(
        recorded: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    assert recorded.artisan("down").returncode == 0
    assert recorded.artisan("schedule:pause").returncode == 0
    with client_for(recorded, monkeypatch) as test_client:
        html = test_client.get("/scheduler/timeline").text
    assert "The schedule is paused" in html
    assert "The application is in maintenance mode" in html
    assert 'class="shade-paused"' in html and 'class="shade-maintenance"' in html
    assert 'class="planned"' not in html and 'class="planned held"' in html


# -- who may act -------------------------------------------------------------------------------
def test_without_a_token_there_are_no_actions_and_a_post_is_refused(
        client: TestClient, recorded: Project) -> None:
    html = client.get("/scheduler/").text
    assert "Run now" not in html and "Sign in" not in html and "Pause" not in html
    refused = client.post("/scheduler/run", data={"name": "tidy"})
    assert refused.status_code == 403
    assert "SCHEDULER_DASHBOARD_TOKEN is not set" in refused.text
    assert client.post("/scheduler/pause").status_code == 403
    assert recorded.artisan("schedule:list").stdout.count("paused") == 0


def test_with_a_token_the_viewer_signs_in_and_each_action_needs_the_csrf_token(
        recorded: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(recorded, monkeypatch, SCHEDULER_DASHBOARD_TOKEN=TOKEN) as test_client:
        before = test_client.get("/scheduler/").text
        assert "Sign in" in before and "Run now" not in before
        assert test_client.post("/scheduler/run", data={"name": "tidy"}).status_code == 403
        assert test_client.post("/scheduler/login", data={"token": "guess"}).status_code == 403
        signed = test_client.post("/scheduler/login", data={"token": TOKEN},
                                  follow_redirects=False)
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        assert "Path=/scheduler" in cookie
        page = test_client.get("/scheduler/").text
        assert page.count(">Run now<") == 3
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf is not None
        # Signed in, but a form without the CSRF token, or sent from another site, is
        # refused: that is what a forged cross-site POST looks like.
        no_csrf = test_client.post("/scheduler/pause", data={})
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
        elsewhere = test_client.post("/scheduler/pause", data={"csrf": csrf.group(1)},
                                     headers={"Origin": "http://evil.example"})
        assert elsewhere.status_code == 403 and "another site" in elsewhere.text
        assert "The schedule is paused" not in test_client.get("/scheduler/").text
        paused = test_client.post("/scheduler/pause", data={"csrf": csrf.group(1)},
                                  headers={"Origin": "http://testserver"},
                                  follow_redirects=False)
        assert paused.status_code == 303
        assert "The schedule is paused" in test_client.get("/scheduler/").text
        assert test_client.post("/scheduler/resume",
                                data={"csrf": csrf.group(1)}).status_code == 200
        assert "The schedule is paused" not in test_client.get("/scheduler/").text


def test_a_script_acts_with_the_bearer_token(recorded: Project,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(recorded, monkeypatch, SCHEDULER_DASHBOARD_TOKEN=TOKEN) as test_client:
        wrong = test_client.post("/scheduler/pause", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        right = test_client.post("/scheduler/pause", headers={"Authorization": f"Bearer {TOKEN}"},
                                 follow_redirects=False)
        assert right.status_code == 303
    assert "The schedule is paused" in recorded.artisan("schedule:list").stdout


def test_run_now_returns_at_once_and_the_run_is_recorded_like_any_other(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    web_project(project, """
        import time
        from pathlib import Path
        from scheduler import schedule

        def slow():
            while not Path("release").exists():
                time.sleep(0.05)
            print("released")

        def schedule_tasks():
            schedule().job(slow).daily_at("04:00").name("slow")
    """)
    tick(project, "2026-03-28T23:10:00Z")
    with client_for(project, monkeypatch, SCHEDULER_DASHBOARD_TOKEN=TOKEN) as test_client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        unknown = test_client.post("/scheduler/run", data={"name": "nope"}, headers=headers)
        assert unknown.status_code == 404
        response = test_client.post("/scheduler/run", data={"name": "slow"}, headers=headers,
                                    follow_redirects=False)
        # The request came back while the task still waits for its release file.
        assert response.status_code == 303
        assert response.headers["location"].endswith("/scheduler/task?name=slow")

        def recorded_runs() -> list[dict[str, object]]:
            runs: list[dict[str, object]] = test_client.get(
                "/scheduler/api/runs", params={"task": "slow"}).json()
            return runs

        _wait(lambda: [run["status"] for run in recorded_runs()] == ["running"])
        (project.root / "release").write_text("")
        _wait(lambda: [run["status"] for run in recorded_runs()] == ["success"])
        [run] = recorded_runs()
        assert run["scheduled"] is None  # by hand
        page = test_client.get(f"/scheduler/runs/{run['id']}").text
        assert "released" in page and "by hand" in page


def _wait(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    assert callable(condition)
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_session_cookie_and_csrf_token_change_with_the_token() -> None:
    assert actions.session_value("a") != actions.session_value("b")
    assert actions.csrf_value("a") != actions.csrf_value("b")
    assert actions.action_allowed("a", bearer=None, cookie=actions.session_value("b"),
                                  csrf=actions.csrf_value("b"), origin=None,
                                  host="h") == "not signed in"
    assert actions.action_allowed("a", bearer=None, cookie=actions.session_value("a"),
                                  csrf=actions.csrf_value("a"), origin="null",
                                  host="h") == "the request came from another site"


def test_a_tick_imports_nothing_of_the_web_stack(recorded: Project) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(recorded.root / "artisan"), "schedule:run",
         "--at", "2026-03-28T23:15:00Z"],
        capture_output=True, text=True, cwd=recorded.root, env=recorded.env, timeout=60)
    assert result.returncode == 0, result.stderr  # tidy ran (broken is due at :00 only)
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "scheduler.runner" in imported  # the list is the tick's own
    heavy = {"fastapi", "uvicorn", "jinja2", "cron_descriptor", "starlette",
             "scheduler.web", "scheduler.cli.web_command"}
    assert heavy & {name.split(".")[0] for name in imported} == set()
    assert not any(name.startswith("scheduler.web") for name in imported)


def test_a_kernel_that_fails_to_load_is_a_503_with_its_error(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    web_project(project, """
        def schedule_tasks():
            raise ValueError("no such queue: 'reports'")
    """)
    with client_for(project, monkeypatch) as test_client:
        page = test_client.get("/scheduler/")
        health = test_client.get("/scheduler/health")
    assert page.status_code == 503
    assert "no such queue: 'reports'" in page.json()["detail"]
    assert health.status_code == 503
    assert "schedule_tasks() in" in health.json()["reason"]


def test_sub_minute_tasks_are_planned_as_bands_of_their_runs(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    web_project(project, """
        from scheduler import schedule
        def schedule_tasks():
            schedule().exec("true").every_thirty_seconds().between("08:00", "09:59").name("poll")
    """)
    tick(project, "2026-03-28T23:10:00Z")
    with client_for(project, monkeypatch) as test_client:
        html = test_client.get("/scheduler/timeline").text
    bands = re.findall(r'class="planned" data-count="(\d+)"[^>]*><title>([^<]+)<', html)
    # 08:00 to 09:59 tomorrow: 120 minutes of two runs each, one band.
    assert bands == [("240", "240 runs due from 2026-03-29 08:00:00 UTC to "
                             "2026-03-29 09:59:00 UTC, every 30 s")]


def test_a_busy_task_shows_its_latest_runs_and_says_so(
        live: tuple[Project, datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.web import pages, state

    monkeypatch.setattr(state, "MAX_STRIP_RUNS", 2)
    monkeypatch.setattr(pages, "MAX_STRIP_RUNS", 2)
    monkeypatch.setattr(pages, "MAX_BARS", 3)
    project, now = live
    with client_for(project, monkeypatch, now=now) as test_client:
        overview = test_client.get("/scheduler/").text
        chart = test_client.get("/scheduler/timeline").text
    tidy = re.search(r'<tr data-task="tidy">(.*?)</tr>', overview, re.S)
    assert tidy is not None
    assert tidy.group(1).count('class="strip-run') == 2 and "the latest 2 runs" in tidy.group(1)
    assert chart.count('<rect class="run ') == 3
    assert "Only the latest 3 runs are drawn" in chart
