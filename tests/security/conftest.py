"""The attacks of a local user on a root tick, planted for real.

A second, unprivileged user (made with `useradd`, as tests/test_user.py does) plants
links, FIFOs and names in a storage folder it can write to; then a tick runs as root.
Each test checks that a decoy tree outside storage is unchanged (checksums), that the
tick ended within a bound, and what it said.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_user

# The second user and a folder it can reach, as tests/test_user.py makes them.
user = test_user.user
shared_folder = test_user.shared_folder


@pytest.fixture
def area(request: pytest.FixtureRequest) -> Path:
    """A folder outside pytest's private tmp_path that the second user can reach (but,
    unlike tests/test_user.py's, not write to: storage inside it must be the test's)."""
    folder: Path = request.getfixturevalue("shared_folder")
    folder.chmod(0o755)
    return folder


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
