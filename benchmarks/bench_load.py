"""Loading speed: coverage-audit versus `promtool check rules` on the corpus's plain rule files.

    .venv/bin/python benchmarks/bench_load.py [--runs 3] [--corpus ../shared/corpus]

Both sides get the same ~1,330 files (plain Prometheus/Thanos/Mimir rule files: what promtool
reads), each run in a fresh process, side by side in one invocation: promtool; our loader
alone (YAML + PromQL); and the user's command, `coverage-audit rules --format json` (load,
expand, classify, render), cold (a new, empty cache folder: a first run, which also fills the
cache), warm (rules unchanged) and with `--no-cache`. Best and median wall time, CPU time and
peak resident memory of each. A benchmark, not a test: the numbers go in the closing notes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (  # noqa: E402
    Measurement,
    Run,
    Section,
    inventory_verdicts,
    machine,
    measure,
    memory_goals,
    promtool_verdicts,
    ratio_goal,
    revision,
)

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


PLAIN_FILES = """
import json, os, sys
from coverage_audit.loaders.rules import load_rules
load = load_rules([sys.argv[1]])
kubernetes = {rule.file for rule in load.rules if rule.source == "prometheusrule"}
print(json.dumps(sorted(f for f in load.rule_files if f not in kubernetes)), flush=True)
os._exit(0)
"""


def plain_rule_files(corpus: Path) -> list[str]:
    """The corpus's rule files that promtool reads: not Kubernetes PrometheusRule objects.

    Found by another process: a process started from this one starts its peak resident set at
    this one's (Linux carries it over ``exec``), so this one must stay small for the figures."""
    found = subprocess.run([sys.executable, "-c", PLAIN_FILES, str(corpus)], cwd=ROOT, capture_output=True, text=True, check=True)
    files: list[str] = json.loads(found.stdout)
    return files


def corpus_section(args: argparse.Namespace, scratch: Path) -> Section:
    files = plain_rule_files(args.corpus)
    listing = scratch / "files.txt"
    listing.write_text("\n".join(files), encoding="utf-8")
    section = Section(f"Corpus: {len(files)} plain rule files from {args.corpus}", Measurement("promtool check rules"))
    reference = section.reference
    assert reference is not None
    tool = shutil.which("promtool")
    loader = Measurement("our loader alone (YAML + PromQL)")
    cold = Measurement("rules --format json, cold")
    warm = Measurement("rules --format json, warm")
    uncached = Measurement("rules --format json --no-cache")
    section.rows += [loader, cold, warm, uncached]
    output = scratch / "inventory.json"
    rules = [sys.executable, "-m", "coverage_audit", "rules", *(a for f in files for a in ("--rules", f)), "--format", "json", "--output", str(output)]

    def verdicts(run: Run) -> str:
        return inventory_verdicts(output)

    def loaded(run: Run) -> str:
        count, errors = run.stdout.split()
        return f"{count} rules, {errors} errors"

    timeout, cap = args.timeout, args.max_memory_gib
    for run in range(args.runs):  # interleaved, so a busy spell slows every command alike
        # A new cache folder for each cold run, not the last one emptied: deleting its ~1,300
        # entries right before slows the making of the next ones (bench_gitlab.Scratch).
        cache = scratch / f"cache-{run}"
        if tool is None:
            reference.skipped = "promtool not found (scripts/bootstrap.sh installs it)"
        else:
            measure(reference, [tool, "check", "rules", *files], timeout, cap, (0, 1), promtool_verdicts, cwd=scratch)
        measure(loader, [sys.executable, "-c", LOAD_ONLY, str(listing)], timeout, cap, (0,), loaded, cwd=scratch)
        # exit 2: the corpus holds promtool's own bad-rule fixtures, reported as input errors
        measure(cold, [*rules, "--cache-dir", str(cache)], timeout, cap, (0, 2), verdicts, cwd=scratch)
        measure(warm, [*rules, "--cache-dir", str(cache)], timeout, cap, (0, 2), verdicts, cwd=scratch)
        measure(uncached, [*rules, "--no-cache"], timeout, cap, (0, 2), verdicts, cwd=scratch)
    section.goals += [
        ratio_goal("corpus rules --format json cold / promtool", cold, reference, 1.0),
        *memory_goals("corpus rules --format json cold", cold, reference, 2.0),
    ]
    return section


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--max-memory-gib", type=float, default=8)
    add_arguments(parser)
    args = parser.parse_args()
    print(f"coverage-audit at {revision()}; {machine()}; best of {args.runs} fresh process(es) each\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        section = corpus_section(args, Path(scratch))
    print(section.render() + "\n")
    print("\n".join(goal.line() for goal in section.goals))
    print(f"\n{machine()} at the end; CPUs: {os.cpu_count()}")
    return 0 if all(goal.verdict != "FAIL" for goal in section.goals) else 1


if __name__ == "__main__":
    sys.exit(main())
