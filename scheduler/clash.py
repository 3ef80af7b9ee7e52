"""Is the imported `scheduler` package this project's?

PyPI has another project called `scheduler` that also installs a top-level `scheduler/`
folder. Installed into the same environment, one overwrites the other's `__init__.py`
(or removing one deletes it), and imports then fail far from the cause. This module
tells the two apart by a marker our `__init__.py` defines.
"""

from __future__ import annotations

import importlib
import sys

# Defined by scheduler/__init__.py; the other project's has no such name.
MARKER = "ARTISAN_SCHEDULER"


class ForeignPackage(ImportError):
    """The `scheduler` package found on the path is not (all) artisan-scheduler's."""


def package_problem() -> str | None:
    """Why the imported `scheduler` package is not ours, or None when it is."""
    package = sys.modules.get("scheduler") or importlib.import_module("scheduler")
    init = getattr(package, "__file__", None)
    folders = list(getattr(package, "__path__", []))
    where = folders[0] if folders else "?"
    if init is None:
        problem = f"its __init__.py is missing from {where}"
    elif not getattr(package, MARKER, False):
        problem = f"its __init__.py ({init}) belongs to another project"
    else:
        return None
    return (f"The 'scheduler' package is not artisan-scheduler's: {problem}. PyPI's "
            f"'scheduler' project installs a package of the same name into the same "
            f"folder. Keep only one of them in this environment: "
            f"`pip uninstall -y scheduler artisan-scheduler`, then "
            f"`pip install artisan-scheduler`.")


def check_own_package() -> None:
    """Raise ForeignPackage, saying what to do, if `scheduler` is not this project's."""
    problem = package_problem()
    if problem is not None:
        raise ForeignPackage(problem)
