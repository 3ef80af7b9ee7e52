"""scheduler.typing_names: its run-time NamedTuple and overload behave as typing's do.

mypy reads typing's own names, so these tests run the stand-ins themselves, which only
exist at run time (the module imports them unless TYPE_CHECKING), against typing's.
"""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

from scheduler import typing_names
from scheduler.history.recorder import LISTENS_WITH, HistoryRecorder
from scheduler.hooks import accepted_parameters
from scheduler.listeners import LISTENER_PARAMETERS

RecordBase: typing.Any = typing_names.NamedTuple


class Ours(RecordBase):  # type: ignore[misc]  # the run-time stand-in itself
    """A run's label."""

    name: str
    runs: int = 0
    tags: tuple[str, ...] = ()

    def doubled(self) -> int:
        return self.runs * 2

    @property
    def title(self) -> str:
        return self.name.title()

    @classmethod
    def empty(cls) -> Ours:
        return cls("")


class Theirs(typing.NamedTuple):
    """A run's label."""

    name: str
    runs: int = 0
    tags: tuple[str, ...] = ()


def test_a_record_is_a_named_tuple_like_typings() -> None:
    ours, theirs = Ours("nightly", 2), Theirs("nightly", 2)
    assert ours == theirs and hash(ours) == hash(theirs)
    assert tuple(ours) == ("nightly", 2, ())
    assert Ours._fields == Theirs._fields == ("name", "runs", "tags")
    assert Ours._field_defaults == Theirs._field_defaults == {"runs": 0, "tags": ()}
    assert ours._replace(runs=5) == Ours("nightly", 5)
    assert ours._asdict() == theirs._asdict()
    assert repr(ours) == "Ours(name='nightly', runs=2, tags=())"
    assert Ours.__doc__ == Theirs.__doc__ == "A run's label."
    assert Ours.__module__ == Theirs.__module__ == __name__
    assert Ours.__qualname__ == "Ours"
    assert list(Ours.__annotations__) == ["name", "runs", "tags"]
    assert isinstance(ours, tuple)


def test_a_records_methods_properties_and_classmethods_are_kept() -> None:
    record = Ours("nightly", 3)
    assert record.doubled() == 6
    assert record.title == "Nightly"
    assert Ours.empty() == Ours("")
    with pytest.raises(AttributeError):
        record.name = "other"


def test_a_field_without_a_default_after_one_with_is_refused_as_by_typing() -> None:
    for base in (RecordBase, typing.NamedTuple):
        with pytest.raises(TypeError):
            type("Broken", (base,), {"__annotations__": {"a": "int", "b": "int"}, "a": 1,
                                     "__module__": __name__})


def test_overload_returns_the_function_itself() -> None:
    def function(value: int) -> int:
        return value + 1

    assert typing_names.overload(function) is function


def test_the_tick_of_a_plain_kernel_does_not_import_typing() -> None:
    """The reason for the module: what a tick imports to define and evaluate a schedule
    comes without `typing` (typer, logging and inspect stay out as well)."""
    code = ("import sys\n"
            "import scheduler, scheduler.runner, scheduler.kernel, scheduler.cli.entry\n"
            "import scheduler.cli.run_command\n"
            "print(' '.join(sorted(name for name in ('typing', 'typer', 'logging', "
            "'inspect', 'subprocess', 'asyncio') if name in sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == []


def test_the_history_recorder_declares_the_parameters_its_listeners_take() -> None:
    """The recorder subscribes with `parameters=` (no signature is read): they must be
    what its methods take."""
    recorder = HistoryRecorder.__new__(HistoryRecorder)  # its methods, no store
    for method in (recorder.on_starting, recorder.on_finished, recorder.on_failed,
                   recorder.on_skipped):
        assert accepted_parameters(method, LISTENER_PARAMETERS) == LISTENS_WITH
