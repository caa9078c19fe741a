"""Speed of `check` on a synthetic organisation, against loading its rules, at N and 2N services.

    .venv/bin/python benchmarks/bench_check.py [--services 2000] [--runs 3] [--keep DIR]

For each size it generates the organisation (benchmarks/synthetic_org.py: 20 services a team,
5 components and ~25 rules a service) and measures, each run in a fresh process, best of
``--runs``:

* load:  ``coverage_audit.loaders.rules.load_rules([rules_dir])``, the loader `check` uses;
* check: ``python -m coverage_audit check`` with the rules, the Alertmanager config, the service
  maps and a 20-path change.

Targets (the issue): check <= 1.5 x load at each size, and check(2N) <= 2 x check(N).

`check` writes its JSON into the run's temporary folder rather than to /dev/null: the output is
written through a temporary file and ``os.replace``d onto the target, which turns a device
(or FIFO, or symlink) into a regular file — as root it replaces /dev/null itself. The file also
gives the summary and error count printed below each table row.

A run that exceeds ``--timeout`` or ``--max-memory-gib`` (an address-space limit, so a runaway
run cannot take the shared machine down) is stopped and reported as such; the size then FAILs.
A benchmark, not a test: the numbers go in the closing notes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_org import OrgInfo, generate  # noqa: E402

# Only loading the rules, and leaving as the CLI leaves (os._exit, after flushing): freeing
# 50,000 parsed rules object by object costs a second that neither side should be charged.
LOAD_ONLY = """
import os, sys
from coverage_audit.loaders.rules import load_rules
load = load_rules([sys.argv[1]])
print(len(load.rules), len(load.errors), flush=True)
os._exit(0)
"""
_OUT_OF_MEMORY = ("MemoryError", "std::bad_alloc", "Cannot allocate memory")
RATIO_TARGET = 1.5
SCALING_TARGET = 2.0


@dataclass(slots=True)
class Run:
    seconds: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str
    stopped: str | None = None  # why the run was stopped ("timeout", "memory cap"), if it was


@dataclass(slots=True)
class Measurement:
    runs: list[Run] = field(default_factory=list)

    @property
    def failed(self) -> Run | None:
        return next((run for run in self.runs if run.stopped), None)

    @property
    def best(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def peak_mib(self) -> float:
        return max(run.peak_mib for run in self.runs)


def run_once(command: list[str], timeout: float, max_memory_gib: float) -> Run:
    """One fresh process; wall time, and its peak RSS from wait4 (that child's own rusage)."""
    limit = int(max_memory_gib * 1024**3)

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=out, stderr=err, cwd=ROOT, preexec_fn=cap_memory, start_new_session=True
        )
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            os.killpg(process.pid, signal.SIGKILL)  # the group: load_rules forks workers

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
    return Run(elapsed, usage.ru_maxrss / 1024, process.returncode, stdout, stderr, stopped)


def measure(command: list[str], runs: int, timeout: float, max_memory_gib: float, accept: tuple[int, ...]) -> Measurement:
    result = Measurement()
    for _ in range(runs):
        run = run_once(command, timeout, max_memory_gib)
        result.runs.append(run)
        if run.stopped:
            break  # the others would be stopped too
        if run.returncode not in accept:
            raise SystemExit(f"exit code {run.returncode} from {' '.join(command[:4])} ...:\n{run.stderr[-2000:]}")
    return result


@dataclass(slots=True)
class SizeResult:
    org: OrgInfo
    load: Measurement
    check: Measurement
    summary: str


def bench_size(folder: Path, services: int, args: argparse.Namespace) -> SizeResult:
    started = time.perf_counter()
    # The change is drawn from the first N services at both sizes: the same 20 paths.
    org = generate(folder, services, seed=args.seed, copied_records=not args.labelled_copies, change_within=args.services)
    print(f"  generated {org.services} services, {org.components} components, {org.rules} rules in "
          f"{org.rule_files} files ({time.perf_counter() - started:.1f} s)", flush=True)  # fmt: skip
    (folder / "changed.txt").write_text("\n".join(org.changed_paths) + "\n", encoding="utf-8")  # for --changed-from when profiling
    python = sys.executable
    load = measure([python, "-c", LOAD_ONLY, str(org.rules_dir)], args.runs, args.timeout, args.max_memory_gib, (0,))
    loaded, errors = (int(x) for x in load.runs[0].stdout.split())
    if errors or loaded != org.rules:
        raise SystemExit(f"load of {org.rules_dir}: {loaded} rules (generated {org.rules}), {errors} errors")
    print(f"  load:  best {load.best:.2f} s of {[round(r.seconds, 2) for r in load.runs]}", flush=True)
    output = folder / "check.json"
    command = [
        python, "-m", "coverage_audit", "check",
        "--rules", str(org.rules_dir), "--alertmanager", str(org.alertmanager), "--service-map", str(org.service_maps_dir),
        "--changed", *org.changed_paths, "--format", "json", "--output", str(output),
    ]  # fmt: skip
    check = measure(command, args.runs, args.timeout, args.max_memory_gib, (0, 1))  # 2 = input error: a bug here
    if check.failed:
        summary = f"stopped: {check.failed.stopped}"
    else:
        report = json.loads(output.read_text(encoding="utf-8"))
        if report.get("errors"):
            raise SystemExit(f"check reported input errors: {report['errors'][:3]}")
        s = report["summary"]
        impacts: dict[str, int] = {}
        for finding in report["findings"]:
            impacts[finding["impact"]] = impacts.get(finding["impact"], 0) + 1
        summary = (f"{s['total']} findings ({', '.join(f'{v} {k}' for k, v in sorted(impacts.items()))}; "
                   f"{s['covered']} covered, {s['weak']} weak, {s['uncovered']} uncovered) from "
                   f"{len(report['change']['components'])} changed components, "
                   f"JSON {output.stat().st_size / 1024**2:.1f} MiB")  # fmt: skip
    times = [round(r.seconds, 2) for r in check.runs]
    print(f"  check: {'stopped: ' + check.failed.stopped if check.failed else f'best {check.best:.2f} s'} of {times}", flush=True)
    return SizeResult(org, load, check, summary)


def _revision() -> str:
    """The commit measured (and whether the working tree differs from it): the code moves fast."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "coverage_audit"], cwd=ROOT, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision"
    return head + (" with uncommitted changes in coverage_audit/" if dirty.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=2000, help="N: the smaller size (the larger is 2N)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="generate into DIR/org-<size> and keep it (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is stopped (default 900)")
    parser.add_argument("--max-memory-gib", type=float, default=8, help="address-space cap per run (default 8)")
    parser.add_argument("--labelled-copies", action="store_true",
                        help="give the per-service copies of job: recording rules a static job label")  # fmt: skip
    args = parser.parse_args()

    print(f"coverage-audit at {_revision()}")
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"Python {sys.version.split()[0]}; best of {args.runs} fresh processes each"
          f"{'; labelled copies' if args.labelled_copies else ''}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-check-") as temporary:
        base = args.keep or Path(temporary)
        results = []
        for size in (args.services, 2 * args.services):
            print(f"\n{size} services:", flush=True)
            results.append(bench_size(base / f"org-{size}", size, args))

    print(f"\n{'services':>8} {'rules':>7} {'components':>10} {'load s':>8} {'check s':>9} {'check/load':>10} {'peak RSS MiB':>12}")
    for r in results:
        check = f"> {r.check.failed.seconds:.0f}" if r.check.failed else f"{r.check.best:.2f}"
        ratio = "-" if r.check.failed else f"{r.check.best / r.load.best:.2f}"
        print(f"{r.org.services:>8} {r.org.rules:>7} {r.org.components:>10} {r.load.best:>8.2f} {check:>9} {ratio:>10} {r.check.peak_mib:>12.0f}")
    for r in results:
        print(f"  {r.org.services}: {r.summary}; load peak RSS {r.load.peak_mib:.0f} MiB")

    ok = True
    print()
    for r in results:
        if r.check.failed:
            print(f"FAIL  check/load at {r.org.services} services: check {r.check.failed.stopped}")
            ok = False
            continue
        ratio = r.check.best / r.load.best
        verdict = "PASS" if ratio <= RATIO_TARGET else "FAIL"
        ok &= verdict == "PASS"
        print(f"{verdict}  check/load at {r.org.services} services = {ratio:.2f} (target <= {RATIO_TARGET})")
    small, large = results
    if small.check.failed or large.check.failed:
        print(f"FAIL  scaling check({large.org.services})/check({small.org.services}): a check run was stopped")
        ok = False
    else:
        factor = large.check.best / small.check.best
        verdict = "PASS" if factor <= SCALING_TARGET else "FAIL"
        ok &= verdict == "PASS"
        print(f"{verdict}  scaling check({large.org.services})/check({small.org.services}) = {factor:.2f} (target <= {SCALING_TARGET})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
