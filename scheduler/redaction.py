"""Secrets out of messages: URLs shown without their passwords.

Redis URLs come in the forms redis-py accepts (`redis://[[user]:[password]]@host:port/db`,
`rediss://…`, `unix://[[user]:[password]]@/path/to/socket.sock?db=0`, and a password
given as `?password=…`), written by hand, often with a password that is not
percent-encoded. `urllib.parse` cuts such a URL at the first `#`, `/` or `?`, which would
leave part of the password in what it calls the host, path or fragment. So the
credentials are taken as everything up to the last `@` after the scheme (a password may
hold anything but the host may not hold an `@`), and only the rest is given to
`urllib.parse`, whose query parser then finds every `password` parameter.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

HIDDEN = "***"
# Query parameters that carry a secret (redis-py reads `password`; the rest are kept
# out of messages too, in case a URL of another kind is shown).
SECRET_PARAMETERS = frozenset({"password", "pass", "passwd", "pwd", "secret", "token"})


def redact_url(url: str) -> str:
    """`url` with every password replaced by `***`; the user name, host, port, path and
    other parameters are kept, so the message still says where it points."""
    scheme, separator, rest = url.partition("://")
    if not separator:  # not a URL at all: say nothing of it that could be a secret
        return HIDDEN if url else url
    credentials, at, location = rest.rpartition("@")
    shown = f"{scheme}://"
    if at:
        user, colon, _password = credentials.partition(":")
        shown += f"{user}:{HIDDEN}@" if colon else f"{HIDDEN}@"
    location, hash_sign, fragment = location.partition("#")
    address, question, query = location.partition("?")
    shown += address
    if question:
        shown += "?" + _redact_query(query)
    if hash_sign:
        shown += "#" + (HIDDEN if fragment else "")
    return shown


def _redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, HIDDEN if name.lower() in SECRET_PARAMETERS else value)
                      for name, value in pairs], safe="*/")
