"""The page's actions: who may act, how a form proves it came from the page, and how a
request runs a task without waiting for it.

* Actions exist only when `SCHEDULER_DASHBOARD_TOKEN` is set. A viewer signs in once
  with the token; the page then keeps a session cookie (HttpOnly, SameSite=Strict)
  whose value is derived from the token, so the server keeps no sessions and changing
  the token signs everyone out.
* Every action is a POST whose form carries a CSRF token derived from the session, and
  whose Origin (when the browser sends one) must be the page's own: a form on another
  site can neither read the CSRF token nor send the cookie.
* A script may instead send `Authorization: Bearer <token>` (no cookie, so no CSRF).
* "Run now" starts `python -m scheduler schedule:test --name NAME` as a detached child
  in a session of its own: the request returns at once, and the run is recorded in the
  history by the same listener as a tick's runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import threading
from urllib.parse import urlsplit

from scheduler.settings import Settings

TOKEN_SETTING = "SCHEDULER_DASHBOARD_TOKEN"
SESSION_COOKIE = "scheduler_session"


def dashboard_token(settings: Settings) -> str | None:
    """The token that unlocks the actions, or None: the page is read-only."""
    return settings.get(TOKEN_SETTING).strip() or None


def _derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def session_value(token: str) -> str:
    """The session cookie's value for a viewer who gave `token` (not the token itself)."""
    return _derive(token, "session")


def csrf_value(token: str) -> str:
    """The hidden field each action's form carries."""
    return _derive(token, "csrf:" + session_value(token))


def token_matches(token: str | None, given: str | None) -> bool:
    return token is not None and given is not None and hmac.compare_digest(
        token.encode(), given.encode())


def signed_in(token: str | None, cookie: str | None) -> bool:
    """Whether the session cookie was made from the current token."""
    return token is not None and cookie is not None and hmac.compare_digest(
        session_value(token).encode(), cookie.encode())


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a request's Origin header names the host it was sent to; a request
    without one (an old browser, a script) is judged by its CSRF token alone."""
    if not origin:
        return True
    if origin == "null" or host is None:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def action_allowed(token: str | None, *, bearer: str | None, cookie: str | None,
                   csrf: str | None, origin: str | None, host: str | None) -> str | None:
    """None when the action may go ahead, else why it is refused."""
    if token is None:
        return f"actions are off: {TOKEN_SETTING} is not set"
    if bearer is not None:
        return None if token_matches(token, bearer) else "the bearer token is wrong"
    if not signed_in(token, cookie):
        return "not signed in"
    if not same_origin(origin, host):
        return "the request came from another site"
    if csrf is None or not hmac.compare_digest(csrf_value(token).encode(), csrf.encode()):
        return "the form's CSRF token is missing or wrong"
    return None


def run_now(settings: Settings, task_name: str) -> int:
    """Start the task `task_name` now in a detached child (`schedule:test --name`), which
    records the run in the history; return the child's pid without waiting for it."""
    environment = {**os.environ, "SCHEDULER_ROOT": str(settings.root)}
    environment.pop(TOKEN_SETTING, None)  # the task has no use for the page's secret
    child = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "schedule:test", "--strict", "--name", task_name],
        cwd=settings.root, env=environment, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        close_fds=True)
    # Reap it when it ends, so a long-lived server does not collect zombies.
    threading.Thread(target=child.wait, name=f"reap-{child.pid}", daemon=True).start()
    return child.pid
