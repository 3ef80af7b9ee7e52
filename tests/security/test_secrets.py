"""Secrets never printed: Redis URLs in every form redis-py takes, and MAIL_PASSWORD."""

from __future__ import annotations

import pytest

from scheduler.redaction import redact_url
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, history_dump
from tests.redis_support import free_port
from tests.servers import MailServer

SECRET = "Pa55-Geheim"

# The URL forms of redis-py's documentation (`Redis.from_url`), and passwords written
# into them without percent-encoding.
URLS = [
    (f"redis://:{SECRET}@localhost:6379/0", "redis://:***@localhost:6379/0"),
    (f"redis://user:{SECRET}@localhost:6379/0", "redis://user:***@localhost:6379/0"),
    (f"rediss://user:{SECRET}@localhost:6379/0", "rediss://user:***@localhost:6379/0"),
    (f"unix://user:{SECRET}@/path/to/socket.sock?db=0",
     "unix://user:***@/path/to/socket.sock?db=0"),
    (f"unix:///path/to/socket.sock?db=0&password={SECRET}",
     "unix:///path/to/socket.sock?db=0&password=***"),
    (f"redis://localhost:6379/0?password={SECRET}", "redis://localhost:6379/0?password=***"),
    (f"redis://localhost:6379?db=2&password={SECRET}&socket_timeout=3",
     "redis://localhost:6379?db=2&password=***&socket_timeout=3"),
    (f"redis://:{SECRET}#x@localhost:6379/0", "redis://:***@localhost:6379/0"),
    (f"redis://:{SECRET}/x@localhost:6379/0", "redis://:***@localhost:6379/0"),
    (f"redis://:{SECRET}?x@localhost:6379/0", "redis://:***@localhost:6379/0"),
    (f"redis://user:{SECRET}@x#/?@localhost:6379/0", "redis://user:***@localhost:6379/0"),
    (f"redis://localhost:6379/0?password={SECRET}#x", "redis://localhost:6379/0?password=***#***"),
    (f"redis://{SECRET}@localhost:6379", "redis://***@localhost:6379"),
    ("redis://localhost:6379/0", "redis://localhost:6379/0"),
]


@pytest.mark.parametrize(("url", "shown"), URLS)
def test_every_redis_url_form_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)


@pytest.mark.parametrize(("url", "_shown"), URLS[:-1])
def test_a_tick_and_schedule_list_never_print_the_redis_password(
        project: Project, url: str, _shown: str) -> None:
    port = free_port()  # nothing listens there: every form fails to connect
    url = url.replace("localhost:6379", f"127.0.0.1:{port}")
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().exec("echo solo").on_one_server()
    schedule().job(record, "plain")
""")
    env = {"SCHEDULER_CACHE_URL": url}
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env)
    listing = project.artisan("schedule:list", env=env)
    listing_json = project.artisan("schedule:list", "--json", env=env)
    log = history_dump(project.storage)
    assert "plain" in log  # the history holds the runs it is checked for
    for text in (result.stdout, result.stderr, listing.stdout, listing.stderr,
                 listing_json.stdout, listing_json.stderr, log):
        assert SECRET not in text and "Geheim" not in text
    assert "Skipping echo solo:" in result.stdout
    assert result.returncode == 1


@pytest.mark.parametrize("url", [f"redis://:{SECRET}@127.0.0.1:99999/0",
                                 f"redis://:{SECRET}[@127.0.0.1:6379/0",
                                 f"redis://:{SECRET}@[127.0.0.1:6379/0"])
def test_a_malformed_url_is_reported_without_its_password(project: Project, url: str) -> None:
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().exec("echo solo").on_one_server()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={"SCHEDULER_CACHE_URL": url})
    assert SECRET not in result.stdout + result.stderr
    assert "Skipping echo solo:" in result.stdout


def test_a_non_ascii_mail_password_is_never_shown_not_even_one_character(
        project: Project, smtp_with_login: MailServer) -> None:
    password = "geheim-päss"
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().exec("echo report").email_output_to("ops@example.test")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env={
        "MAIL_PORT": str(smtp_with_login.port), "MAIL_USERNAME": "ops",
        "MAIL_PASSWORD": password})
    printed = result.stdout + result.stderr + history_dump(project.storage)
    assert ("MAIL_USERNAME or MAIL_PASSWORD has characters other than ASCII, which SMTP "
            "login cannot send") in printed
    for piece in ("geheim", "ä", "position", "\\xe4"):
        assert piece not in printed
