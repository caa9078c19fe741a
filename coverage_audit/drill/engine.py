"""The real engine: ``promtool test rules``, run as a subprocess, and what it measured.

A drill's test file asks promtool one PromQL question after the rules have been evaluated at
every interval: for each drilled alert, the first time its ``ALERTS{alertstate="firing"}``
series exists after the failure, and how often it fired while healthy. The expected answer is
a sentinel no query returns, so promtool prints what it got; that line is parsed here. Rule
files it rejects, evaluation errors and time-outs come back as the reason the drill could not
be made.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache

SENTINEL = '{drill="sentinel"}'  # labels no measurement returns: the test fails and prints "got"
_GOT = re.compile(r'\{drill="(fired|noisy)_(\d+)"\} (\S+?)(?:,|$)')


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one promtool run said."""

    measured: dict[tuple[str, int], float] | None  # ("fired"|"noisy", alert index) -> value; None: no answer
    error: str  # why there is no answer (rejected files, evaluation error, time limit)
    seconds: float  # wall-clock time of the run
    timed_out: bool = False


def find_promtool() -> str | None:
    return shutil.which("promtool")


def run(promtool: str, test_file: str, time_limit: float) -> Outcome:
    """One drill. The time limit counts the engine's CPU seconds (``ulimit -t``), so that a
    busy machine does not turn a sound drill into a time-out; a wall-clock limit of ten times
    that catches a run that hangs without computing."""
    started = time.monotonic()
    seconds = max(1, math.ceil(time_limit))
    command = ["sh", "-c", 'ulimit -t "$1" && exec "$2" test rules "$3"', "sh", str(seconds), promtool, os.path.basename(test_file)]
    try:
        done = subprocess.run(
            command,
            cwd=os.path.dirname(test_file) or ".",
            capture_output=True,
            text=True,
            errors="replace",
            timeout=10 * time_limit + 10,
            # One core per drill (drills run side by side); fewer garbage collections: a run
            # allocates little that lives, and GOGC=400 saves a fifth of its time.
            env={**os.environ, "GOMAXPROCS": "1", "GOGC": "400"},
        )
    except subprocess.TimeoutExpired:
        return Outcome(None, _past(time_limit), time.monotonic() - started, timed_out=True)
    except OSError as exc:
        return Outcome(None, f"promtool could not run: {exc.strerror or exc}", time.monotonic() - started)
    elapsed = time.monotonic() - started
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL):
        return Outcome(None, _past(time_limit), elapsed, timed_out=True)
    measured = parse(done.stderr)
    if measured is not None:
        return Outcome(measured, "", elapsed)
    return Outcome(None, _error_line(done.stderr or done.stdout, os.path.dirname(test_file)), elapsed)


def _past(time_limit: float) -> str:
    return f"past the drill's time limit of {time_limit:g}s"


def parse(output: str) -> dict[tuple[str, int], float] | None:
    """The measurement promtool printed as ``got:`` (None when it printed none)."""
    for line in output.splitlines():
        stripped = line.strip()
        if not stripped.startswith("got:"):
            continue
        found: dict[tuple[str, int], float] = {}
        for kind, index, value in _GOT.findall(stripped[4:]):
            found[(kind, int(index))] = float(value)
        return found
    return None


def _error_line(output: str, folder: str) -> str:
    """promtool's first complaint, without the temporary folder's path."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Unit Testing:", "FAILED:", "SUCCESS"))]
    if not lines:
        return "promtool gave no answer"
    text = lines[0].replace(folder + os.sep, "").replace(folder, "")
    return f"promtool: {text}"[:400]


@lru_cache(maxsize=4)
def supports_query_offset(promtool: str) -> bool:
    """Does this promtool read a group's ``query_offset`` (Prometheus 2.53 and later)?"""
    with tempfile.TemporaryDirectory(prefix="coverage-audit-probe-") as folder:
        path = os.path.join(folder, "probe.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("groups:\n  - name: probe\n    query_offset: 1m\n    rules:\n      - record: probe\n        expr: vector(1)\n")
        try:
            done = subprocess.run([promtool, "check", "rules", path], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0
