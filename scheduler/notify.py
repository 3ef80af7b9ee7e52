"""E-mail and health-check pings: how the scheduler tells the outside world about a run.

Both are best effort. A mail server that is down or a health-check URL that does not
answer must never stop the tick, so `send_mail` and `ping` never raise for network,
SMTP or HTTP problems: they return a one-line message saying what went wrong (naming
the server or the URL) and `None` when all went well; the caller reports the message
and carries on.

`validate_url` and `validate_address` are for definition time, so a typo in the
kernel is reported when the schedule is built rather than every minute at run time.
Standard library only.
"""

from __future__ import annotations

import http.client
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from scheduler.settings import Settings
from scheduler.validation import validate_address, validate_url

Encryption = Literal["tls", "ssl", ""]

ENCRYPTIONS: tuple[Encryption, ...] = ("tls", "ssl", "")

# The usual port for each kind of connection: 587 is the submission port, where
# STARTTLS is expected; 465 is SMTP over TLS from the first byte; 25 is plain SMTP,
# which is what a local relay (postfix, a development catcher) listens on.
DEFAULT_PORTS: dict[Encryption, int] = {"tls": 587, "ssl": 465, "": 25}

# Seconds for connecting and for each exchange with the mail server; long enough for a
# slow relay, short enough that a dead one does not hold up the tick for minutes.
DEFAULT_MAIL_TIMEOUT = 10.0

# A task's name is often its whole command line; subjects longer than this are cut.
SUBJECT_NAME_LIMIT = 100

USER_AGENT = "artisan-scheduler (health-check ping)"


@dataclass(frozen=True)
class MailSettings:
    """How to reach the mail server, from the `MAIL_*` settings."""

    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)  # never in a message or a repr
    sender: str = "scheduler@localhost"
    encryption: Encryption = ""
    timeout: float = DEFAULT_MAIL_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        """Read `MAIL_HOST`, `MAIL_PORT`, `MAIL_USERNAME`, `MAIL_PASSWORD`, `MAIL_FROM`,
        `MAIL_ENCRYPTION` and `MAIL_TIMEOUT`.

        Defaults: host 127.0.0.1; no encryption; port 587 with `tls` (STARTTLS), 465
        with `ssl` (TLS from the start), else 25; from `scheduler@<this host's name>`;
        a 10 second timeout. Raises ValueError, naming the setting and its value, for an
        encryption other than tls/ssl/empty (any case), a port that is not a number from
        1 to 65535, a timeout that is not a positive number, or a from address that does
        not look like one.
        """
        raw_encryption = settings.get("MAIL_ENCRYPTION").strip()
        encryption = raw_encryption.lower()
        if encryption not in ENCRYPTIONS:
            raise ValueError(
                f"MAIL_ENCRYPTION: {raw_encryption!r} is not one of 'tls' (STARTTLS), "
                "'ssl' (TLS from the start) or empty (none)")

        raw_port = settings.get("MAIL_PORT").strip()
        port = DEFAULT_PORTS[encryption]
        if raw_port:
            try:
                port = int(raw_port)
            except ValueError:
                port = 0
            if not 1 <= port <= 65535:
                raise ValueError(
                    f"MAIL_PORT: {raw_port!r} is not a port number (1 to 65535)")

        raw_timeout = settings.get("MAIL_TIMEOUT").strip()
        timeout = DEFAULT_MAIL_TIMEOUT
        if raw_timeout:
            try:
                timeout = float(raw_timeout)
            except ValueError:
                timeout = 0.0
            # `not timeout > 0` also catches NaN.
            if not timeout > 0 or timeout == float("inf"):
                raise ValueError(
                    f"MAIL_TIMEOUT: {raw_timeout!r} is not a positive number of seconds")

        sender = settings.get("MAIL_FROM").strip() or f"scheduler@{_hostname()}"
        problem = validate_address(sender)
        if problem is not None:
            raise ValueError(f"MAIL_FROM: {problem}")

        return cls(
            host=settings.get("MAIL_HOST").strip() or "127.0.0.1",
            port=port,
            username=settings.get("MAIL_USERNAME"),
            password=settings.get("MAIL_PASSWORD"),
            sender=sender,
            encryption=encryption,
            timeout=timeout,
        )

    @property
    def address(self) -> str:
        """`host:port`, with an IPv6 host in brackets, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def send_mail(mail: MailSettings, recipients: Sequence[str], subject: str,
              body: str) -> str | None:
    """Send a plain-text UTF-8 message; None when the server accepted it for everyone.

    Otherwise a one-line message naming `host:port` and the reason: the server is down,
    times out, refuses the login, a sender or some recipients, does not offer STARTTLS,
    presents a certificate that does not verify, and so on. Never raises for those.
    Certificates are checked against the system's trusted authorities, as a browser
    would. The login happens only when `mail.username` is set.
    """
    where = f"could not send mail via {mail.address}"
    if not recipients:
        return f"{where}: no recipients"
    try:
        message = _message(mail.sender, recipients, subject, body)
    except (ValueError, TypeError) as error:
        # A header that cannot be written (a line break in an address, say).
        return f"{where}: {_one_line(str(error))}"
    try:
        refused = _deliver(mail, message)
    except smtplib.SMTPRecipientsRefused as error:
        return f"{where}: every recipient was refused ({_refusals(error.recipients)})"
    except smtplib.SMTPResponseException as error:
        return f"{where}: the server answered {error.smtp_code} {_text(error.smtp_error)}"
    except smtplib.SMTPServerDisconnected as error:
        # smtplib turns a timeout waiting for a reply into a disconnection.
        if isinstance(error.__context__, TimeoutError):
            return f"{where}: timed out after {mail.timeout:g}s"
        return f"{where}: the server closed the connection ({_one_line(str(error))})"
    except smtplib.SMTPException as error:
        return f"{where}: {_one_line(str(error))}"
    except TimeoutError:
        return f"{where}: timed out after {mail.timeout:g}s"
    except ssl.SSLError as error:
        return f"{where}: TLS failed ({_one_line(error.reason or str(error))})"
    except OSError as error:
        return f"{where}: {_os_reason(error)}"
    except UnicodeError:
        # smtplib sends the login and password as ASCII only. Its error would quote the
        # offending character of the password and its position: say which setting only.
        return (f"{where}: MAIL_USERNAME or MAIL_PASSWORD has characters other than ASCII, "
                f"which SMTP login cannot send")
    if refused:
        return f"{where}: some recipients were refused ({_refusals(refused)})"
    return None


def output_mail_subject(task_name: str, succeeded: bool, exit_code: int) -> str:
    """`Scheduled task "backup" succeeded`, or `... failed (exit code 3)`.

    The name is put on one line (it may be a whole command) and cut after
    `SUBJECT_NAME_LIMIT` characters.
    """
    name = _one_line(task_name)
    if len(name) > SUBJECT_NAME_LIMIT:
        name = name[:SUBJECT_NAME_LIMIT - 1].rstrip() + "…"
    if succeeded:
        return f'Scheduled task "{name}" succeeded'
    return f'Scheduled task "{name}" failed (exit code {exit_code})'


def ping(url: str, timeout: float = 10.0) -> str | None:
    """GET `url`; None when it answers 2xx or 3xx, else a one-line message saying why.

    Redirects are followed (a health-check service often sends http:// on to
    https://, and only counts the ping where it lands); a 3xx the client does not
    follow counts as an answer. The timeout applies to the connection and to each
    read. Proxies from the environment (`https_proxy`, `no_proxy`...) are used, as curl
    would. Never raises for network or HTTP problems, or for a bad URL.
    """
    where = f"ping {url} failed"
    problem = validate_url(url)
    if problem is not None:
        return f"{where}: {problem}"
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            # Nothing to read: the status line is the answer, and reading a large body
            # would only spend the timeout again.
            return None
    except urllib.error.HTTPError as error:
        error.close()
        redirect_loop = error.msg.startswith(urllib.request.HTTPRedirectHandler.inf_msg)
        if 300 <= error.code < 400 and not redirect_loop:
            return None
        return f"{where}: HTTP {error.code} {_one_line(error.reason)}"
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return f"{where}: timed out after {timeout:g}s"
        if isinstance(reason, OSError):
            return f"{where}: {_os_reason(reason)}"
        return f"{where}: {_one_line(str(reason))}"
    except TimeoutError:
        # Connected, but the answer did not come in time.
        return f"{where}: timed out after {timeout:g}s"
    except http.client.HTTPException as error:
        return f"{where}: not an HTTP answer ({_one_line(repr(error))})"
    except OSError as error:
        return f"{where}: {_os_reason(error)}"
    except ValueError as error:
        # What validate_url lets through but the client still rejects: a non-ASCII
        # host that IDNA cannot encode, say.
        return f"{where}: {_one_line(str(error))}"


def _message(sender: str, recipients: Sequence[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = _one_line(subject)
    message["Date"] = formatdate(localtime=True)
    # make_msgid would otherwise look up this host's fully qualified name, which can
    # take seconds when DNS is slow.
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    # Plain text, UTF-8; the email package picks a transfer encoding that survives
    # servers without 8BITMIME.
    message.set_content(body, charset="utf-8")
    return message


def _deliver(mail: MailSettings, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """Send `message`; the recipients the server refused (an empty dict when none)."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if mail.encryption == "ssl":
        client = smtplib.SMTP_SSL(mail.host, mail.port, timeout=mail.timeout, context=context)
    else:
        client = smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout)
    with client:
        if mail.encryption == "tls":
            client.starttls(context=context)
        if mail.username:
            client.login(mail.username, mail.password)
        return client.send_message(message)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address}: {code} {_text(reply)}"
                     for address, (code, reply) in refused.items())


def _os_reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"host name lookup failed ({_one_line(error.strerror or str(error))})"
    return _one_line(error.strerror or str(error))


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _one_line(text)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _hostname() -> str:
    return socket.gethostname() or "localhost"
