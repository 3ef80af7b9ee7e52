"""Measuring whole processes: wall time and peak memory, as medians of several runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessCost:
    """The median wall time (ms) and peak resident memory (MB) of a command."""

    wall_ms: float
    peak_mb: float


def run_once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Run `argv`; return its wall time (ms) and peak RSS (MB), from wait4's rusage."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        assert process.stderr is not None
        raise RuntimeError(f"{argv} failed: {process.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def process_costs(commands: Sequence[tuple[Sequence[str], dict[str, str]]],
                  runs: int = 9) -> list[ProcessCost]:
    """The median cost of each command over `runs` rounds, after a warm-up round.

    The commands take turns, one run each per round, so that a machine that speeds up
    or slows down during the measurement (a shared one does) affects them alike, and
    their ratios hold.
    """
    for argv, env in commands:
        run_once(argv, env)  # warm-up: file caches, bytecode
    samples: list[list[tuple[float, float]]] = [[] for _ in commands]
    for _ in range(runs):
        for (argv, env), taken in zip(commands, samples, strict=True):
            taken.append(run_once(argv, env))
    return [ProcessCost(statistics.median(wall for wall, _ in taken),
                        statistics.median(peak for _, peak in taken)) for taken in samples]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0..1) of `values`, by the nearest-rank method."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def import_times(argv: Sequence[str], env: dict[str, str], runs: int = 9) -> dict[str, float]:
    """Each module the command imports after Python's own start-up (`site`), with its
    own import time in ms (`python -X importtime`, without the modules it imports), the
    smallest of `runs` runs: the least noisy estimate on a shared machine."""
    smallest: dict[str, float] = {}
    for _ in range(runs):
        result = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, check=True)
        after_site = False
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            own, _cumulative, name = line.removeprefix("import time:").split("|")
            if not own.strip().isdigit():
                continue  # the header line
            module = name.strip()
            if module == "site":
                after_site = True
            elif after_site:
                microseconds = int(own)
                smallest[module] = min(smallest.get(module, microseconds), microseconds)
    return {module: microseconds / 1000 for module, microseconds in smallest.items()}
