"""A real organisation: GitLab.com's production rules, service map and Alertmanager config.

    .venv/bin/python benchmarks/bench_gitlab.py [--runs 1] [--timeout 900] [--max-memory-gib 8]
        [--only check,report,scaling] [--scaling-command report|check]
        [--scaling-subsets services|files]

Rules: ``../shared/corpus/mattrussi__gitlab-com-runbooks/mimir-rules/gitlab-gprd/`` (896 files);
map and Alertmanager configuration: ``../shared/realworld/gitlab/``. Side by side in one run,
each in a fresh process, with ``promtool check rules`` on the same files:

* ``check --component pgbouncer/service``, cold (a new, empty cache folder) and warm (the cache a
  cold run filled; rules unchanged); and a check of another component each run on a cache a
  first run filled (rules unchanged, the change new: what CI meets);
* ``report`` of every subject, cold;
* scaling: ``report`` (or ``check``) cold on the rule files of every 4th service, every 2nd
  service and all of them (29, 54 and 100 % of the bytes; ``--scaling-subsets files``: every 4th
  file, every 2nd, all), with the growth of time and memory per doubling of the bytes.

promtool and the cold runs take turns, round after round (``--runs`` rounds), so a busy spell of
the shared machine slows each of them alike: their ratios are the goals.

Every run prints its verdicts (counts per status and a digest of every finding's status), so a
change in results shows next to a change in speed. The map declares ``gitaly -> gitaly``, which
the map loader reports as an input error: exit 2 is expected and the error is counted.
Runs go from a scratch folder, so no ``coverage-audit.yaml`` is picked up, and use their own
cache folders, never the user's. A benchmark, not a test: the numbers go in the closing notes.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (  # noqa: E402
    Goal,
    Measurement,
    Section,
    findings_verdicts,
    machine,
    measure,
    memory_goals,
    promtool_verdicts,
    ratio_goal,
    revision,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RULES = SHARED / "corpus" / "mattrussi__gitlab-com-runbooks" / "mimir-rules" / "gitlab-gprd"
REALWORLD = SHARED / "realworld" / "gitlab"
COMPONENT = "pgbouncer/service"
# Other components, one per run of "another change" (each a change no earlier run judged)
OTHER_COMPONENTS = ("api/graphql_query", "ai-assisted/workhorse", "api/glql", "api/global_search", "ai-assisted/rails_request",
                    "ai-assisted/rails_queueing", "camoproxy/server", "api/rails_request", "git/workhorse", "api/workhorse", "kas/connections")  # fmt: skip
EXIT_CODES = (0, 1, 2)  # 1: gaps; 2: the map's self-dependency (an input error, counted)
SCALING_STEPS = ((4, "25 %"), (2, "50 %"), (1, "100 %"))
SCALING_TARGET = 2.2


def rule_files(folder: Path = RULES) -> list[str]:
    return sorted(str(path) for path in folder.rglob("*") if path.is_file() and path.suffix in (".yml", ".yaml"))


class Scratch:
    """A scratch folder for one workload: outputs, and a never-used cache folder for each cold run.

    A cold run gets a new cache folder, not an old one emptied just before: on a filesystem
    without a journal (this machine's ext4), the kernel checks every inode it hands out against
    the inodes deleted in the last minutes, so the ~1,000 cache files of a cold GitLab run made
    right after deleting the last run's ~1,000 cost 0.8 s more of kernel time (0.5 s of wall; an
    emptied folder: 5.8-6.2 s, a new one: 5.3-5.7 s). No real cold run pays that: one after an
    upgrade or on a fresh CI machine deletes nothing first. The folders go with the scratch
    folder, after every measurement.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self._made = 0

    def fresh_cache(self, name: str) -> Path:
        self._made += 1
        return self.base / f"cache-{name}-{self._made}"

    def empty(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)


def ours(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "coverage_audit", *arguments]


def inputs(files: list[str]) -> list[str]:
    return [*(arg for path in files for arg in ("--rules", path)), "--alertmanager", str(REALWORLD / "alertmanager.yaml"),
            "--service-map", str(REALWORLD / "service-map.yaml")]  # fmt: skip


def promtool_once(files: list[str], scratch: Scratch, args: argparse.Namespace, result: Measurement) -> bool:
    """One more promtool run into ``result``; True when no more should follow (no promtool, or
    stopped)."""
    tool = shutil.which("promtool")
    if tool is None:
        result.skipped = "promtool not found (scripts/bootstrap.sh installs it)"
        return True
    # exit 1 is expected: promtool's duplicate-rule lint fails some generated files
    return measure(result, [tool, "check", "rules", *files], args.timeout, args.max_memory_gib, (0, 1), promtool_verdicts, cwd=scratch.base).stopped is not None


class CheckRuns:
    """``check --component COMPONENT``: cold runs (each with a new, empty cache folder), then
    warm runs on the cache the last cold one filled (rules unchanged)."""

    def __init__(self, files: list[str], scratch: Scratch, args: argparse.Namespace) -> None:
        self.files, self.scratch, self.args = files, scratch, args
        self.output, self.cache = scratch.base / "check.json", scratch.fresh_cache("check")
        self.cold = Measurement(f"check --component {COMPONENT}, cold")
        self.warm = Measurement(f"check --component {COMPONENT}, warm")

    def command(self) -> list[str]:
        return ours("check", *inputs(self.files), "--component", COMPONENT, "--format", "json", "--output", str(self.output),
                    "--cache-dir", str(self.cache))  # fmt: skip

    def cold_once(self) -> None:
        if self.cold.failed is None:  # a stopped run would be stopped again
            self.cache = self.scratch.fresh_cache("check")
            measure(self.cold, self.command(), self.args.timeout, self.args.max_memory_gib, EXIT_CODES, self._verdicts, cwd=self.scratch.base)

    def warm_runs(self) -> None:
        if self.cold.failed is not None:
            self.warm.skipped = f"the cold run was stopped ({self.cold.failed.stopped})"
            return
        for _ in range(self.args.runs):
            if measure(self.warm, self.command(), self.args.timeout, self.args.max_memory_gib, EXIT_CODES, self._verdicts, cwd=self.scratch.base).stopped:
                break

    def _verdicts(self, run: object) -> str:
        return findings_verdicts(self.output)


def other_change_runs(files: list[str], scratch: Scratch, args: argparse.Namespace) -> Measurement:
    """A check of another change each run, on the cache a first run (not counted) filled: CI
    restores the cache and asks about a new change. No verdict is kept for it and the rules
    are unchanged, so the files' entries and their kept expansion answer."""
    cache = scratch.fresh_cache("other")
    result = Measurement("check of another change, rules cached")
    components = iter(OTHER_COMPONENTS)
    for counted in [False, *([True] * min(args.runs, len(OTHER_COMPONENTS) - 1))]:  # each change new
        output = scratch.base / "other.json"
        command = ours("check", *inputs(files), "--component", next(components), "--format", "json", "--output", str(output), "--cache-dir", str(cache))
        target = result if counted else Measurement("priming")
        if measure(target, command, args.timeout, args.max_memory_gib, EXIT_CODES, lambda run: findings_verdicts(output), cwd=scratch.base).stopped:
            break
    return result


class ReportRuns:
    """``report`` of every subject, cold: a new, empty cache folder and no history, every run."""

    def __init__(self, files: list[str], scratch: Scratch, args: argparse.Namespace, label: str) -> None:
        self.files, self.scratch, self.args = files, scratch, args
        self.out = scratch.base / "report"
        self.result = Measurement(label)

    def once(self) -> None:
        if self.result.failed is None:  # a stopped run would be stopped again
            command = ours("report", *inputs(self.files), "--out", str(self.out), "--cache-dir", str(self.scratch.fresh_cache("report")))
            # An emptied output folder: no history, every run is the first (a few files deleted).
            measure(self.result, command, self.args.timeout, self.args.max_memory_gib, EXIT_CODES, self._verdicts,
                    before=lambda: self.scratch.empty(self.out), cwd=self.scratch.base)  # fmt: skip

    def _verdicts(self, run: object) -> str:
        html = (self.out / "index.html").stat().st_size / 1024**2
        return findings_verdicts(self.out / "report.json") + f"; index.html {html:.1f} MiB"


def gitlab_section(args: argparse.Namespace, scratch: Scratch, parts: set[str]) -> Section:
    """promtool, the cold check and the cold report take turns, round after round, so a busy
    spell of the shared machine slows each of them alike (their ratios are the goals)."""
    files = rule_files()
    reference = Measurement("promtool check rules")
    section = Section(f"GitLab.com gitlab-gprd: {len(files)} rule files, {REALWORLD.name} map and Alertmanager config", reference)
    check = CheckRuns(files, scratch, args) if "check" in parts else None
    report = ReportRuns(files, scratch, args, "report (every subject), cold") if "report" in parts else None
    for _ in range(args.runs):
        if reference.skipped is None and reference.failed is None:
            promtool_once(files, scratch, args, reference)
        if check is not None:
            check.cold_once()
        if report is not None:
            report.once()
    if check is not None:
        check.warm_runs()  # on the cache the last cold run filled
        other = other_change_runs(files, scratch, args)
        section.rows += [check.cold, check.warm, other]
        section.goals += [
            ratio_goal("GitLab check cold / promtool", check.cold, reference, 1.5),
            ratio_goal("GitLab check warm / promtool", check.warm, reference, 0.2),
            *memory_goals("GitLab check cold", check.cold, reference, None),
            *memory_goals("GitLab check warm", check.warm, reference, None),
        ]
    if report is not None:
        section.rows.append(report.result)
        section.goals += [ratio_goal("GitLab report cold / promtool", report.result, reference, 2.0),
                          *memory_goals("GitLab report cold", report.result, reference, None)]  # fmt: skip
    return section


def scaling_subset(every: list[str], stride: int, by: str) -> list[str]:
    """Every ``stride``-th service's rule files (its folder, or a file of its own at the top), or
    every ``stride``-th file (``by="files"``). Files of every other service keep each service's
    recording chains whole; every other file cuts them: at 50 % of the files only 6 of GitLab's
    298 modes are covered (109 at 100 %), so most of the judging at 100 % has no counterpart at
    50 %, and the step measured that, not how the tool grows."""
    if by == "files":
        return every[::stride]
    services: dict[str, list[str]] = {}
    for path in every:
        services.setdefault(Path(path).relative_to(RULES).parts[0], []).append(path)
    return [path for paths in list(services.values())[::stride] for path in paths]


def scaling_section(args: argparse.Namespace, scratch: Scratch) -> Section:
    every = rule_files()
    total = _bytes(every)
    unit = "services" if args.scaling_subsets == "services" else "files"
    section = Section(f"Scaling on GitLab.com: `{args.scaling_command}` cold on every 4th, every 2nd and all {unit} (sorted)", None)
    steps: list[tuple[str, int, Measurement, Measurement]] = []
    turns: list[tuple[list[str], Measurement, Callable[[], None]]] = []
    for stride, _ in SCALING_STEPS:
        files = scaling_subset(every, stride, args.scaling_subsets)
        size = _bytes(files)
        share = f"{size / total:.0%}".replace("%", " %")
        reference = Measurement(f"promtool check rules, {share} ({len(files)} files)")
        label = f"{args.scaling_command}, {share} ({len(files)} files)"
        if args.scaling_command == "report":
            runs = ReportRuns(files, scratch, args, label)
            ours_run, once = runs.result, runs.once
        else:
            checks = CheckRuns(files, scratch, args)
            ours_run, once = checks.cold, checks.cold_once
            ours_run.label = label
        section.rows += [reference, ours_run]
        steps.append((share, size, reference, ours_run))
        turns.append((files, reference, once))
    # Round after round, every share in turn (each with promtool on the same files): the goals
    # compare our own runs of different shares, so a busy spell of the shared machine must not
    # fall on one share only (one made 100 % look 2.76x 50 %; the same 100 % report in the
    # GitLab section, minutes before, was 2.14x it).
    for _ in range(args.runs):
        for files, reference, once in turns:
            if reference.skipped is None and reference.failed is None:
                promtool_once(files, scratch, args, reference)
            once()
    promtool_growth = []
    for (small_share, small_size, small_reference, small), (large_share, large_size, large_reference, large) in zip(steps, steps[1:]):
        # A step doubles the bytes only roughly (services differ in size): its growth is given
        # per doubling of the bytes, ratio ** (1 / log2(bytes ratio)).
        doublings = math.log2(large_size / small_size)
        name = f"scaling {small_share} -> {large_share} (bytes x{large_size / small_size:.2f}), per doubling"
        if small.ok and large.ok:
            section.goals.append(Goal(f"{name}: time", (large.best.seconds / small.best.seconds) ** (1 / doublings), SCALING_TARGET))
            section.goals.append(Goal(f"{name}: memory", (large.peak_mib / small.peak_mib) ** (1 / doublings), SCALING_TARGET))
        else:
            stopped = next((m.failed.stopped for m in (small, large) if m.failed is not None), None)
            why = stopped or "not run"
            section.goals += [Goal(f"{name}: time", None, SCALING_TARGET, why_not=why), Goal(f"{name}: memory", None, SCALING_TARGET, why_not=why)]
        if small_reference.ok and large_reference.ok:
            promtool_growth.append(f"{(large_reference.best.seconds / small_reference.best.seconds) ** (1 / doublings):.2f}")
    if promtool_growth:
        section.notes.append(f"promtool's own growth per doubling: {', '.join(promtool_growth)} (time)")
    return section


def _bytes(files: list[str]) -> int:
    return sum(Path(path).stat().st_size for path in files)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=1, help="runs of each command; the best counts (default 1)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is stopped and reported (default 900)")
    parser.add_argument("--max-memory-gib", type=float, default=8, help="address-space cap per run (default 8)")
    parser.add_argument("--scaling-command", choices=("report", "check"), default="report", help="what the scaling run measures")
    parser.add_argument("--scaling-subsets", choices=("services", "files"), default="services",
                        help="the scaling run's shares: every n-th service's rule files (default), or every n-th file")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--only", default="check,report,scaling", help="comma-separated: check, report, scaling")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"coverage-audit at {revision()}; {machine()}; best of {args.runs} fresh process(es) each\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-gitlab-") as temporary:
        scratch = Scratch(Path(temporary))
        sections = []
        if parts & {"check", "report"}:
            sections.append(gitlab_section(args, scratch, parts))
            print(sections[-1].render() + "\n", flush=True)
        if "scaling" in parts:
            sections.append(scaling_section(args, scratch))
            print(sections[-1].render() + "\n", flush=True)
    goals = [goal for section in sections for goal in section.goals]
    print("\n".join(goal.line() for goal in goals))
    print(f"\n{machine()} at the end")
    return 0 if all(goal.verdict != "FAIL" for goal in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
