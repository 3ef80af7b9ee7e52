"""The status page's routes: the HTML pages, `/health`, `/metrics`, the JSON API and
the actions. `router` is mounted by `schedule:serve` and by applications
(`app.include_router(router, prefix="/scheduler")`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from scheduler import settings as settings_module
from scheduler.history.store import RUN_STATUSES, RunRecord, StoreError
from scheduler.kernel import KernelError
from scheduler.listing import relative
from scheduler.runner import format_duration
from scheduler.settings import Settings
from scheduler.web import actions, timeline
from scheduler.web.state import (
    DAY,
    MAX_STRIP_RUNS,
    HistoryUnavailable,
    Snapshot,
    in_zone,
    load_kernel,
    read_state,
)
from scheduler.zones import UTC, zone_label, zone_named

ZONE_COOKIE = "scheduler_zone"
RUNS_PER_PAGE = 25
OUTPUT_SHOWN = 2000  # characters of each run's output on the task page
MAX_API_RUNS = 1000
STRIP_WIDTH = 240
MAX_BARS = 5000  # the timeline draws at most this many runs, the latest

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["duration"] = lambda seconds: "" if seconds is None else \
    format_duration(seconds)


# -- reading the state ------------------------------------------------------------------
@contextmanager
def snapshot_of(request: Request) -> Iterator[Snapshot]:
    """The state for this request; a kernel or history that cannot be read is a 503
    page saying why."""
    settings = settings_module.current()
    try:
        snapshot = read_state(settings)
    except (KernelError, HistoryUnavailable) as error:
        raise HTTPException(503, str(error)) from None
    try:
        yield snapshot
    except StoreError as error:
        raise HTTPException(503, f"Could not read {error}") from None
    finally:
        snapshot.close()


def viewer_zone(request: Request) -> tuple[tzinfo, bool]:
    """The zone the viewer chose (`?tz=`, remembered in a cookie), else APP_TIMEZONE;
    and whether `?tz=` chose it now (then the cookie is set)."""
    for text, chosen in ((request.query_params.get("tz"), True),
                         (request.cookies.get(ZONE_COOKIE), False)):
        if text:
            try:
                return zone_named(text), chosen
            except ValueError:
                if chosen:
                    raise HTTPException(400, f"tz={text!r}: not a known time zone "
                                             f"(e.g. Europe/Berlin, UTC)") from None
    return settings_module.current().timezone, False


def render(request: Request, template: str, snapshot: Snapshot, **context: Any) -> HTMLResponse:
    zone, chosen = viewer_zone(request)
    token = actions.dashboard_token(snapshot.settings)
    signed_in = actions.signed_in(token, request.cookies.get(actions.SESSION_COOKIE))
    now = snapshot.now

    def when(moment: datetime | None) -> str:
        return in_zone(moment, zone)

    def since(moment: datetime | None) -> str:
        if moment is None:
            return ""
        if moment >= now:
            return relative(moment, now)
        # "in 5 minutes" of the same distance ahead, said of the past.
        return relative(now + (now - moment), now).replace("in ", "", 1) + " ago"

    response = templates.TemplateResponse(request, template, {
        "snapshot": snapshot, "zone": zone_label(zone), "when": when, "since": since,
        "actions_enabled": token is not None, "signed_in": signed_in,
        "csrf": actions.csrf_value(token) if token and signed_in else "",
        "strip": lambda runs: strip(runs, now), **context})
    if chosen:
        response.set_cookie(ZONE_COOKIE, zone_label(zone), max_age=365 * 86400,
                            samesite="lax", httponly=True, path=_cookie_path(request))
    return response


def strip(runs: list[RunRecord], now: datetime) -> list[dict[str, Any]]:
    """The 24-hour strip of a task: one mark per run, x in 0..STRIP_WIDTH."""
    start = now - DAY
    marks = []
    for run in runs:
        fraction = (timeline.placed_at(run) - start).total_seconds() / DAY.total_seconds()
        marks.append({"x": round(min(1.0, max(0.0, fraction)) * (STRIP_WIDTH - 3), 1),
                      "run": run})
    return marks


# -- pages ---------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse, name="overview")
def overview(request: Request) -> Response:
    """Every task: when it runs, when it ran, how it is doing."""
    with snapshot_of(request) as snapshot:
        return render(request, "overview.html", snapshot, strip_width=STRIP_WIDTH,
                      max_strip_runs=MAX_STRIP_RUNS)


@router.get("/task", response_class=HTMLResponse, name="task")
def task_page(request: Request, name: str, page: int = 1) -> Response:
    """One task and its runs, newest first, RUNS_PER_PAGE a page."""
    page = max(1, page)
    with snapshot_of(request) as snapshot:
        task = snapshot.task(name)
        runs = snapshot.store.runs(task=name, limit=page * RUNS_PER_PAGE + 1)
        if task is None and not runs:
            raise HTTPException(404, f"There is no task {name!r} in the schedule or the "
                                     f"history.")
        shown = runs[(page - 1) * RUNS_PER_PAGE: page * RUNS_PER_PAGE]
        # The end of each run's output; the run's own page has all that was stored.
        outputs = {run.id: (snapshot.store.output(run.id) or "")[-OUTPUT_SHOWN:]
                   for run in shown}
        return render(request, "task.html", snapshot, task=task, name=name, runs=shown,
                      outputs=outputs, page=page, more=len(runs) > page * RUNS_PER_PAGE)


@router.get("/runs/{run_id}", response_class=HTMLResponse, name="run")
def run_page(request: Request, run_id: int) -> Response:
    """One run: its times, host, outcome and stored output."""
    with snapshot_of(request) as snapshot:
        run = snapshot.store.run(run_id)
        if run is None:
            raise HTTPException(404, f"There is no run #{run_id} in the history.")
        return render(request, "run.html", snapshot, run=run,
                      output=snapshot.store.output(run_id) or "")


@router.get("/timeline", response_class=HTMLResponse, name="timeline")
def timeline_page(request: Request, hours: float = 24, end: str | None = None) -> Response:
    """The runs of the last `hours` (up to `end`, default now) as a Gantt chart; up to
    now, also the next 24 hours of planned runs."""
    if not 0 < hours <= 24 * 31:
        raise HTTPException(400, f"hours={hours:g}: choose from more than 0 to {24 * 31}")
    zone = viewer_zone(request)[0]
    with snapshot_of(request) as snapshot:
        finish = snapshot.now if not end else _instant(end, "end", zone)
        start = finish - timedelta(hours=hours)
        runs = snapshot.store.runs(since=start, until=min(finish, snapshot.now)
                                   + timedelta(minutes=1), limit=MAX_BARS)
        chart = timeline.build(snapshot, runs, start, finish, zone)
        return render(request, "timeline.html", snapshot, chart=chart, hours=hours,
                      end=end or "", truncated=len(runs) == MAX_BARS, max_bars=MAX_BARS)


# -- machine-readable ------------------------------------------------------------------------
@router.get("/health", name="health")
def health(request: Request) -> JSONResponse:
    """200 when all is well; 503 with the reason when the scheduler does not tick or a
    task failed, is late or runs too long (the logic of `schedule:monitor`)."""
    try:
        with snapshot_of(request) as snapshot:
            state = snapshot.health
            body = state.as_json()
            body["reason"] = health_reason(snapshot)
            return JSONResponse(body, status_code=200 if state.exit_code == 0 else 503)
    except HTTPException as error:
        return JSONResponse({"status": "unknown", "reason": error.detail}, status_code=503)


def health_reason(snapshot: Snapshot) -> str:
    """The health in one sentence."""
    health = snapshot.health
    if health.last_tick is None:
        return "the scheduler has never ticked"
    if health.down:
        minutes = int((health.now - health.last_tick.minute).total_seconds() // 60)
        return f"the scheduler has not ticked for {minutes} minutes"
    troubled = [f"{task.name} is {task.state}" for task in health.tasks if task.state != "ok"]
    return "; ".join(troubled) or "all is well"


@router.get("/metrics", name="metrics")
def metrics(request: Request) -> Response:
    """The history's metrics in Prometheus' text format (as `schedule:metrics`)."""
    from scheduler.history.metrics import exposition

    with snapshot_of(request) as snapshot:
        try:
            text = exposition(snapshot.health, snapshot.store)
        except RuntimeError as error:
            raise HTTPException(501, str(error)) from None
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/api/tasks", name="api_tasks")
def api_tasks(request: Request) -> JSONResponse:
    """Every task as `schedule:list --json` shows it, with its description and health."""
    with snapshot_of(request) as snapshot:
        return JSONResponse([task.as_json() for task in snapshot.tasks])


@router.get("/api/runs", name="api_runs")
def api_runs(request: Request, task: str | None = None, status: str | None = None,
             since: str | None = None, limit: int = 100) -> JSONResponse:
    """Recorded runs, newest first, as `schedule:history --json` shows them."""
    if not 1 <= limit <= MAX_API_RUNS:
        raise HTTPException(400, f"limit={limit}: choose from 1 to {MAX_API_RUNS}")
    statuses = tuple(status.split(",")) if status else ()
    unknown = [name for name in statuses if name not in RUN_STATUSES]
    if unknown:
        raise HTTPException(400, f"status={unknown[0]!r}: choose from "
                                 f"{', '.join(RUN_STATUSES)}")
    with snapshot_of(request) as snapshot:
        start = _instant(since, "since", snapshot.settings.timezone) if since else None
        runs = snapshot.store.runs(task=task, statuses=statuses, since=start, limit=limit)
        return JSONResponse([run.as_json() for run in runs])


def _instant(text: str, name: str, zone: tzinfo) -> datetime:
    from scheduler.clock import parse_instant

    try:
        return parse_instant(text, zone).astimezone(UTC)
    except ValueError as error:
        raise HTTPException(400, f"{name}={text!r}: {error}") from None


# -- actions ----------------------------------------------------------------------------------
async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (parsed here: no multipart parser is needed for it)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {key: values[-1] for key, values in parse_qs(body).items()}


def _refused(why: str) -> HTTPException:
    return HTTPException(403, f"Refused: {why}.")


async def _authorised(request: Request) -> dict[str, str]:
    """The form of an action that may go ahead; 403 with the reason when it may not."""
    form = await _form(request)
    token = actions.dashboard_token(settings_module.current())
    header = request.headers.get("authorization", "")
    bearer = header[len("Bearer "):] if header.startswith("Bearer ") else None
    why = actions.action_allowed(
        token, bearer=bearer, cookie=request.cookies.get(actions.SESSION_COOKIE),
        csrf=form.get("csrf"), origin=request.headers.get("origin"),
        host=request.headers.get("host"))
    if why:
        raise _refused(why)
    return form


def _back(request: Request, to: str | None = None) -> RedirectResponse:
    return RedirectResponse(to or str(request.url_for("overview")), status_code=303)


@router.post("/login", name="login")
async def login(request: Request) -> Response:
    """Sign in with the dashboard token: a session cookie for the actions."""
    form = await _form(request)
    token = actions.dashboard_token(settings_module.current())
    if token is None:
        raise _refused(f"actions are off: {actions.TOKEN_SETTING} is not set")
    if not actions.same_origin(request.headers.get("origin"), request.headers.get("host")):
        raise _refused("the request came from another site")
    if not actions.token_matches(token, form.get("token")):
        raise _refused("the token is wrong")
    response = _back(request)
    response.set_cookie(actions.SESSION_COOKIE, actions.session_value(token), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https",
                        path=_cookie_path(request))
    return response


@router.post("/logout", name="logout")
async def logout(request: Request) -> Response:
    await _authorised(request)
    response = _back(request)
    response.delete_cookie(actions.SESSION_COOKIE, path=_cookie_path(request))
    return response


@router.post("/run", name="run_now")
async def run_now(request: Request) -> Response:
    """Start a task now, in a detached process; back to its page at once."""
    form = await _authorised(request)
    name = form.get("name", "")
    await run_in_threadpool(_start_task, settings_module.current(), name)
    return _back(request, str(request.url_for("task").include_query_params(name=name)))


def _start_task(settings: Settings, name: str) -> None:
    try:
        schedule = load_kernel(settings)
    except KernelError as error:
        raise HTTPException(503, str(error)) from None
    if not any(event.display_name == name for event in schedule.events):
        raise HTTPException(404, f"There is no task {name!r} in the schedule.")
    actions.run_now(settings, name)


@router.post("/pause", name="pause")
async def pause_schedule(request: Request) -> Response:
    """Pause the schedule on every server sharing it (as `schedule:pause`)."""
    await _authorised(request)
    await run_in_threadpool(_pause_or_resume, settings_module.current(), pausing=True)
    return _back(request)


@router.post("/resume", name="resume")
async def resume_schedule(request: Request) -> Response:
    """Resume the paused schedule (as `schedule:resume`)."""
    await _authorised(request)
    await run_in_threadpool(_pause_or_resume, settings_module.current(), pausing=False)
    return _back(request)


def _pause_or_resume(settings: Settings, *, pausing: bool) -> None:
    """Pause or resume, and tell the kernel's listeners when it changed anything."""
    from scheduler.mutex import MutexUnavailable, backend_for
    from scheduler.pause import pause, resume

    try:
        backend = backend_for(settings)
        changed = (pause(backend, datetime.now(UTC)) is None) if pausing else resume(backend)
    except MutexUnavailable as error:
        raise HTTPException(503, str(error)) from None
    if changed:
        try:
            schedule = load_kernel(settings)
        except KernelError:
            return  # the change is made; the listeners cannot be told without a kernel
        schedule.listeners.dispatch("paused" if pausing else "resumed", {})


def _cookie_path(request: Request) -> str:
    """The router's own path, so the cookies go only to the status page."""
    path = request.url_for("overview").path
    return path.rstrip("/") or "/"
