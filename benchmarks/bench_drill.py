"""Speed of the drill (issue 11): every covering alert of the bundled shop through promtool, and
a slice of GitLab.com's map.

    .venv/bin/python benchmarks/bench_drill.py [--scenario outage|partial|canary|all] [--jobs 2]
    .venv/bin/python benchmarks/bench_drill.py --gitlab [--components 6] [--jobs 2]

Shop: loads the bundled example, judges every failure mode, and drills every covering alert of
every finding (not only the ones verdicts rest on) in the scenario(s). Target: <= 30 s on 2
cores for the outage scenario.

GitLab (``../shared/realworld/gitlab`` with its Mimir rules from the corpus): judges the failure
modes of the first ``--components`` components of the map, each within ``--judge-limit``
seconds (the static judge inlines recording rules; on some of GitLab's alerts that takes far
longer, and the judge is being rewritten: modes past the limit are skipped and counted), and
drills the alerts their verdicts rest on.

Printed per run: alerts drilled, engine runs, wall-clock seconds, and CPU seconds of this
process and of every promtool it ran (a busy machine stretches wall-clock time, not CPU time);
then how many alerts fired, were silent, noisy, or could not be drilled, with the reasons.
A benchmark, not a test: the numbers go in the closing notes.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coverage_audit.analysis.impact import every_mode  # noqa: E402
from coverage_audit.commands import judge_all, load_inputs  # noqa: E402
from coverage_audit.config import Settings, load_config  # noqa: E402
from coverage_audit.drill import Options, drill, verdicts  # noqa: E402
from coverage_audit.scenarios import SCENARIOS  # noqa: E402

GITLAB = ROOT.parent / "shared" / "realworld" / "gitlab"
GITLAB_RULES = ROOT.parent / "shared" / "corpus" / "mattrussi__gitlab-com-runbooks" / "mimir-rules" / "gitlab-gprd"


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _TooSlow(Exception):
    pass


def judge_within(inputs, settings, modes, limit: float):  # type: ignore[no-untyped-def]
    """Each mode judged alone, within ``limit`` seconds (SIGALRM; this runs in the main thread)."""
    from coverage_audit.analysis.coverage import CoverageJudge

    judge = CoverageJudge(inputs.ruleset, inputs.alertmanager, settings.budget, settings.evaluation_interval)

    def expire(signum, frame):  # type: ignore[no-untyped-def]
        raise _TooSlow()

    signal.signal(signal.SIGALRM, expire)
    judged, kept, skipped = [], [], 0
    for mode in modes:
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            judged.append(judge.judge(mode.subject, mode.mode, mode.service_matchers, mode.impact))
            kept.append(mode)
        except _TooSlow:
            skipped += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return judged, kept, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="outage")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--gitlab", action="store_true", help="drill a slice of GitLab.com's map instead of the shop")
    parser.add_argument("--components", type=int, default=6, help="GitLab: components whose modes are judged and drilled")
    parser.add_argument("--judge-limit", type=float, default=60.0, help="GitLab: seconds to judge one failure mode")
    args = parser.parse_args()
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)

    started = time.monotonic()
    if args.gitlab:
        settings = Settings(rules=(str(GITLAB_RULES),), alertmanager=str(GITLAB / "alertmanager.yaml"),
                            service_maps=(str(GITLAB / "service-map.yaml"),), jobs=args.jobs)
    else:
        os.chdir(ROOT)
        settings = load_config(str(ROOT / "coverage-audit.yaml"))
    inputs = load_inputs(settings)
    modes = every_mode(inputs.service_map, inputs.catalog)
    if args.gitlab:
        chosen = list(dict.fromkeys(m.subject.name for m in modes))[: args.components]
        modes = [m for m in modes if m.subject.name in chosen]
    loaded = time.monotonic()
    skipped = 0
    if args.gitlab:
        judged, modes, skipped = judge_within(inputs, settings, modes, args.judge_limit)
    else:
        judged = judge_all(inputs, settings, modes)
    judged_at, judged_cpu = time.monotonic(), cpu_seconds()
    found = verdicts(judged, modes, every_alert=not args.gitlab)
    options = Options(scenarios, settings.budget, settings.evaluation_interval, settings.canary_selector, args.jobs)
    measured = drill(found, inputs.ruleset, options)
    wall, spent = time.monotonic() - judged_at, cpu_seconds() - judged_cpu

    outcomes: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    notable: list[str] = []
    modelled = {(f.subject.name, f.mode.id, a.rule): a.detect for f in judged for a in f.alerts}
    for (subject, mode), by_rule in measured.results.items():
        for rule, by_scenario in by_rule.items():
            for scenario, result in by_scenario.items():
                if not result.drilled:
                    outcomes["not drilled"] += 1
                    reasons[result.why.split(":")[0][:90]] += 1
                elif result.noisy:
                    outcomes["noisy"] += 1
                elif result.fired_after_seconds is None:
                    outcomes["silent"] += 1
                else:
                    outcomes["fired"] += 1
                if not result.drilled or result.noisy or result.fired_after_seconds is None:
                    model = (modelled.get((subject, mode, rule)) or {}).get(scenario, "-")
                    notable.append(f"  {subject} {mode} {rule.name} ({scenario}): modelled {model}, measured {result}")
    drilled = sum(outcomes.values())
    what = f"GitLab.com, {len({m.subject.name for m in modes})} components" if args.gitlab else "shop"
    print(f"{what}: {len(modes)} failure modes judged in {judged_at - loaded:.1f}s (load {loaded - started:.1f}s)"
          + (f"; {skipped} more skipped, judging each took over {args.judge_limit:g}s" if skipped else ""))
    print(f"drill ({', '.join(scenarios)}, --jobs {args.jobs} on {os.cpu_count()} CPUs): {drilled} alert drills in "
          f"{measured.runs} engine runs: {wall:.1f}s wall-clock, {spent:.1f}s CPU (all promtool runs included)")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    for reason, count in reasons.most_common(8):
        print(f"  not drilled x{count}: {reason}")
    if notable:
        print("not firing, noisy or not drilled:")
        print("\n".join(notable[:40]))
    print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
