"""`scheduler.notify` against real servers on 127.0.0.1: aiosmtpd and http.server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from scheduler.notify import (
    MailSettings,
    output_mail_subject,
    ping,
    send_mail,
)
from scheduler.settings import Settings
from scheduler.validation import validate_address, validate_url
from tests.servers import MailServer, free_port

# aiosmtpd warns (per connection) that AUTH without TLS is unsafe: the login tests do that
# on purpose, on 127.0.0.1.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

def settings_with(**values: str) -> Settings:
    return Settings.load(Path("/nonexistent-project"), {"APP_TIMEZONE": "UTC", **values})


# --- MailSettings.from_settings ----------------------------------------------------------


def test_mail_settings_defaults() -> None:
    mail = MailSettings.from_settings(settings_with())
    assert (mail.host, mail.port, mail.username, mail.password, mail.encryption) == (
        "127.0.0.1", 25, "", "", "")
    assert mail.sender == f"scheduler@{socket.gethostname()}"
    assert mail.timeout == 10.0


@pytest.mark.parametrize(("encryption", "port", "expected"), [
    ("tls", "", ("tls", 587)),
    ("TLS", "", ("tls", 587)),
    (" Ssl ", "", ("ssl", 465)),
    ("ssl", "2465", ("ssl", 2465)),
    ("", "1025", ("", 1025)),
])
def test_mail_settings_encryption_picks_the_default_port(
        encryption: str, port: str, expected: tuple[str, int]) -> None:
    mail = MailSettings.from_settings(settings_with(MAIL_ENCRYPTION=encryption, MAIL_PORT=port))
    assert (mail.encryption, mail.port) == expected


def test_mail_settings_reads_every_value() -> None:
    mail = MailSettings.from_settings(settings_with(
        MAIL_HOST="smtp.example.com", MAIL_USERNAME="ops", MAIL_PASSWORD="pw",
        MAIL_FROM="cron@example.com", MAIL_TIMEOUT="2.5"))
    assert mail == MailSettings("smtp.example.com", 25, "ops", "pw", "cron@example.com", "", 2.5)


@pytest.mark.parametrize(("name", "value"), [
    ("MAIL_ENCRYPTION", "starttls"),
    ("MAIL_PORT", "smtp"),
    ("MAIL_PORT", "0"),
    ("MAIL_PORT", "70000"),
    ("MAIL_TIMEOUT", "-1"),
    ("MAIL_TIMEOUT", "soon"),
    ("MAIL_FROM", "not an address"),
])
def test_mail_settings_rejects_bad_values_naming_setting_and_value(name: str, value: str) -> None:
    with pytest.raises(ValueError) as raised:
        MailSettings.from_settings(settings_with(**{name: value}))
    assert name in str(raised.value) and repr(value) in str(raised.value)


# --- send_mail ---------------------------------------------------------------------------


def test_send_mail_delivers_a_utf8_plain_text_message(smtp: MailServer) -> None:
    body = "Output:\ncafé ✓ — done\n"
    error = send_mail(smtp.settings(), ["ops@example.test", "dev@example.test"],
                      "Scheduled task \"café\" succeeded", body)
    assert error is None
    [received] = smtp.inbox.received
    assert received.sender == "scheduler@example.test"
    assert received.recipients == ["ops@example.test", "dev@example.test"]
    message = received.message
    assert message["From"] == "scheduler@example.test"
    assert message["To"] == "ops@example.test, dev@example.test"
    assert message["Subject"] == "Scheduled task \"café\" succeeded"
    assert message["Message-ID"].endswith("@example.test>")
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    # Lines travel with CRLF endings, as SMTP requires.
    assert message.get_content().replace("\r\n", "\n") == body


def test_send_mail_to_a_closed_port_returns_an_error_naming_the_server() -> None:
    port = free_port()
    error = send_mail(MailSettings(port=port, timeout=2), ["ops@example.test"], "s", "b")
    assert error is not None and "\n" not in error
    assert f"127.0.0.1:{port}" in error and "connection refused" in error


def test_send_mail_to_a_silent_server_times_out() -> None:
    # A listening socket nobody answers on: the connection succeeds, no greeting comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        error = send_mail(MailSettings(port=port, timeout=0.5), ["ops@example.test"], "s", "b")
    assert time.monotonic() - started < 1.5
    assert error == f"could not send mail via 127.0.0.1:{port}: timed out after 0.5s"


def test_send_mail_reports_a_refused_recipient(smtp: MailServer) -> None:
    smtp.inbox.refuse.add("gone@example.test")
    error = send_mail(smtp.settings(), ["ops@example.test", "gone@example.test"], "s", "b")
    assert error is not None
    assert "gone@example.test" in error and "550" in error and "ops@example.test" not in error
    # The others still got it.
    assert [r.recipients for r in smtp.inbox.received] == [["ops@example.test"]]


def test_send_mail_reports_when_every_recipient_is_refused(smtp: MailServer) -> None:
    smtp.inbox.refuse.add("gone@example.test")
    error = send_mail(smtp.settings(), ["gone@example.test"], "s", "b")
    assert error is not None and "every recipient was refused" in error
    assert smtp.inbox.received == []


def test_send_mail_with_no_recipients_is_an_error_not_a_crash(smtp: MailServer) -> None:
    assert send_mail(smtp.settings(), [], "s", "b") == (
        f"could not send mail via 127.0.0.1:{smtp.port}: no recipients")


def test_starttls_against_a_server_without_it_is_an_error(smtp: MailServer) -> None:
    error = send_mail(smtp.settings(encryption="tls"), ["ops@example.test"], "s", "b")
    assert error is not None and f"127.0.0.1:{smtp.port}" in error
    assert "STARTTLS" in error
    assert smtp.inbox.received == []


def test_ssl_against_a_plain_server_is_an_error(smtp: MailServer) -> None:
    error = send_mail(smtp.settings(encryption="ssl"), ["ops@example.test"], "s", "b")
    assert error is not None and error.startswith(f"could not send mail via 127.0.0.1:{smtp.port}")
    assert smtp.inbox.received == []


def test_send_mail_logs_in_when_a_username_is_set(smtp_with_login: MailServer) -> None:
    server = smtp_with_login
    assert send_mail(server.settings(username="ops", password="s3cret"),
                     ["ops@example.test"], "s", "body") is None
    assert server.logins == [("ops", "s3cret")]
    assert len(server.inbox.received) == 1


def test_a_wrong_password_is_an_error(smtp_with_login: MailServer) -> None:
    server = smtp_with_login
    error = send_mail(server.settings(username="ops", password="nope"),
                      ["ops@example.test"], "s", "b")
    assert error is not None and "535" in error and f"127.0.0.1:{server.port}" in error
    assert server.inbox.received == []


def test_without_a_username_there_is_no_login(smtp_with_login: MailServer) -> None:
    server = smtp_with_login
    error = send_mail(server.settings(), ["ops@example.test"], "s", "b")
    # The server requires authentication, so the message is refused; no login was tried.
    assert error is not None and "530" in error
    assert server.logins == []


def test_a_non_ascii_password_is_an_error_not_a_crash(smtp_with_login: MailServer) -> None:
    error = send_mail(smtp_with_login.settings(username="ops", password="café"),
                      ["ops@example.test"], "s", "b")
    assert error is not None and error.startswith("could not send mail via 127.0.0.1:")


def test_a_line_break_in_a_recipient_is_an_error_not_a_crash(smtp: MailServer) -> None:
    error = send_mail(smtp.settings(), ["ops@example.test\nBcc: x@example.test"], "s", "b")
    assert error is not None and "\n" not in error
    assert smtp.inbox.received == []


# --- output_mail_subject -----------------------------------------------------------------


def test_output_mail_subject() -> None:
    assert output_mail_subject("backup", True, 0) == 'Scheduled task "backup" succeeded'
    assert output_mail_subject("backup", False, 3) == (
        'Scheduled task "backup" failed (exit code 3)')
    assert output_mail_subject("a\n  b", True, 0) == 'Scheduled task "a b" succeeded'
    long = output_mail_subject("x" * 500, False, 1)
    assert len(long) < 160 and "…" in long and long.endswith("(exit code 1)")


# --- ping --------------------------------------------------------------------------------


def test_ping_success_records_the_request(http_server: tuple[str, list[tuple[str, str]]]) -> None:
    base, requests = http_server
    assert ping(f"{base}/ping/abc-123?status=start&n=1", timeout=2) is None
    [(path, agent)] = requests
    assert path == "/ping/abc-123?status=start&n=1"
    assert "scheduler" in agent


def test_ping_follows_redirects(http_server: tuple[str, list[tuple[str, str]]]) -> None:
    base, requests = http_server
    assert ping(f"{base}/status/302", timeout=2) is None
    assert [path for path, _ in requests] == ["/status/302", "/landed"]


def test_ping_counts_an_unfollowed_3xx_as_an_answer(
        http_server: tuple[str, list[tuple[str, str]]]) -> None:
    base, _ = http_server
    assert ping(f"{base}/status/304", timeout=2) is None


@pytest.mark.parametrize("status", [404, 500])
def test_ping_error_status(http_server: tuple[str, list[tuple[str, str]]], status: int) -> None:
    base, _ = http_server
    url = f"{base}/status/{status}"
    assert ping(url, timeout=2) == f"ping {url} failed: HTTP {status} " + {
        404: "Not Found", 500: "Internal Server Error"}[status]


def test_ping_refused_connection() -> None:
    url = f"http://127.0.0.1:{free_port()}/ping"
    error = ping(url, timeout=2)
    assert error == f"ping {url} failed: connection refused"


def test_ping_timeout(http_server: tuple[str, list[tuple[str, str]]]) -> None:
    base, requests = http_server
    started = time.monotonic()
    error = ping(f"{base}/slow", timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert error == f"ping {base}/slow failed: timed out after 0.5s"
    assert [path for path, _ in requests] == ["/slow"]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http://", "",
                                 "http://[::1/"])
def test_ping_bad_url(url: str) -> None:
    error = ping(url)
    assert error is not None and error.startswith(f"ping {url} failed: ") and "\n" not in error


# --- validation tables -------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://example.com",
    "https://hc-ping.com/0f3c2b8e-uuid",
    "HTTPS://Example.COM:8443/ping?x=1#frag",
    "http://127.0.0.1:8000/",
    "http://[::1]:8080/ping",
    "http://user:pw@example.com/",
    "http://café.example/ping",
])
def test_valid_urls(url: str) -> None:
    assert validate_url(url) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("", "is not a URL"),
    ("example.com/ping", "is not an http:// or https:// URL"),
    ("ftp://example.com/", "is not an http:// or https:// URL"),
    ("file:///etc/passwd", "is not an http:// or https:// URL"),
    ("http://", "has no host"),
    ("https:///path", "has no host"),
    ("http://example.com:99999/", "has an invalid port"),
    ("http://example.com:port/", "has an invalid port"),
    ("http://exa mple.com/", "contains spaces or control characters"),
    ("http://[::1/ping", "has an invalid host"),
    ("http://example.com/café", "has non-ASCII characters after the host (percent-encode them)"),
    ("http://example.com/?q=✓", "has non-ASCII characters after the host (percent-encode them)"),
    ("http://example.com/\r\nX: y", "contains spaces or control characters"),
])
def test_invalid_urls(url: str, reason: str) -> None:
    assert validate_url(url) == f"{url!r} {reason}"


@pytest.mark.parametrize("address", [
    "ops@example.com",
    "first.last+cron@mail.example.co.uk",
    "root@localhost",
    "café@exemple.fr",
])
def test_valid_addresses(address: str) -> None:
    assert validate_address(address) is None


@pytest.mark.parametrize(("address", "reason"), [
    ("", "is not an e-mail address"),
    ("ops", "is not an e-mail address (something@domain)"),
    ("ops@@example.com", "is not an e-mail address (something@domain)"),
    ("a@b@example.com", "is not an e-mail address (something@domain)"),
    ("@example.com", "has nothing before the @"),
    ("ops@", "does not have a valid domain after the @"),
    ("ops@example..com", "does not have a valid domain after the @"),
    ("ops@.example.com", "does not have a valid domain after the @"),
    ("ops@example.com.", "does not have a valid domain after the @"),
    ("ops @example.com", "contains spaces, control characters or <>,;\" characters"),
    ("Ops <ops@example.com>", "contains spaces, control characters or <>,;\" characters"),
    ("a@example.com,b@example.com", "contains spaces, control characters or <>,;\" characters"),
    ("ops@example.com\nBcc: x@y.z", "contains spaces, control characters or <>,;\" characters"),
])
def test_invalid_addresses(address: str, reason: str) -> None:
    assert validate_address(address) == f"{address!r} {reason}"
