"""Coverage as Prometheus metrics, for the node_exporter textfile collector or a Pushgateway.

A registry of its own (never the process-wide default), so only coverage series are exposed.
Business metrics have no service: their series carry ``service=""``. Every failure mode exposes
all four statuses (1 for the current one, 0 for the others; ``waived`` is a gap a waiver
accepts) so that a status change is a value change, not a series appearing or going stale;
that keeps alert expressions simple.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from ..analysis.baseline import counts as delta_counts
from ..analysis.findings import STATUSES, CoverageReport

SHOWN = (*STATUSES, "waived")
from ..analysis.overview import Overview

CONTENT_TYPE = CONTENT_TYPE_LATEST


def build_registry(report: CoverageReport, overview: Overview) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=registry)

    state = gauge(
        "coverage_audit_failure_mode_status",
        "1 for the failure mode's current coverage status (covered, weak, uncovered, waived), 0 for the others.",
        ("subject", "service", "owner", "tier", "failure_mode", "status"),
    )
    for f in overview.findings:
        for status in SHOWN:
            state.labels(f.subject.name, f.subject.service or "", f.subject.owner, f.subject.tier, f.mode.id, status).set(int(f.status == status))

    counts = gauge(
        "coverage_audit_failure_modes",
        "Failure modes by coverage status, per service (\"\" for business metrics), owner and failure mode id.",
        ("service", "owner", "failure_mode", "status"),
    )
    for mode in overview.service_modes:
        for status in SHOWN:
            counts.labels(mode.service, mode.owner, mode.failure_mode, status).set(mode.count(status))

    totals = gauge("coverage_audit_failure_modes_by_status", "Failure modes of every subject in the service map, by coverage status.", ("status",))
    for status in SHOWN:
        totals.labels(status).set(overview.totals.count(status))

    gauge("coverage_audit_coverage_ratio", "Share of all failure modes that are covered (weak does not count), 0 to 1.").set(overview.totals.ratio)
    owners = gauge("coverage_audit_owner_coverage_ratio", "Share of an owner's failure modes that are covered, 0 to 1.", ("owner",))
    for group in overview.owners:
        owners.labels(group.name).set(group.ratio)
    services = gauge("coverage_audit_service_coverage_ratio", "Share of a service's failure modes that are covered, 0 to 1.", ("service", "owner", "tier"))
    for group in overview.services:
        services.labels(group.name, ", ".join(group.owners), group.tier).set(group.ratio)

    changes = gauge(
        "coverage_audit_status_changes",
        "Failure modes whose status changed since the previous run in this report's history, by kind of change.",
        ("change",),
    )
    c = overview.changes
    for kind, items in (
        ("newly_uncovered", c.newly_uncovered),
        ("newly_weak", c.newly_weak),
        ("newly_covered", c.newly_covered),
        ("improved", c.improved),
        ("added", c.added),
        ("removed", c.removed),
    ):
        changes.labels(kind).set(len(items))

    unreachable = gauge("coverage_audit_unreachable_alerts", "Covering alerts that notify no one, by problem (blackhole or unrouted).", ("problem",))
    for problem in ("blackhole", "unrouted"):
        unreachable.labels(problem).set(sum(problem in a.problems for a in overview.unreachable_alerts))
    gauge(
        "coverage_audit_infrastructure_only_failure_modes",
        "Uncovered failure modes watched only by infrastructure-level alerts.",
    ).set(sum(len(a.failure_modes) for a in overview.infrastructure_only))
    if report.baseline is not None:
        against = gauge("coverage_audit_baseline_findings", "Failure modes compared with --baseline: new, worse, better or unchanged.", ("delta",))
        for delta, count in delta_counts(report.findings).items():
            against.labels(delta).set(count)
    gauge("coverage_audit_input_errors", "Input files or entries that could not be used in this run.").set(len(report.errors))
    gauge("coverage_audit_budget_seconds", "The time-to-detect budget the run judged against.").set(overview.budget)
    gauge("coverage_audit_last_run_timestamp_seconds", "When the report ran, as a Unix timestamp.").set(
        datetime.fromisoformat(overview.generated_at).timestamp()
    )
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format: ``coverage.prom`` and the pushed body."""
    return generate_latest(registry)
