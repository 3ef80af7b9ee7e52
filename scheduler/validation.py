"""Checking e-mail addresses and URLs when a schedule is defined.

Kept apart from `notify` (which sends the mail and the pings) so that defining a
schedule does not import the mail and HTTP machinery: most ticks never send either.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def validate_url(url: str) -> str | None:
    """None for an http:// or https:// URL with a host (and a valid port, if any), no
    spaces or control characters, and only ASCII in its path, query and fragment.

    Otherwise the reason, naming the URL. Only the shape is checked: whether the host
    exists is for `ping` to find out.
    """
    if not isinstance(url, str) or not url:
        return f"{url!r} is not a URL"
    if any(character.isspace() or ord(character) < 32 for character in url):
        return f"{url!r} contains spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        # An unbalanced [ or ] around an IPv6 address.
        return f"{url!r} has an invalid host"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{url!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{url!r} has no host"
    try:
        parts.port  # noqa: B018 - reading it is the check; it raises on a bad port
    except ValueError:
        return f"{url!r} has an invalid port"
    # A host may be non-ASCII (it is IDNA-encoded when connecting), the rest may not:
    # the request line is ASCII.
    if not (parts.path + parts.query + parts.fragment).isascii():
        return f"{url!r} has non-ASCII characters after the host (percent-encode them)"
    return None


def validate_address(address: str) -> str | None:
    """None for a plausible e-mail address, else the reason, naming the address.

    Deliberately simple, not RFC 5322: exactly one `@`, something before it, a domain
    after it made of dot-separated non-empty labels, and no spaces, control characters,
    angle brackets, commas or quotes anywhere. The domain may be a single label
    (`root@localhost`), as mail to the local machine is common for cron. Display names
    ("Ops <ops@example.com>") are not accepted. Whether the mailbox exists is for the
    mail server to say.
    """
    if not isinstance(address, str) or not address:
        return f"{address!r} is not an e-mail address"
    if any(character.isspace() or ord(character) < 32 or character in '<>,;"'
           for character in address):
        return f"{address!r} contains spaces, control characters or <>,;\" characters"
    if address.count("@") != 1:
        return f"{address!r} is not an e-mail address (something@domain)"
    local, _, domain = address.partition("@")
    if not local:
        return f"{address!r} has nothing before the @"
    if not domain or any(not label for label in domain.split(".")):
        return f"{address!r} does not have a valid domain after the @"
    return None
