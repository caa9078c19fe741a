"""Speed of live series evidence: 2,000 alerts against a real Prometheus holding 100,000 series.

    .venv/bin/python benchmarks/bench_live.py [--services 500] [--concurrency 8] [--keep DIR]

It writes six hours of an organisation's series (500 services x 200 series: request counters by
code, handler and instance, latency histograms, up, process and application metrics; every 20th
service moved off ``http_requests_total`` four hours ago) with ``promtool tsdb create-blocks-from
openmetrics``, starts Debian's Prometheus on them (127.0.0.1, a free port), and times, in this
process, what a run with ``--prometheus`` does for the alerts its verdicts rest on:

* prefetch: ``Evidence.prefetch`` of 2,000 alerts (4 a service, one through a recording rule)
  and the 500 subjects: the metric names of the lookback, the recent series of every metric the
  alerts read (batched, deduplicated across alerts), the whole lookback for metrics where a read
  found nothing recent, each subject's metric names, and a bisection per disappeared read;
* judge: ``Evidence.dead_reason`` for every alert, against its service's selector.

Target (issue 12): prefetch + judge <= 20 s, with bounded concurrency. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import live_servers as ls  # noqa: E402
from coverage_audit.levels import default_levels  # noqa: E402
from coverage_audit.live.endpoint import Endpoint  # noqa: E402
from coverage_audit.live.evidence import Evidence, recording_definitions  # noqa: E402
from coverage_audit.live.prometheus import PrometheusClient  # noqa: E402
from coverage_audit.live.transport import Transport  # noqa: E402
from coverage_audit.loaders.rules import load_rule_file  # noqa: E402
from coverage_audit.model import LabelMatcher, MatchOp  # noqa: E402
from coverage_audit.ruleset import build_ruleset  # noqa: E402

HOUR = 3600.0
HISTORY = 6 * HOUR
MOVED = 4 * HOUR
STEP = 1800.0
TARGET = 20.0


def series(services: int) -> list[ls.Series]:
    found = []

    def s(metric: str, until: float = 60.0, since: float = HISTORY, **labels: str) -> None:
        found.append(ls.Series(metric, labels, since, until, 1.0, None, STEP))

    for i in range(services):
        job = f"svc-{i:04d}"
        moved = i % 20 == 0
        for instance in ("i0", "i1", "i2", "i3"):
            s("up", job=job, instance=instance)
            s("process_cpu_seconds_total", job=job, instance=instance)
            for handler in ("h0", "h1", "h2", "h3"):
                for code in ("200", "404", "500"):
                    s("http_requests_total", until=MOVED if moved else 60.0, job=job, code=code, handler=handler, instance=instance)
                    if moved:
                        s("http_server_request_duration_seconds_count", since=MOVED, job=job, http_response_status_code=code, http_route=handler, instance=instance)
                for le in ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"):
                    s("http_request_duration_seconds_bucket", job=job, le=le, handler=handler, instance=instance)
        for kind in range(16):
            s("app_events_total", job=job, kind=f"k{kind}")
    return found


def rules(services: int) -> str:
    lines = ["groups:", "  - name: recordings", "    rules:", "      - record: job:http_requests:rate5m", "        expr: sum by (job) (rate(http_requests_total[5m]))"]
    for i in range(services):
        job = f"svc-{i:04d}"
        lines += [
            f"  - name: {job}",
            "    rules:",
            f"      - alert: ErrorRatio_{i}",
            f'        expr: sum by (job) (rate(http_requests_total{{job="{job}",code=~"5.."}}[5m])) / sum by (job) (rate(http_requests_total{{job="{job}"}}[5m])) > 0.05',
            f"      - alert: LatencyP99_{i}",
            f'        expr: histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{{job="{job}"}}[5m]))) > 1',
            f"      - alert: TrafficDrop_{i}",
            f'        expr: job:http_requests:rate5m{{job="{job}"}} < 1',
            f"      - alert: EventsStalled_{i}",
            f'        expr: sum by (job) (rate(app_events_total{{job="{job}",kind="k{i % 16}"}}[10m])) == 0'
            if i % 25 else f'        expr: sum by (job) (rate(app_orders_failed_total{{job="{job}"}}[10m])) > 0',
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse the blocks written by an earlier run (minutes old at most)")
    args = parser.parse_args()
    if ls.tools_missing():
        print(ls.tools_missing())
        return 2
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench-live-"))
    folder.mkdir(parents=True, exist_ok=True)
    written = series(args.services)
    if not (args.reuse and (folder / "data").is_dir()):
        shutil.rmtree(folder / "data", ignore_errors=True)
        started = time.monotonic()
        ls.write_blocks(written, folder / "data", time.time())
        print(f"wrote {len(written):,} series with promtool in {time.monotonic() - started:.1f}s")
    rule_file = folder / "rules.yaml"
    rule_file.write_text(rules(args.services))
    ruleset = build_ruleset(load_rule_file(str(rule_file)), default_levels())
    alerts = [r for r in ruleset.rules if r.kind == "alert"]
    subjects = {f"svc-{i:04d}/api": (LabelMatcher("job", MatchOp.EQ, f"svc-{i:04d}"),) for i in range(args.services)}
    with ls.prometheus(folder / "prometheus", folder / "data") as prom:
        transport = Transport(Endpoint(prom.url), timeout=30, concurrency=args.concurrency)
        evidence = Evidence(PrometheusClient(transport), 86400.0, recording_definitions(ruleset))
        started = time.monotonic()
        evidence.prefetch(alerts, subjects.items())
        fetched = time.monotonic() - started
        started = time.monotonic()
        dead = {}
        for alert in alerts:
            service = "svc-" + alert.name.rsplit("_", 1)[1].zfill(4)
            why = evidence.dead_reason(alert, subjects[f"{service}/api"], frozenset({"http_requests_total"}))
            if why:
                dead[alert.name] = why
        judged = time.monotonic() - started
    assert not evidence.errors, evidence.errors
    total = fetched + judged
    print(f"{len(alerts):,} alerts, {args.services} subjects, {len(written):,} series, concurrency {args.concurrency}")
    print(f"prefetch {fetched:.2f}s ({transport.requests} requests), judge {judged:.2f}s, total {total:.2f}s (target <= {TARGET:.0f}s)")
    kinds = {}
    for why in dead.values():
        key = "disappeared" if "disappeared" in why else "never seen" if "never seen" in why else "other"
        kinds[key] = kinds.get(key, 0) + 1
    print(f"dead alerts: {len(dead)} {kinds}; e.g. {next(iter(dead.items()), ('-', '-'))}")
    print("PASS" if total <= TARGET else "FAIL")
    return 0 if total <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
