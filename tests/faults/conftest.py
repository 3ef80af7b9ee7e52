"""Fixtures of the fault tests."""

from tests.faults.restartable_redis import restartable_redis  # noqa: F401 - a fixture
