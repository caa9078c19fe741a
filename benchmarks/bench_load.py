"""Loading speed: coverage-audit versus `promtool check rules` on the corpus's plain rule files.

    .venv/bin/python benchmarks/bench_load.py [--runs 3] [--corpus ../shared/corpus]

Both sides get the same ~1,330 files (plain Prometheus/Thanos/Mimir rule files: what promtool
reads), each run in a fresh process so nothing is cached, side by side in one invocation. It
reports the best and median wall time and the peak resident memory of each, and the same for
the whole `coverage-audit rules --format json` command (load, expand, classify, render).
A benchmark, not a test: the numbers go in the closing notes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"

# Loading, and leaving as the CLI leaves (os._exit after flushing): promtool, a Go program,
# does not free its rules one by one either, and that teardown is a second on 44,000 rules.
LOAD_ONLY = """
import os, sys
from coverage_audit.loaders.rules import load_rules
files = open(sys.argv[1]).read().split("\\n")
load = load_rules(files)
print(len(load.rules), len(load.errors), flush=True)
os._exit(0)
"""


def plain_rule_files(corpus: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from coverage_audit.loaders.rules import load_rules

    load = load_rules([str(corpus)])
    kubernetes = {rule.file for rule in load.rules if rule.source == "prometheusrule"}
    return sorted(f for f in load.rule_files if f not in kubernetes)


def measure(name: str, command: list[str], runs: int) -> dict[str, object]:
    times, peaks, last = [], [], ""
    for _ in range(runs):
        # A fresh process per run: peak RSS from getrusage is a high-water mark over all
        # children, so run each measurement in its own wrapper process.
        wrapper = [sys.executable, "-c", _WRAPPER, *command]
        result = subprocess.run(wrapper, capture_output=True, text=True, cwd=ROOT)
        if result.returncode != 0:
            raise SystemExit(f"{name}: {result.stderr[-600:]}")
        elapsed, peak, last = result.stdout.strip().split("\t", 2)
        times.append(float(elapsed))
        peaks.append(float(peak))
    return {"name": name, "best": min(times), "median": statistics.median(times), "peak_mib": max(peaks), "output": last}


_WRAPPER = """
import resource, subprocess, sys, time
started = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
lines = [l for l in result.stdout.splitlines() if l.strip()]
print(f"{elapsed:.3f}\\t{peak:.1f}\\t{lines[-1][:80] if lines else result.returncode}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    promtool = shutil.which("promtool")
    if promtool is None:
        raise SystemExit("promtool not found: run scripts/bootstrap.sh first")
    files = plain_rule_files(args.corpus)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(files))
    print(f"{len(files)} plain rule files from {args.corpus}; {os.cpu_count()} CPUs; {args.runs} runs each\n")
    results = [
        measure("promtool check rules", [promtool, "check", "rules", *files], args.runs),
        measure("coverage-audit load (YAML + PromQL)", [sys.executable, "-c", LOAD_ONLY, listing.name], args.runs),
        measure("coverage-audit rules --format json", [sys.executable, "-m", "coverage_audit", "rules", "--rules", str(args.corpus), "--format", "json", "--output", os.devnull], args.runs),
    ]
    os.unlink(listing.name)
    print(f"{'what':40} {'best s':>8} {'median s':>9} {'peak MiB':>9}  output")
    for r in results:
        print(f"{r['name']:40} {r['best']:8.2f} {r['median']:9.2f} {r['peak_mib']:9.1f}  {r['output']}")
    ratio = results[1]["best"] / results[0]["best"]  # type: ignore[operator]
    print(f"\ncoverage-audit load / promtool = {ratio:.2f}")


if __name__ == "__main__":
    main()
