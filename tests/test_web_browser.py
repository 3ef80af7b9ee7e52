"""The status page in a real browser: `schedule:serve` on a free port, Debian's chromium
driven by playwright, over a history made by real ticks."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import Project
from tests.kernels import processes_started_in
from tests.servers import free_port
from tests.web_support import live_ticks

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TOKEN = "browser-test-token"


@pytest.fixture
def served(project: Project) -> Iterator[str]:
    """`artisan schedule:serve` over the project's history, with a dashboard token;
    its address."""
    live_ticks(project, SCHEDULER_DASHBOARD_TOKEN=TOKEN)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with processes_started_in(project.root, project.env) as start:
        server = start([sys.executable, str(project.root / "artisan"), "schedule:serve",
                        "--port", str(port)])
        deadline = time.monotonic() + 30
        while not _answers(f"{base}/health"):
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "schedule:serve did not answer"
            time.sleep(0.1)
        yield base


def _listening_addresses(port: int) -> list[str]:
    """The local addresses of the sockets listening on `port` (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                found.append(address)
    return found


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
        return True
    except httpx.HTTPError:
        return False


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _runs_recorded(base: str) -> list[dict[str, object]]:
    runs: list[dict[str, object]] = httpx.get(f"{base}/api/runs", timeout=10).json()
    return runs


def test_the_overview_task_and_timeline_pages_show_the_recorded_runs(
        served: str, browser: Browser, tmp_path: Path) -> None:
    # Bound to this machine only, by default.
    assert _listening_addresses(int(served.rsplit(":", 1)[1])) == ["0100007F"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(served + "/")
    rows = page.locator("#tasks tbody tr")
    assert rows.count() == 3
    tidy, broken = page.locator('tr[data-task="tidy"]'), page.locator('tr[data-task="broken"]')
    assert tidy.locator(".status").first.inner_text() == "ok"
    assert broken.locator(".status").first.inner_text() == "failed"
    assert "Every minute" in tidy.inner_text()
    # The 24-hour strip: one mark per run, coloured by its status (not only by class).
    marks = tidy.locator("rect.strip-run")
    assert marks.count() == 3
    assert broken.locator("rect.strip-run").count() == 1
    success = marks.first.evaluate("mark => getComputedStyle(mark).fill")
    failure = broken.locator("rect.strip-run").evaluate("mark => getComputedStyle(mark).fill")
    assert success == "rgb(26, 127, 55)" and failure == "rgb(207, 34, 46)"
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    assert (tmp_path / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A task, and the output of one of its runs.
    page.get_by_role("link", name="broken", exact=True).click()
    page.wait_for_url("**/task?name=broken")
    assert page.locator("#runs tbody tr").count() == 1
    page.locator("#runs summary", has_text="Output").click()
    assert "RuntimeError: disk on fire" in page.locator("#runs pre.output").inner_text()
    page.get_by_role("link", name="the whole output").click()
    assert "Traceback" in page.locator("#output").inner_text()

    # The timeline: one bar per recorded run.
    page.get_by_role("link", name="Timeline").click()
    bars = page.locator("#timeline rect.run")
    assert bars.count() == len(_runs_recorded(served)) == 4
    assert page.locator("#timeline g.row").count() == 3
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)


def test_run_now_needs_the_token_and_its_run_appears(served: str, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(served + "/")
    # Not signed in: no button; and a form on another site cannot act for the viewer.
    assert page.get_by_role("button", name="Run tidy now").count() == 0
    _forged_post(page, served)
    assert "Refused" in page.locator("body").inner_text()
    before = len(_runs_recorded(served))

    page.goto(served + "/")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Run tidy now").click()
    page.wait_for_url("**/task?name=tidy")
    by_hand = page.locator("#runs tbody tr", has_text="by hand")
    deadline = time.monotonic() + 30
    while not (by_hand.count() == 1 and "success" in by_hand.inner_text()):
        assert time.monotonic() < deadline, page.locator("#runs").inner_text()
        time.sleep(0.3)
        page.reload()
    assert len(_runs_recorded(served)) == before + 1

    # Signed in, a forged form is still refused: it has no CSRF token, and the browser
    # sends no session cookie with a request from another site.
    _forged_post(page, served)
    assert "Refused" in page.locator("body").inner_text()
    assert len(_runs_recorded(served)) == before + 1
    context.close()


def _forged_post(page: Page, base: str) -> None:
    """Open a page of another site whose form posts "run tidy now" to the status page."""
    forged = (f'<form id="f" method="post" action="{base}/run">'
              f'<input name="name" value="tidy"><input name="csrf" value="guessed"></form>'
              f'<script>document.getElementById("f").submit()</script>')
    page.route("http://forger.test/", lambda route: route.fulfill(
        body=forged, content_type="text/html"))
    with page.expect_navigation(url=f"{base}/run"):
        page.goto("http://forger.test/")


@pytest.mark.parametrize(("scheme", "background"), [("light", "rgb(255, 255, 255)"),
                                                   ("dark", "rgb(13, 17, 23)")])
def test_the_pages_fit_a_phone_in_light_and_dark(served: str, browser: Browser, tmp_path: Path,
                                                 scheme: Literal["light", "dark"],
                                                 background: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme=scheme)
    for path in ("/", "/task?name=tidy"):
        page.goto(served + path)
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
        # Nothing wider than the phone: the tables become cards.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(served + "/")
    page.screenshot(path=str(tmp_path / f"phone-{scheme}.png"), full_page=True)
    assert page.get_by_label("Times in").input_value() == "UTC"
