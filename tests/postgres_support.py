"""A database of the tests' own on the PostgreSQL server, for the tests that need one.

The server is the one on 127.0.0.1:5432 (`SCHEDULER_TEST_POSTGRES_URL` names another, as
an administrator's URL). Each test gets a database it creates and drops, so the tests
never touch data they did not make. Without a server they are skipped, except under
CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

ADMIN_URL = os.environ.get("SCHEDULER_TEST_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
# A password in the URL: the server trusts local connections and ignores it, and it
# must never be printed.
SECRET = "s3cret-Pa55word"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL (with a password the server ignores) of a fresh database, dropped after."""
    import psycopg

    name = f"scheduler_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if _in_ci():
            pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {error}")
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_URL}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            user = ADMIN_URL.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0]
            host = ADMIN_URL.rsplit("@", 1)[1].rsplit("/", 1)[0]
            yield f"postgresql://{user}:{SECRET}@{host}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
