"""Every benchmark in one run, as one table, with the issue's goals as PASS / FAIL lines.

    .venv/bin/python benchmarks/run_all.py [--only corpus,gitlab,scaling,synthetic] [--runs 1]
        [--timeout 900] [--max-memory-gib 8] [--services 2000] [--scaling-command report|check]
        [--scaling-subsets services|files]

Workloads, each beside `promtool check rules` on the same files:

* corpus:    the corpus's ~1,330 plain rule files: `rules --format json` cold / warm / no cache
             (bench_load.py);
* gitlab:    GitLab.com's 896 rule files, map and Alertmanager config: `check --component
             pgbouncer/service` cold and warm, `report` cold (bench_gitlab.py);
* scaling:   `report` (or `check`) cold on the GitLab rules of every 4th, every 2nd and every
             service (or file), growth per doubling of the bytes (bench_gitlab.py);
* synthetic: an organisation of --services services (~25 rules each): `check` against its
             load (bench_check.py).

A run longer than --timeout or larger than --max-memory-gib is stopped and reported, never
waited for. Every run prints what it decided (verdict counts and a digest of every finding's
status), so a change in results shows beside a change in speed. Exit status: 0 when every goal
that was measured passes. A benchmark, not a test: the numbers go in the closing notes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_check  # noqa: E402
import bench_gitlab  # noqa: E402
import bench_load  # noqa: E402
from measure import Section, machine, revision  # noqa: E402

WORKLOADS = ("corpus", "gitlab", "scaling", "synthetic")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"comma-separated, of: {', '.join(WORKLOADS)}")
    bench_gitlab.add_arguments(parser)  # --runs, --timeout, --max-memory-gib, --scaling-*
    bench_load.add_arguments(parser)  # --corpus
    bench_check.add_arguments(parser)  # --services, --seed, --labelled-copies
    args = parser.parse_args()
    chosen = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    print(f"coverage-audit at {revision()}; {machine()}; Python {sys.version.split()[0]}; "
          f"best of {args.runs} fresh process(es) each; timeout {args.timeout:.0f} s, cap {args.max_memory_gib:g} GiB\n", flush=True)  # fmt: skip
    sections: list[Section] = []
    with tempfile.TemporaryDirectory(prefix="bench-all-") as temporary:
        scratch = Path(temporary)
        for workload in chosen:
            folder = scratch / workload
            folder.mkdir()
            if workload == "corpus":
                sections.append(bench_load.corpus_section(args, folder))
            elif workload == "gitlab":
                sections.append(bench_gitlab.gitlab_section(args, bench_gitlab.Scratch(folder), {"check", "report"}))
            elif workload == "scaling":
                sections.append(bench_gitlab.scaling_section(args, bench_gitlab.Scratch(folder)))
            else:
                sections.append(bench_check.synthetic_section(args, folder))
            print(sections[-1].render() + "\n", flush=True)

    goals = [goal for section in sections for goal in section.goals]
    print("Goals (issue 10):")
    print("\n".join(goal.line() for goal in goals))
    print(f"\n{machine()} at the end; {time.perf_counter() - started:.0f} s in all")
    return 0 if all(goal.verdict != "FAIL" for goal in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
