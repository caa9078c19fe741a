"""Measuring one command the way the benchmarks do: a fresh process, wall and CPU time, peak
resident memory, a timeout and an address-space cap so a runaway run cannot take the shared
machine down, and what the run decided (its verdicts) so a change in results is visible.

Peak RSS comes from ``wait4``: the rusage of that child and every descendant it reaped (the
loader's worker processes), whose ``ru_maxrss`` is the largest resident set among them (not
their sum). CPU time is user + system of the child and its reaped descendants: on a busy
machine it says what wall time cannot.
"""

from __future__ import annotations

import compileall
import functools
import hashlib
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
_OUT_OF_MEMORY = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "memory allocation of")


@dataclass(slots=True)
class Run:
    seconds: float
    cpu_seconds: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str
    stopped: str | None = None  # why the run was stopped ("timeout after 900 s", ...), if it was
    verdicts: str = ""  # what the run decided, in a line (filled by the caller's reader)


@functools.lru_cache(maxsize=1)
def byte_compiled() -> None:
    """Our modules byte-compiled, as installing the package leaves them. An editable checkout on
    a machine that sets PYTHONDONTWRITEBYTECODE (this one does) compiles its 60-odd modules from
    source in every run, ~0.13 s that no installed copy pays; the libraries are compiled already."""
    compileall.compile_dir(str(ROOT / "coverage_audit"), quiet=1)


def run_once(command: Sequence[str], timeout: float, max_memory_gib: float, cwd: Path = ROOT) -> Run:
    """One fresh process (its own process group, so a timeout kills its workers too)."""
    byte_compiled()
    limit = int(max_memory_gib * 1024**3)

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), stdout=out, stderr=err, cwd=cwd, preexec_fn=cap_memory, start_new_session=True
        )
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, stop)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped already: tell Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    stopped = None
    if timed_out.is_set():
        stopped = f"timeout after {timeout:.0f} s"
    elif any(sign in stderr for sign in _OUT_OF_MEMORY) or process.returncode in (-signal.SIGKILL, -signal.SIGABRT):
        stopped = f"memory cap of {max_memory_gib:g} GiB"
    cpu = usage.ru_utime + usage.ru_stime
    return Run(elapsed, cpu, usage.ru_maxrss / 1024, process.returncode, stdout, stderr, stopped)


@dataclass(slots=True)
class Measurement:
    """Several runs of one command; the best (shortest) wall time is the figure compared."""

    label: str
    runs: list[Run] = field(default_factory=list)
    skipped: str | None = None  # not run, and why

    @property
    def failed(self) -> Run | None:
        return next((run for run in self.runs if run.stopped), None)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and self.failed is None and self.skipped is None

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda run: run.seconds)

    @property
    def median_seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def peak_mib(self) -> float:
        return max(run.peak_mib for run in self.runs)


def measure(
    measurement: Measurement,
    command: Sequence[str],
    timeout: float,
    max_memory_gib: float,
    accept: tuple[int, ...] = (0,),
    read_verdicts: Callable[[Run], str] | None = None,
    before: Callable[[], None] | None = None,
    cwd: Path = ROOT,
) -> Run:
    """One more run of ``command`` into ``measurement``; ``before`` prepares each run (a fresh
    cache folder for a cold run). An exit code outside ``accept`` is a broken benchmark."""
    if before is not None:
        before()
    run = run_once(command, timeout, max_memory_gib, cwd)
    if not run.stopped and run.returncode not in accept:
        raise SystemExit(f"{measurement.label}: exit code {run.returncode} from {' '.join(command[:5])} ...:\n{run.stderr[-2000:]}")
    if not run.stopped and read_verdicts is not None:
        run.verdicts = read_verdicts(run)
    measurement.runs.append(run)
    return run


# --------------------------------------------------------------------------- what a run decided


def findings_verdicts(document_path: Path) -> str:
    """Counts per status and a digest of every (subject, failure mode, status): equal digests
    mean equal verdicts, finding by finding."""
    document = json.loads(document_path.read_text(encoding="utf-8"))
    findings = document.get("findings", [])
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding["status"]] = counts.get(finding["status"], 0) + 1
    lines = sorted(f"{f['subject']}\t{f['failure_mode']}\t{f['status']}" for f in findings)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
    statuses = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("covered", "weak", "uncovered", "waived") if s != "waived" or counts.get(s))
    errors = len(document.get("errors", []))
    return f"{len(findings)} findings: {statuses}; verdicts {digest}" + (f"; {errors} input errors" if errors else "")


def inventory_verdicts(document_path: Path) -> str:
    summary = json.loads(document_path.read_text(encoding="utf-8"))["summary"]
    return f"{summary['alerts']} alerts, {summary['records']} records, {summary['errors']} errors, {summary['skipped']} skipped files"


_PROMTOOL_SUCCESS = re.compile(r"SUCCESS: (\d+) rules found")


def promtool_verdicts(run: Run) -> str:
    """What promtool said of the files: how many it passed (with their rules) and failed."""
    output = run.stdout + run.stderr
    passed = [int(n) for n in _PROMTOOL_SUCCESS.findall(output)]
    failed = output.count("FAILED")
    flagged = "failed" if run.returncode else "flagged by its lint (not fatal)"
    return f"{len(passed)} files passed ({sum(passed)} rules), {failed} {flagged} (exit {run.returncode})"


def revision() -> str:
    """The commit measured (and whether the package differs from it): the code moves fast."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "coverage_audit"], cwd=ROOT, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision"
    return head + (" with uncommitted changes in coverage_audit/" if dirty.strip() else "")


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}"


# --------------------------------------------------------------------------- sections and goals


@dataclass(slots=True)
class Goal:
    """A target from the issue: ``measured`` (a ratio, or MiB) must stay at or below ``target``."""

    name: str
    measured: float | None  # None: not measured (a run was stopped or skipped)
    target: float
    unit: str = "×"
    why_not: str = ""
    aside: str = ""  # shown after the verdict, never judged (the median ratio)

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "FAIL" if self.why_not.startswith(("timeout", "memory cap")) else "N/A "
        return "PASS" if self.measured <= self.target else "FAIL"

    def line(self) -> str:
        if self.measured is None:
            return f"{self.verdict}  {self.name}: not measured ({self.why_not}); target <= {self.target:g}{self.unit}"
        return f"{self.verdict}  {self.name} = {self.measured:.2f}{self.unit} (target <= {self.target:g}{self.unit}){self.aside}"


@dataclass(slots=True)
class Section:
    """One workload: its runs side by side with promtool's on the same files."""

    title: str
    reference: Measurement | None  # promtool check rules on the same files
    rows: list[Measurement] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"== {self.title} ==", f"{'what':46} {'best s':>8} {'median s':>9} {'cpu s':>7} {'peak MiB':>9} {'× pt time':>9} {'× pt mem':>8}  result"]
        for row in ([self.reference] if self.reference else []) + self.rows:
            lines.append(_row(row, self.reference))
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def _row(row: Measurement, reference: Measurement | None) -> str:
    if row.skipped is not None or not row.runs:
        return f"{row.label:46} {'-':>8} {'-':>9} {'-':>7} {'-':>9} {'-':>9} {'-':>8}  skipped: {row.skipped}"
    if row.failed is not None:
        run = row.failed
        return f"{row.label:46} {'>' + format(run.seconds, '.0f'):>8} {'-':>9} {run.cpu_seconds:>7.1f} {run.peak_mib:>9.0f} {'-':>9} {'-':>8}  stopped: {run.stopped}"
    best = row.best
    time_ratio = mem_ratio = "-"
    if reference is not None and reference.ok:
        time_ratio = f"{best.seconds / reference.best.seconds:.2f}"
        mem_ratio = f"{row.peak_mib / reference.peak_mib:.2f}"
    return (f"{row.label:46} {best.seconds:>8.2f} {row.median_seconds:>9.2f} {best.cpu_seconds:>7.1f} {row.peak_mib:>9.0f} "
            f"{time_ratio:>9} {mem_ratio:>8}  {best.verdicts}")


def ratio_goal(name: str, ours: Measurement, reference: Measurement | None, target: float) -> Goal:
    """Ours / promtool, wall time of the best runs; the medians' ratio beside it, not judged: on
    a shared machine one lucky promtool run (GitLab: 3.19 s, its median 4.00 s) moves the goal
    more than a change of ours does."""
    if not ours.ok or reference is None or not reference.ok:
        return Goal(name, None, target, why_not=_why_not(ours, reference))
    aside = f"; medians {ours.median_seconds / reference.median_seconds:.2f}×" if len(ours.runs) > 1 else ""
    return Goal(name, ours.best.seconds / reference.best.seconds, target, aside=aside)


def memory_goals(name: str, ours: Measurement, reference: Measurement | None, relative: float | None, absolute_mib: float = 1024) -> list[Goal]:
    """Peak RSS at most ``absolute_mib``, and (when ``relative``) at most that many × promtool's."""
    if not ours.ok:
        why = _why_not(ours, None)
        goals = [Goal(f"{name} peak RSS", None, absolute_mib, " MiB", why)]
        return goals + ([Goal(f"{name} peak RSS / promtool", None, relative, why_not=why)] if relative else [])
    goals = [Goal(f"{name} peak RSS", ours.peak_mib, absolute_mib, " MiB")]
    if relative:
        if reference is None or not reference.ok:
            goals.append(Goal(f"{name} peak RSS / promtool", None, relative, why_not="promtool not measured"))
        else:
            goals.append(Goal(f"{name} peak RSS / promtool", ours.peak_mib / reference.peak_mib, relative))
    return goals


def _why_not(ours: Measurement, reference: Measurement | None) -> str:
    for m in (ours, reference):
        if m is None:
            continue
        if m.skipped:
            return f"{m.label} skipped: {m.skipped}"
        if m.failed is not None:
            return f"{m.failed.stopped}: {m.label}"
    return "not run"
