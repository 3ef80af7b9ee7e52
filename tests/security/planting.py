"""Helpers of the attack tests: planting as the second user, and checksums of a decoy."""

from __future__ import annotations

import hashlib
import os
import pwd
import stat
import subprocess
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Root is needed to plant as another user and to run the tick as root; in CI (which
# runs as root) a run without it fails instead of skipping.
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 and not IN_CI,
    reason="the attack tests plant files as a second user and run the tick as root")


def checksums(tree: Path) -> dict[str, tuple[str, int]]:
    """Every path under `tree` with the digest of its content and its mode."""
    found = {}
    for path in sorted(tree.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(tree))] = (digest, stat.S_IMODE(info.st_mode))
    return found


def as_user(account: pwd.struct_passwd, script: str) -> None:
    """Run `script` with /bin/sh as `account` (a real process of that user)."""
    subprocess.run(["/bin/sh", "-ec", script], user=account.pw_uid, group=account.pw_gid,
                   extra_groups=[], check=True, timeout=30, capture_output=True,
                   env={"PATH": "/usr/bin:/bin"})
