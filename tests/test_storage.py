"""The storage primitives: nothing under storage is followed through a link, opened
when it is not a regular file, or created readable by others."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.storage import Folder, UnsafeStorage, check_name, is_safe_name


@pytest.fixture
def zero_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def decoy(tmp_path: Path) -> Path:
    """A file outside storage that a planted link points at."""
    path = tmp_path / "decoy.txt"
    path.write_text("precious")
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_folders_are_0700_and_files_0600_whatever_the_umask(tmp_path: Path,
                                                            zero_umask: None) -> None:
    storage = tmp_path / "storage"
    with Folder.open(storage / "framework" / "ticks", base=storage) as folder:
        folder.write_atomically("state.json", b"{}")
        folder.append("run.log", b"line\n")
        assert folder.create_exclusively("claim", b"me")
    assert mode(storage) == 0o700
    assert mode(storage / "framework") == mode(storage / "framework" / "ticks") == 0o700
    for name in ("state.json", "run.log", "claim"):
        assert mode(storage / "framework" / "ticks" / name) == 0o600
    assert sorted(os.listdir(storage / "framework" / "ticks")) == [
        "claim", "run.log", "state.json"]  # no temporary file is left behind


def test_a_link_in_place_of_a_folder_is_refused_naming_it(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    storage.mkdir()
    (storage / "framework").symlink_to(elsewhere)
    with pytest.raises(UnsafeStorage, match=str(storage / "framework")):
        Folder.open(storage / "framework" / "ticks", base=storage)
    assert list(elsewhere.iterdir()) == []


def test_writes_replace_a_planted_link_instead_of_its_target(tmp_path: Path,
                                                             decoy: Path) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    (storage / "state.json").symlink_to(decoy)
    (storage / "run.log").symlink_to(decoy)
    with Folder.open(storage) as folder:
        folder.write_atomically("state.json", b"new")
        with pytest.raises(OSError):
            folder.append("run.log", b"appended\n")
        assert folder.read("run.log") is None  # a link is never read through
    assert decoy.read_text() == "precious"
    assert (storage / "state.json").read_text() == "new"
    assert not (storage / "state.json").is_symlink()


def test_a_fifo_is_neither_read_nor_waited_for(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "holder.lock")
    with Folder.open(tmp_path) as folder:
        assert folder.read("holder.lock") is None
        with pytest.raises(UnsafeStorage, match="not a regular file"):
            folder.open_file("holder.lock", os.O_RDONLY)


def test_a_hard_link_to_a_file_elsewhere_is_not_written(tmp_path: Path, decoy: Path) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    os.link(decoy, storage / "run.log")
    with Folder.open(storage) as folder, pytest.raises(UnsafeStorage, match="hard links"):
        folder.append("run.log", b"appended\n")
    assert decoy.read_text() == "precious"


def test_empty_or_planted_files_read_as_absent_and_claims_are_whole(tmp_path: Path,
                                                                    decoy: Path) -> None:
    with Folder.open(tmp_path / "claims") as folder:
        (tmp_path / "claims" / "empty").write_bytes(b"")
        assert folder.read("empty") is None
        assert folder.read("missing") is None
        # An empty claim (a write cut short) is no claim: the next claimant takes it.
        assert folder.create_exclusively("empty", b"mine")
        assert folder.read("empty") == b"mine"
        assert not folder.create_exclusively("empty", b"second")
        assert folder.read("empty") == b"mine"


def test_clean_up_never_follows_a_link(tmp_path: Path, decoy: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    claims = tmp_path / "claims"
    (claims / "20260101T0000").mkdir(parents=True)
    (claims / "20260101T0000" / "inner").symlink_to(victim)
    (claims / "20260101T0000" / "file").symlink_to(decoy)
    (claims / "20260101T0001").symlink_to(victim)
    with Folder.open(claims) as folder:
        for name in folder.names():
            folder.remove_tree(name)
    assert list(claims.iterdir()) == []
    assert (victim / "keep.txt").read_text() == "keep"
    assert decoy.read_text() == "precious"


@pytest.mark.parametrize("name", ["", ".", "..", "x/../../etc", "a/b", ".hidden", "a\0b",
                                  "x" * 201, "x" * 300, "-rf", "caf\u00e9", "\u0130x",
                                  "a\nb", "a b", "x" * 199 + "/"])
def test_names_that_could_escape_their_folder_are_refused(name: str) -> None:
    assert not is_safe_name(name)
    with pytest.raises(ValueError, match="not a safe file name"):
        check_name(name)


def test_names_the_scheduler_makes_are_accepted() -> None:
    for name in ("production-3f2a.0123456789abcdef0123456789abcdef.lock",
                 "flag-production-paused.json", "20260308T0700",
                 "production-web-1.example.com-tick:20260308T070000", "x" * 200,
                 "_underscored", "0=E2=9C=93+tag@host:1"):
        assert check_name(name) == name
