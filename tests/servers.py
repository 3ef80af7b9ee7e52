"""Real servers on 127.0.0.1 for the tests: an SMTP server (aiosmtpd) and an HTTP server."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from scheduler.notify import MailSettings


def free_port() -> int:
    """A port nothing listens on (aiosmtpd's Controller cannot be given port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@dataclass
class MailServer:
    inbox: Inbox
    port: int
    logins: list[tuple[str, str]]

    def settings(self, **overrides: Any) -> MailSettings:
        values: dict[str, Any] = {"host": "127.0.0.1", "port": self.port,
                                  "sender": "scheduler@example.test", "timeout": 5.0}
        return MailSettings(**{**values, **overrides})


def start_mail_server(**smtp_options: Any) -> tuple[Controller, MailServer]:
    inbox = Inbox()
    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        logins.append((login, password))
        # handled=False: let aiosmtpd answer 535 itself on a failure.
        return AuthResult(success=(login, password) == ("ops", "s3cret"), handled=False)

    if smtp_options.pop("with_auth", False):
        smtp_options.update(authenticator=authenticator, auth_require_tls=False)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    return controller, MailServer(inbox, port, logins)


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    controller, server = start_mail_server()
    yield server
    controller.stop()


@pytest.fixture
def smtp_with_login() -> Iterator[MailServer]:
    controller, server = start_mail_server(with_auth=True, auth_required=True)
    yield server
    controller.stop()


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping must not hold up the teardown

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()  # ends the wait of /slow requests

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The client of /slow gave up before the answer: that is the point of the test.
        pass


class Handler(BaseHTTPRequestHandler):
    """GET /status/<code> answers <code>; /slow waits for the test's end; anything else 200."""

    def do_GET(self) -> None:
        assert isinstance(self.server, RecordingServer)
        self.server.requests.append((self.path, self.headers.get("User-Agent", "")))
        if self.path.startswith("/slow"):
            self.server.release.wait(5)
        code = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
        self.send_response(code)
        if code in (301, 302):
            self.send_header("Location", "/landed")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    # A proxy from the environment would see the requests instead of our server.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = RecordingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


