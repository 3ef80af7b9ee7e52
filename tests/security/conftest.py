"""The attacks of a local user on a root tick, planted for real.

A second, unprivileged user (made with `useradd`, as tests/test_user.py does) plants
links, FIFOs and names in a storage folder it can write to; then a tick runs as root.
Each test checks that a decoy tree outside storage is unchanged (checksums), that the
tick ended within a bound, and what it said.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_user import user  # noqa: F401 - the second user, as a fixture


@pytest.fixture
def area() -> Iterator[Path]:
    """A folder outside pytest's private tmp_path that the second user can reach."""
    folder = Path(tempfile.mkdtemp(prefix="scheduler-attack-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def decoy(area: Path) -> Path:
    """Files a planted link points at: nothing may change them."""
    tree = area / "decoy"
    (tree / "inner").mkdir(parents=True)
    (tree / "file.txt").write_text("precious\n")
    (tree / "victim.lock").write_text("a lock file of someone else's\n")
    (tree / "data.json").write_text('{"keep": true}\n')
    (tree / "inner" / "deep.txt").write_text("deep\n")
    tree.chmod(0o755)
    return tree
