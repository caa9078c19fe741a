"""Speed of `check` on a synthetic organisation, against loading its rules, at N and 2N services.

    .venv/bin/python benchmarks/bench_check.py [--services 2000] [--runs 3] [--keep DIR]

For each size it generates the organisation (benchmarks/synthetic_org.py: 20 services a team,
5 components and ~25 rules a service) and measures, each run in a fresh process, best of
``--runs``, interleaved:

* promtool: ``promtool check rules`` on the generated plain rule files (it does not read the
  Kubernetes PrometheusRule files, so those are left out on its side);
* load:  ``coverage_audit.loaders.rules.load_rules([rules_dir])``, the loader `check` uses;
* check: ``python -m coverage_audit check --no-cache`` with the rules, the Alertmanager config,
  the service maps and a 20-path change (no cache, as the load has none).

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
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import Goal, Measurement, Run, Section, machine, measure, promtool_verdicts, revision  # noqa: E402
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
RATIO_TARGET = 1.5
SCALING_TARGET = 2.0


@dataclass(slots=True)
class SizeResult:
    org: OrgInfo
    reference: Measurement  # promtool on the plain files
    load: Measurement
    check: Measurement


def bench_size(folder: Path, services: int, args: argparse.Namespace) -> SizeResult:
    started = time.perf_counter()
    # The change is drawn from the first N services at both sizes: the same 20 paths.
    org = generate(folder, services, seed=args.seed, copied_records=not args.labelled_copies, change_within=args.services)
    print(f"  generated {org.services} services, {org.components} components, {org.rules} rules in "
          f"{org.rule_files} files ({time.perf_counter() - started:.1f} s)", flush=True)  # fmt: skip
    (folder / "changed.txt").write_text("\n".join(org.changed_paths) + "\n", encoding="utf-8")  # for --changed-from when profiling
    python = sys.executable
    plain = plain_files(org)
    result = SizeResult(
        org,
        Measurement(f"promtool check rules ({len(plain)} of {org.rule_files} files)"),
        Measurement("load (YAML + PromQL)"),
        Measurement("check --changed (20 paths) --no-cache"),
    )
    output = folder / "check.json"
    command = [
        python, "-m", "coverage_audit", "check",
        "--rules", str(org.rules_dir), "--alertmanager", str(org.alertmanager), "--service-map", str(org.service_maps_dir),
        "--changed", *org.changed_paths, "--format", "json", "--output", str(output), "--no-cache",
    ]  # fmt: skip
    tool = shutil.which("promtool")
    timeout, cap = args.timeout, args.max_memory_gib
    for _ in range(args.runs):  # interleaved, so a busy spell slows every command alike
        if tool is None:
            result.reference.skipped = "promtool not found (scripts/bootstrap.sh installs it)"
        else:
            measure(result.reference, [tool, "check", "rules", *plain], timeout, cap, (0, 1), promtool_verdicts, cwd=folder)
        measure(result.load, [python, "-c", LOAD_ONLY, str(org.rules_dir)], timeout, cap, (0,), _loaded(org), cwd=folder)
        if not result.check.failed:  # a stopped run would be stopped again
            measure(result.check, command, timeout, cap, (0, 1), lambda run: _summary(output), cwd=folder)  # 2 = input error: a bug here
    print(f"  load:  best {result.load.best.seconds:.2f} s of {[round(r.seconds, 2) for r in result.load.runs]}", flush=True)
    times = [round(r.seconds, 2) for r in result.check.runs]
    failed = result.check.failed
    print(f"  check: {'stopped: ' + str(failed.stopped) if failed else f'best {result.check.best.seconds:.2f} s'} of {times}", flush=True)
    return result


def plain_files(org: OrgInfo) -> list[str]:
    """The generated rule files promtool reads: not the Kubernetes PrometheusRule objects."""
    files = sorted(str(path) for path in org.rules_dir.rglob("*.yaml"))
    return [f for f in files if "kind: PrometheusRule" not in Path(f).read_text(encoding="utf-8")]


def _loaded(org: OrgInfo) -> Callable[[Run], str]:
    def read(run: Run) -> str:
        loaded, errors = (int(x) for x in run.stdout.split())
        if errors or loaded != org.rules:
            raise SystemExit(f"load of {org.rules_dir}: {loaded} rules (generated {org.rules}), {errors} errors")
        return f"{loaded} rules, {errors} errors"

    return read


def _summary(output: Path) -> str:
    report = json.loads(output.read_text(encoding="utf-8"))
    if report.get("errors"):
        raise SystemExit(f"check reported input errors: {report['errors'][:3]}")
    s = report["summary"]
    impacts: dict[str, int] = {}
    for finding in report["findings"]:
        impacts[finding["impact"]] = impacts.get(finding["impact"], 0) + 1
    return (f"{s['total']} findings ({', '.join(f'{v} {k}' for k, v in sorted(impacts.items()))}; "
            f"{s['covered']} covered, {s['weak']} weak, {s['uncovered']} uncovered) from "
            f"{len(report['change']['components'])} changed components, "
            f"JSON {output.stat().st_size / 1024**2:.1f} MiB")  # fmt: skip


def synthetic_section(args: argparse.Namespace, scratch: Path) -> Section:
    """For run_all: the organisation of ``args.services`` services, check against its load."""
    print(f"synthetic organisation of {args.services} services:", flush=True)
    r = bench_size(scratch / f"org-{args.services}", args.services, args)
    title = f"Synthetic organisation: {r.org.services} services, {r.org.components} components, {r.org.rules} rules in {r.org.rule_files} files"
    section = Section(title, r.reference, [r.load, r.check])
    if r.check.ok and r.load.ok:
        section.goals.append(Goal("synthetic check / its load", r.check.best.seconds / r.load.best.seconds, RATIO_TARGET))
    else:
        why = str(r.check.failed.stopped) if r.check.failed else "not run"
        section.goals.append(Goal("synthetic check / its load", None, RATIO_TARGET, why_not=why))
    return section


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--services", type=int, default=2000, help="N: the synthetic organisation's size (bench_check also runs 2N)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--labelled-copies", action="store_true",
                        help="give the per-service copies of job: recording rules a static job label")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate into DIR/org-<size> and keep it (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is stopped (default 900)")
    parser.add_argument("--max-memory-gib", type=float, default=8, help="address-space cap per run (default 8)")
    args = parser.parse_args()

    print(f"coverage-audit at {revision()}")
    print(f"{machine()}; Python {sys.version.split()[0]}; best of {args.runs} fresh processes each"
          f"{'; labelled copies' if args.labelled_copies else ''}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-check-") as temporary:
        base = args.keep or Path(temporary)
        results = []
        for size in (args.services, 2 * args.services):
            print(f"\n{size} services:", flush=True)
            results.append(bench_size(base / f"org-{size}", size, args))

    print(f"\n{'services':>8} {'rules':>7} {'components':>10} {'promtool s':>10} {'load s':>8} {'check s':>9} {'check/load':>10} {'peak RSS MiB':>12}")
    for r in results:
        check = f"> {r.check.failed.seconds:.0f}" if r.check.failed else f"{r.check.best.seconds:.2f}"
        ratio = "-" if r.check.failed else f"{r.check.best.seconds / r.load.best.seconds:.2f}"
        promtool = f"{r.reference.best.seconds:.2f}" if r.reference.ok else "-"
        print(f"{r.org.services:>8} {r.org.rules:>7} {r.org.components:>10} {promtool:>10} {r.load.best.seconds:>8.2f} {check:>9} {ratio:>10} {r.check.peak_mib:>12.0f}")
    for r in results:
        summary = f"stopped: {r.check.failed.stopped}" if r.check.failed else r.check.best.verdicts
        promtool = r.reference.best.verdicts if r.reference.ok else r.reference.skipped
        print(f"  {r.org.services}: {summary}; load peak RSS {r.load.peak_mib:.0f} MiB; promtool: {promtool}")

    ok = True
    print()
    for r in results:
        if r.check.failed:
            print(f"FAIL  check/load at {r.org.services} services: check {r.check.failed.stopped}")
            ok = False
            continue
        ratio = r.check.best.seconds / r.load.best.seconds
        verdict = "PASS" if ratio <= RATIO_TARGET else "FAIL"
        ok &= verdict == "PASS"
        print(f"{verdict}  check/load at {r.org.services} services = {ratio:.2f} (target <= {RATIO_TARGET})")
    small, large = results
    if small.check.failed or large.check.failed:
        print(f"FAIL  scaling check({large.org.services})/check({small.org.services}): a check run was stopped")
        ok = False
    else:
        factor = large.check.best.seconds / small.check.best.seconds
        verdict = "PASS" if factor <= SCALING_TARGET else "FAIL"
        ok &= verdict == "PASS"
        print(f"{verdict}  scaling check({large.org.services})/check({small.org.services}) = {factor:.2f} (target <= {SCALING_TARGET})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
