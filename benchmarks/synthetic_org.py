"""A synthetic organisation for the speed benchmarks: rules, Alertmanager config, service maps.

    .venv/bin/python benchmarks/synthetic_org.py OUT_DIR [--services 2000] [--seed 1]
        [--change-within N] [--labelled-copies]

``generate(folder, services)`` writes, deterministically for a seed (each team draws from its
own random stream, so the organisation of 2N services holds the one of N unchanged):

* ``service_maps/team-K.yaml``: native ServiceMap files, 20 services per team, 5 components per
  service (kinds of the failure-mode catalog), globs ``services/svc-N/<component>/**`` plus
  per-team shared ``libs/lib-K/**``, and one business metric per team. Services are layered
  inside a team (4 leaves, then 6, 6 and 4 services calling lower layers), and upper layers
  sometimes call a leaf of one of the 10 teams before theirs: a DAG whose caller chains stay
  a few levels deep, however large the organisation grows;
* ``rules/``: ~25 rules per service, kept the way teams keep them (one file per service or one
  or two per team, plain files or PrometheusRule objects, a few with Thanos group keys), plus a
  shared platform file. A third of the teams use hand-written ``job:`` recordings copied per
  service (one name, hundreds of definitions), the others Sloth. Shapes follow the corpus (GitLab's Mimir rules, Wikimedia's alerts,
  Sloth output, kube-prometheus): SLO recording rules with burn-rate windows, error-ratio
  alerts over recordings, histogram latency, traffic drop against ``offset 1w``, consumer lag,
  CronJob staleness, infrastructure alerts, alerts without a service matcher, ``severity:
  info`` alerts that Alertmanager blackholes;
* ``alertmanager.yaml``: a route per team (chat, plus a pager for critical), a blackhole for
  ``severity="info"``, a ``continue`` copy of every page, a few digest teams with a long
  ``group_wait``, a few legacy ``match:`` routes and a few teams with no route at all.

YAML is written by hand (not ``yaml.dump``): 50,000 rules are emitted in a couple of seconds,
and the output looks like files people write (``|`` blocks for multi-line expressions).
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICES_PER_TEAM = 20
COMPONENTS_PER_SERVICE = 5
# Layers inside a team, by position: leaves first, so every call goes to a lower index.
LAYERS = (0,) * 4 + (1,) * 6 + (2,) * 6 + (3,) * 4
CROSS_TEAM_REACH = 10  # an upper-layer service may call a leaf of one of the 10 previous teams

# Secondary components: (name, kind), four are drawn per service besides its main API.
SECONDARY = (
    ("events", "queue_consumer"),
    ("outbox", "queue_consumer"),
    ("nightly", "batch_job"),
    ("cleanup", "batch_job"),
    ("migrations", "db_migration"),
    ("cache", "cache"),
    ("vendor", "external_dependency"),
    ("admin", "http_api"),
    ("webhooks", "http_api"),
    ("internal", "grpc_api"),
)

GRPC_SERVER_ERRORS = 'grpc_code=~"Unknown|Internal|Unavailable|DataLoss|DeadlineExceeded"'
SLO_WINDOWS = ("5m", "30m", "1h", "6h")


@dataclass(frozen=True, slots=True)
class Api:
    """How one service's main API is measured: which metrics its rules read."""

    kind: str  # http_api | grpc_api
    requests: str  # counter of requests
    errors: str  # the matcher that picks the failed ones
    bucket: str  # latency histogram buckets
    own_metrics: bool  # named after the service, so the component declares its `signals`


@dataclass(slots=True)
class OrgInfo:
    """What was generated, where, and the change the benchmark asks about."""

    folder: Path
    rules_dir: Path
    alertmanager: Path
    service_maps_dir: Path
    changed_paths: list[str]
    services: int
    components: int
    business_metrics: int
    teams: int
    rules: int = 0
    rule_files: int = 0
    shapes: Counter[str] = field(default_factory=Counter)  # rule shape -> how many


# --------------------------------------------------------------------------- YAML emission

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_ ./:()-]*")
_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def _scalar(text: str) -> str:
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and ": " not in text and text.lower() not in _YAML11_WORDS:
        return text
    return "'" + text.replace("'", "''") + "'"


def _emit(value: Any, indent: int, out: list[str]) -> None:
    """Block-style YAML of dicts, lists and strings (multi-line strings as ``|`` blocks)."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            _emit_entry(f"{pad}{key}:", item, indent, out)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                lines: list[str] = []
                _emit(item, indent + 2, lines)
                out.append(f"{pad}- {lines[0].lstrip()}")
                out.extend(lines[1:])
            else:
                _emit_entry(f"{pad}-", item, indent, out)
    else:
        raise TypeError(f"cannot emit {type(value).__name__} at the top")


def _emit_entry(head: str, item: Any, indent: int, out: list[str]) -> None:
    if isinstance(item, bool):
        out.append(f"{head} {'true' if item else 'false'}")
    elif isinstance(item, str):
        if "\n" in item:
            out.append(f"{head} |")
            out.extend(f"{' ' * (indent + 2)}{line}" if line else "" for line in item.rstrip("\n").split("\n"))
        else:
            out.append(f"{head} {_scalar(item)}")
    elif isinstance(item, list) and all(isinstance(x, str) for x in item) and len(item) <= 6 and all("\n" not in x for x in item):
        out.append(f"{head} [{', '.join(_scalar(x) for x in item)}]")  # flow style, as people write short lists
    elif isinstance(item, (dict, list)) and item:
        out.append(head)
        _emit(item, indent + 2, out)
    elif isinstance(item, (dict, list)):
        out.append(f"{head} {'{}' if isinstance(item, dict) else '[]'}")
    else:
        raise TypeError(f"cannot emit {type(item).__name__}")


def to_yaml(documents: list[Any], header: str = "") -> str:
    parts = []
    for document in documents:
        lines: list[str] = []
        _emit(document, 0, lines)
        parts.append("\n".join(lines) + "\n")
    return header + "---\n".join(parts)


# --------------------------------------------------------------------------- the organisation


@dataclass(slots=True)
class _Service:
    index: int
    team: int
    layer: int
    api: Api
    components: list[tuple[str, str]]  # (name, kind), the main API first
    selector_namespace: bool
    depends_on: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"svc-{self.index}"

    @property
    def metric_prefix(self) -> str:
        return f"svc_{self.index}"

    @property
    def namespace(self) -> str:
        return f"team-{self.team}"


def _team_rng(seed: int, team: int, purpose: str) -> random.Random:
    """One stream per team and purpose: an organisation twice the size holds the smaller one
    unchanged (same services, rules, routes), plus as many teams again."""
    return random.Random(f"{seed}:{team}:{purpose}")


def _plan(services: int, seed: int) -> list[_Service]:
    planned: list[_Service] = []
    for team in range(0, (services + SERVICES_PER_TEAM - 1) // SERVICES_PER_TEAM):
        rng = _team_rng(seed, team, "plan")
        start = team * SERVICES_PER_TEAM
        for index in range(start, min(services, start + SERVICES_PER_TEAM)):
            layer = LAYERS[index - start]
            api = _api(index, rng)
            secondary = rng.sample(SECONDARY, COMPONENTS_PER_SERVICE - 1)
            service = _Service(index, team, layer, api, [("api", api.kind), *secondary], rng.random() < 0.1)
            if layer > 0:
                lower = [start + p for p in range(SERVICES_PER_TEAM) if LAYERS[p] < layer and start + p < index]
                service.depends_on = rng.sample(lower, min(len(lower), rng.randint(1, 4)))
                if layer >= 2 and team > 0 and rng.random() < 0.3:
                    other = rng.randint(max(0, team - CROSS_TEAM_REACH), team - 1)
                    leaf = other * SERVICES_PER_TEAM + rng.randrange(LAYERS.count(0))
                    if len(service.depends_on) == 4:
                        service.depends_on[-1] = leaf
                    else:
                        service.depends_on.append(leaf)
            planned.append(service)
    return planned


def _api(index: int, rng: random.Random) -> Api:
    roll = rng.random()
    if roll < 0.05:
        prefix = f"svc_{index}"
        return Api("http_api", f"{prefix}_requests_total", 'status=~"5.."', f"{prefix}_request_duration_seconds_bucket", True)
    if roll < 0.35:
        return Api("grpc_api", "grpc_server_handled_total", GRPC_SERVER_ERRORS, "grpc_server_handling_seconds_bucket", False)
    if roll < 0.50:  # Spring Boot services: Micrometer's names
        return Api("http_api", "http_server_requests_seconds_count", 'status=~"5.."', "http_server_requests_seconds_bucket", False)
    return Api("http_api", "http_requests_total", 'code=~"5.."', "http_request_duration_seconds_bucket", False)


# --------------------------------------------------------------------------- service maps


def _lib_paths(team: int, rng: random.Random) -> dict[int, list[str]]:
    """Per service position: the team's shared libraries its main API (and kin) build on."""
    libs = [f"libs/lib-{2 * team}/**", f"libs/lib-{2 * team + 1}/**"]
    users: dict[int, list[str]] = {}
    for lib in libs:
        for position in rng.sample(range(SERVICES_PER_TEAM), rng.randint(2, 4)):
            users.setdefault(position, []).append(lib)
    return users


def _component_doc(service: _Service, name: str, kind: str, libs: list[str], rng: random.Random) -> dict[str, Any]:
    paths = [f"services/{service.name}/{name}/**"]
    if name == "api":
        paths += libs
        if kind == "grpc_api":
            paths.append(f"proto/{service.name}/**")
        if rng.random() < 0.1:  # tests do not ship
            paths.append(f"!services/{service.name}/api/**/*_test.py")
    elif kind == "db_migration" and rng.random() < 0.3:
        paths.append(f"**/{service.name}-schema/**")  # a folder name at any depth
    doc: dict[str, Any] = {"name": name, "kind": kind, "paths": paths}
    if name == "api" and service.api.own_metrics:
        prefix = service.metric_prefix
        doc["signals"] = {
            "errors": [f'{prefix}_requests_total{{status=~"5.."}}'],
            "latency": [f"{prefix}_request_duration_seconds_bucket"],
            "traffic_drop": [f"{prefix}_requests_total"],
        }
    if kind == "queue_consumer" and name == "outbox" and service.index % 7 == 0:
        doc["failure_modes"] = [{
            "id": "outbox_backlog",
            "direction": "rise",
            "description": "events wait in the outbox table instead of being published",
            "signals": [f"{service.metric_prefix}_outbox_pending_events"],
        }]  # fmt: skip
    return doc


def _service_map_doc(team: int, members: list[_Service], rng: random.Random) -> dict[str, Any]:
    users = _lib_paths(team, rng)
    services = []
    for service in members:
        position = service.index % SERVICES_PER_TEAM
        selector = (
            f'{{namespace="{service.namespace}", job="{service.name}"}}' if service.selector_namespace else f'{{job="{service.name}"}}'
        )
        doc: dict[str, Any] = {
            "name": service.name,
            "owner": f"team-{team}",
            "tier": ("critical", "standard", "standard", "low")[rng.randrange(4)],
            "selector": selector,
        }
        if service.depends_on:
            doc["depends_on"] = [f"svc-{d}" for d in service.depends_on]
        doc["components"] = [
            _component_doc(service, name, kind, users.get(position, []), rng) for name, kind in service.components
        ]
        services.append(doc)
    document: dict[str, Any] = {"apiVersion": "coverage-audit/v1", "kind": "ServiceMap", "services": services}
    upper = [s for s in members if s.layer >= 2] or members
    metric: dict[str, Any] = {
        "name": f"team-{team}-orders",
        "owner": f"team-{team}",
        "metric": f"team_{team}_orders_completed_total",
    }
    if team % 2 == 0:
        metric["failure_metric"] = f"team_{team}_orders_failed_total"
    metric["depends_on"] = [s.name for s in rng.sample(upper, min(len(upper), rng.randint(2, 3)))]
    document["business_metrics"] = [metric]
    return document


# --------------------------------------------------------------------------- rules


def _rule(shapes: Counter[str], shape: str, **fields: Any) -> dict[str, Any]:
    shapes[shape] += 1
    return {k: v for k, v in fields.items() if v is not None}


def _alert(
    shapes: Counter[str], shape: str, name: str, expr: str, severity: str, team: int | str,
    for_: str | None = None, summary: str = "", runbook: str = "",
) -> dict[str, Any]:  # fmt: skip
    team_label = team if isinstance(team, str) else f"team-{team}"
    annotations = {"summary": summary or name, "description": "{{ $labels.job }}: {{ $value | humanize }}"}
    if runbook:
        annotations["runbook_url"] = f"https://runbooks.example.com/{runbook}"
    return _rule(
        shapes, shape, alert=name, expr=expr, **{"for": for_},
        labels={"severity": severity, "team": team_label}, annotations=annotations,
    )  # fmt: skip


def _camel(service: _Service) -> str:
    return f"Svc{service.index}"


def _slo_records(service: _Service, shapes: Counter[str], sloth: bool, copied: bool) -> list[dict[str, Any]]:
    """Recording rules behind the availability SLO: Sloth's shared names told apart by static
    labels, or hand-written ``job:`` recordings copied from service to service (the same
    template rendered per service, so one name has hundreds of definitions). ``copied=False``
    gives each copy a static ``job`` label, which says by itself which series it records."""
    s, api, team = service.name, service.api, service.team
    records = []
    if sloth:
        sloth_labels = {"sloth_id": f"{s}-requests-availability", "sloth_service": s, "sloth_slo": "requests-availability"}
        for window in SLO_WINDOWS:
            expr = (
                f'(sum(rate({api.requests}{{job="{s}",{api.errors}}}[{window}])))\n/\n'
                f'(sum(rate({api.requests}{{job="{s}"}}[{window}])))\n'
            )
            records.append(_rule(shapes, "record: SLO error ratio (Sloth, static labels)", record=f"slo:sli_error:ratio_rate{window}",
                                 expr=expr, labels={"owner": f"team-{team}", **sloth_labels, "sloth_window": window}))  # fmt: skip
        if service.index % 5 < 3:  # a latency SLO too: the share of requests slower than 500ms
            latency_labels = {"sloth_id": f"{s}-requests-latency", "sloth_service": s, "sloth_slo": "requests-latency"}
            count = api.bucket.replace("_bucket", "_count")
            for window in SLO_WINDOWS:
                expr = (
                    f'(sum(rate({count}{{job="{s}"}}[{window}])) - sum(rate({api.bucket}{{job="{s}",le="0.5"}}[{window}])))\n/\n'
                    f'(sum(rate({count}{{job="{s}"}}[{window}])))\n'
                )
                records.append(_rule(shapes, "record: SLO latency ratio (Sloth, static labels)", record=f"slo:sli_error:ratio_rate{window}",
                                     expr=expr, labels={"owner": f"team-{team}", **latency_labels, "sloth_window": window}))  # fmt: skip
        for record, value in (("slo:objective:ratio", "0.999"), ("slo:error_budget:ratio", "1 - 0.999"), ("slo:time_period:days", "30")):
            records.append(_rule(shapes, "record: SLO metadata (bare number)", record=record, expr=value, labels=dict(sloth_labels)))
        return records
    # Some teams label their copies, others do not: the copy's expr alone says which job it is.
    labels = ({}, {"team": f"team-{team}"}, {"service": s})[service.index % 3] if copied else {"job": s}
    records.append(_rule(shapes, "record: job rate (copied per service)", record="job:http_requests:rate5m",
                         expr=f'sum by (job) (rate({api.requests}{{job="{s}"}}[5m]))', labels=labels or None))  # fmt: skip
    records.append(_rule(shapes, "record: job rate (copied per service)", record="job:http_request_errors:rate5m",
                         expr=f'sum by (job) (rate({api.requests}{{job="{s}", {api.errors}}}[5m]))', labels=labels or None))  # fmt: skip
    records.append(_rule(shapes, "record: ratio of recordings", record="job:http_request_errors:ratio_rate5m",
                         expr=f'job:http_request_errors:rate5m{{job="{s}"}}\n/\njob:http_requests:rate5m{{job="{s}"}}\n', labels=labels or None))  # fmt: skip
    for window in SLO_WINDOWS[1:]:
        expr = (
            f'sum by (job) (rate({api.requests}{{job="{s}", {api.errors}}}[{window}]))\n/\n'
            f'sum by (job) (rate({api.requests}{{job="{s}"}}[{window}]))\n'
        )
        records.append(_rule(shapes, "record: SLO error ratio (job, burn-rate window)", record=f"job:http_request_errors:ratio_rate{window}",
                             expr=expr, labels=labels or None))  # fmt: skip
    return records


def _api_alerts(service: _Service, shapes: Counter[str], sloth: bool, rng: random.Random) -> list[dict[str, Any]]:
    s, api, team, name = service.name, service.api, service.team, _camel(service)
    alerts = []
    if sloth:
        sel = f'{{sloth_id="{s}-requests-availability", sloth_service="{s}", sloth_slo="requests-availability"}}'
        expr = (
            "(\n"
            f"    max(slo:sli_error:ratio_rate5m{sel} > (14.4 * 0.001)) without (sloth_window)\n"
            "    and\n"
            f"    max(slo:sli_error:ratio_rate1h{sel} > (14.4 * 0.001)) without (sloth_window)\n"
            ")\nor\n(\n"
            f"    max(slo:sli_error:ratio_rate30m{sel} > (6 * 0.001)) without (sloth_window)\n"
            "    and\n"
            f"    max(slo:sli_error:ratio_rate6h{sel} > (6 * 0.001)) without (sloth_window)\n"
            ")\n"
        )
        alerts.append(_alert(shapes, "alert: multi-window burn rate over Sloth recordings", f"{name}AvailabilityPage", expr,
                             "critical", team, summary=f"{s} is burning its error budget fast", runbook=f"{s}/slo"))  # fmt: skip
        if service.index % 5 < 3:
            latency = f'{{sloth_id="{s}-requests-latency", sloth_service="{s}", sloth_slo="requests-latency"}}'
            expr = (
                f"(max(slo:sli_error:ratio_rate5m{latency} > (14.4 * 0.01)) without (sloth_window)\n"
                f"and max(slo:sli_error:ratio_rate1h{latency} > (14.4 * 0.01)) without (sloth_window))\n"
            )
            alerts.append(_alert(shapes, "alert: latency SLO burn over Sloth recordings", f"{name}LatencyPage", expr,
                                 "critical", team, summary=f"{s} is too slow for its latency objective"))  # fmt: skip
        if rng.random() < 0.5:
            expr = f"max(slo:sli_error:ratio_rate6h{sel} > (1 * 0.001)) without (sloth_window)\n"
            alerts.append(_alert(shapes, "alert: slow burn (6h window, over budget)", f"{name}AvailabilityTicket", expr,
                                 "warning", team, summary=f"{s} is slowly burning its error budget"))  # fmt: skip
    else:
        alerts.append(_alert(shapes, "alert: error ratio over recording rules", f"{name}HighErrorRatio",
                             f'job:http_request_errors:ratio_rate5m{{job="{s}"}} > 0.05', "critical", team, "5m",
                             runbook=f"{s}/high-error-ratio"))  # fmt: skip
        expr = (
            "(\n"
            f'  job:http_request_errors:ratio_rate1h{{job="{s}"}} > (14.4 * 0.001)\n'
            "and\n"
            f'  job:http_request_errors:ratio_rate5m{{job="{s}"}} > (14.4 * 0.001)\n'
            ")\nor\n(\n"
            f'  job:http_request_errors:ratio_rate6h{{job="{s}"}} > (6 * 0.001)\n'
            "and\n"
            f'  job:http_request_errors:ratio_rate30m{{job="{s}"}} > (6 * 0.001)\n'
            ")\n"
        )
        alerts.append(_alert(shapes, "alert: multi-window burn rate over job recordings", f"{name}ErrorBudgetBurn", expr,
                             "critical", team, "2m"))  # fmt: skip
    quantile = rng.choice(("0.99", "0.95", "0.9"))
    expr = f'histogram_quantile({quantile},\n  sum by (le) (rate({api.bucket}{{job="{s}"}}[5m]))\n) > {rng.choice(("0.25", "0.5", "1", "2"))}\n'
    alerts.append(_alert(shapes, "alert: histogram_quantile latency", f"{name}HighLatency", expr, "warning", team, "10m"))
    if rng.random() < 0.5:
        records = f'histogram_quantile(0.99, sum by (job, le) (rate({api.bucket}{{job="{s}"}}[5m])))'
        alerts.append(_rule(shapes, "record: p99 latency for dashboards", record=f"job:{api.bucket.removesuffix('_bucket')}:p99_rate5m",
                            expr=records, labels={"service": s}))  # fmt: skip
    if rng.random() < 0.5:
        now = f'sum(rate({api.requests}{{job="{s}"}}[10m]))'
        expr = f"{now}\n  < 0.5 * {now.replace('[10m]', '[10m] offset 1w')}\nand\n{now.replace('[10m]', '[10m] offset 1w')} > 1\n"
        alerts.append(_alert(shapes, "alert: traffic drop vs offset 1w", f"{name}TrafficDrop", expr, "warning", team, "15m",
                             summary=f"{s} serves half the traffic of last week"))  # fmt: skip
    if rng.random() < 0.2:
        alerts.append(_alert(shapes, "alert: absent()", f"{name}MetricsAbsent", f'absent({api.requests}{{job="{s}"}})',
                             "warning", team, "15m"))  # fmt: skip
    return alerts


def _infra_alerts(service: _Service, shapes: Counter[str], rng: random.Random) -> list[dict[str, Any]]:
    s, ns, team, name = service.name, service.namespace, service.team, _camel(service)
    alerts = [
        _alert(shapes, "infra: up == 0", f"{name}TargetDown", f'up{{job="{s}"}} == 0', "critical", team, "2m"),
        _alert(shapes, "infra: container CPU / limits", f"{name}HighCPU",
               f'sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{namespace="{ns}", container="{s}"}}[5m]))\n/\n'
               f'sum by (namespace, pod) (kube_pod_container_resource_limits{{namespace="{ns}", container="{s}", resource="cpu"}})\n> 0.9\n',
               "warning", team, "15m"),
        _alert(shapes, "infra: container memory / limits", f"{name}MemoryNearLimit",
               f'sum by (pod) (container_memory_working_set_bytes{{namespace="{ns}", container="{s}"}})\n/\n'
               f'sum by (pod) (kube_pod_container_resource_limits{{namespace="{ns}", container="{s}", resource="memory"}})\n> 0.9\n',
               "warning", team, "15m"),
    ]  # fmt: skip
    if rng.random() < 0.7:
        alerts.append(_alert(shapes, "infra: deployment replicas (Wikimedia style)", f"{name}Unavailable",
                             f'kube_deployment_status_replicas_available{{namespace="{ns}", deployment="{s}"}} < 1', "critical", team, "5m"))  # fmt: skip
    if rng.random() < 0.5:
        alerts.append(_alert(shapes, "infra: file descriptors (process_*)", f"{name}FdExhaustion",
                             f'process_open_fds{{job="{s}"}} / process_max_fds{{job="{s}"}} > 0.8', "warning", team, "10m"))  # fmt: skip
    if rng.random() < 0.5:
        alerts.append(_alert(shapes, "app: error log lines (not a catalog signal)", f"{name}ErrorLogs",
                             f'sum by (job) (rate(log_messages_total{{job="{s}", level="error"}}[5m])) > 10', "warning", team, "10m"))  # fmt: skip
    if rng.random() < 0.3:
        alerts.append(_alert(shapes, "infra: certificate expiry (blackbox)", f"{name}CertificateExpiry",
                             f'probe_ssl_earliest_cert_expiry{{job="blackbox", instance=~"https://{s}\\\\.example\\\\.com.*"}} - time() < 86400 * 14',
                             "warning", team))  # fmt: skip
    alerts.append(_alert(shapes, "infra: restarts, severity info (blackholed)", f"{name}Restarting",
                         f'increase(kube_pod_container_status_restarts_total{{namespace="{ns}", container="{s}"}}[1h]) > 3', "info", team))  # fmt: skip
    return alerts


def _component_rules(service: _Service, name: str, kind: str, shapes: Counter[str], rng: random.Random) -> list[dict[str, Any]]:
    s, ns, team, camel = service.name, service.namespace, service.team, f"{_camel(service)}{name.title()}"
    rules: list[dict[str, Any]] = []
    if kind == "queue_consumer":
        topic = f"{s}.{name}"
        if rng.random() < 0.5:  # kafka_exporter's series: no job of the service, only its group
            rules.append(_alert(shapes, "queue: lag by consumergroup (no service matcher)", f"{camel}ConsumerLag",
                                f'sum by (consumergroup, topic) (kafka_consumergroup_lag{{consumergroup="{s}-{name}"}}) > 1000', "warning", team, "10m"))  # fmt: skip
        else:
            rules.append(_alert(shapes, "queue: lag by job", f"{camel}ConsumerLag",
                                f'max by (job, topic) (kafka_consumergroup_lag{{job="{s}", topic="{topic}"}}) > 1000', "critical", team, "5m"))  # fmt: skip
        rules.append(_alert(shapes, "queue: processing errors", f"{camel}ProcessingErrors",
                            f'sum by (job, topic) (rate(messages_failed_total{{job="{s}", topic="{topic}"}}[5m])) > 1', "warning", team, "5m"))  # fmt: skip
        if rng.random() < 0.5:
            rules.append(_alert(shapes, "queue: stalled (rate == 0 and lag > 0)", f"{camel}Stalled",
                                f'sum by (job) (rate(messages_processed_total{{job="{s}"}}[10m])) == 0\nand on (job)\n'
                                f'sum by (job) (kafka_consumergroup_lag{{job="{s}"}}) > 0\n', "warning", team, "2m"))  # fmt: skip
        if rng.random() < 0.5:
            rules.append(_rule(shapes, "record: consumer throughput", record="job_topic:messages_processed:rate5m",
                               expr=f'sum by (job, topic) (rate(messages_processed_total{{job="{s}", topic="{topic}"}}[5m]))',
                               labels={"service": s, "consumer": name}))  # fmt: skip
        if name == "outbox" and service.index % 7 == 0:
            rules.append(_alert(shapes, "custom failure mode: outbox backlog", f"{camel}Backlog",
                                f'max({service.metric_prefix}_outbox_pending_events{{job="{s}"}}) > 500', "warning", team, "10m"))  # fmt: skip
    elif kind == "batch_job":
        cronjob = f"{s}-{name}"
        rules.append(_alert(shapes, "batch: CronJob staleness time() - last success", f"{camel}Missed",
                            f'time() - max by (namespace, cronjob) (\n  kube_cronjob_status_last_successful_time{{namespace="{ns}", cronjob="{cronjob}"}}\n) > {rng.choice(("26 * 3600", "2 * 3600", "93600"))}\n',
                            "critical", team))  # fmt: skip
        if rng.random() < 0.6:
            rules.append(_alert(shapes, "batch: Job failed", f"{camel}Failed",
                                f'max by (namespace, job_name) (kube_job_status_failed{{namespace="{ns}", job_name=~"{cronjob}-.*"}}) > 0', "warning", team))  # fmt: skip
    elif kind == "db_migration":
        rules.append(_alert(shapes, "db: query errors", f"{camel}QueryErrors",
                            f'sum by (job) (rate(db_query_errors_total{{job="{s}"}}[5m])) > 1', "warning", team, "5m"))  # fmt: skip
        if rng.random() < 0.5:
            rules.append(_alert(shapes, "db: query latency histogram", f"{camel}SlowQueries",
                                f'histogram_quantile(0.99, sum by (le) (rate(db_query_duration_seconds_bucket{{job="{s}"}}[5m]))) > 0.25', "warning", team, "10m"))  # fmt: skip
        if rng.random() < 0.5:
            rules.append(_alert(shapes, "db: migration failures", f"{camel}MigrationFailed",
                                f'increase(migration_failures_total{{job="{s}"}}[30m]) > 0', "critical", team))  # fmt: skip
    elif kind == "cache":
        rules.append(_alert(shapes, "cache: hit ratio below", f"{camel}HitRatioLow",
                            f'sum(rate(cache_gets_total{{job="{s}", result="hit"}}[5m]))\n/\nsum(rate(cache_gets_total{{job="{s}"}}[5m]))\n< 0.8\n', "warning", team, "10m"))  # fmt: skip
        if rng.random() < 0.5:
            rules.append(_alert(shapes, "infra: redis memory", f"{camel}RedisMemoryHigh",
                                f'redis_memory_used_bytes{{service="{s}-redis"}}\n/\nredis_memory_max_bytes{{service="{s}-redis"}}\n> 0.9\n', "warning", team, "10m"))  # fmt: skip
    elif kind == "external_dependency":
        host = f"api.vendor-{service.index % 37}.example.com"
        rules.append(_alert(shapes, "dependency: client error ratio", f"{camel}Errors",
                            f'sum by (job, host) (rate(http_client_requests_total{{job="{s}", host="{host}", code=~"5.."}}[5m]))\n/\n'
                            f'sum by (job, host) (rate(http_client_requests_total{{job="{s}", host="{host}"}}[5m]))\n> 0.1\n', "warning", team, "5m"))  # fmt: skip
        if rng.random() < 0.5:
            rules.append(_alert(shapes, "dependency: client latency histogram", f"{camel}Slow",
                                f'histogram_quantile(0.95, sum by (le, host) (rate(http_client_request_duration_seconds_bucket{{job="{s}"}}[5m]))) > 2', "warning", team, "10m"))  # fmt: skip
    elif kind == "http_api" and rng.random() < 0.5:
        route = f"/{name}"
        rules.append(_alert(shapes, "api: per-route error ratio", f"{camel}Errors",
                            f'sum(rate(http_requests_total{{job="{s}", handler=~"{route}.*", code=~"5.."}}[5m]))\n/\n'
                            f'sum(rate(http_requests_total{{job="{s}", handler=~"{route}.*"}}[5m]))\n> 0.1\n', "warning", team, "5m"))  # fmt: skip
    elif kind == "grpc_api" and rng.random() < 0.5:
        rules.append(_alert(shapes, "api: per-gRPC-service error ratio", f"{camel}Errors",
                            f'sum(rate(grpc_server_handled_total{{job="{s}", grpc_service="{s}.Internal", {GRPC_SERVER_ERRORS}}}[5m]))\n/\n'
                            f'sum(rate(grpc_server_handled_total{{job="{s}", grpc_service="{s}.Internal"}}[5m]))\n> 0.05\n', "warning", team, "5m"))  # fmt: skip
    return rules


def _business_alerts(team: int, shapes: Counter[str], rng: random.Random) -> list[dict[str, Any]]:
    metric = f"team_{team}_orders_completed_total"
    roll = rng.random()
    if roll < 0.5:
        now = f"sum(rate({metric}[10m]))"
        return [_alert(shapes, "business: drop vs offset 1w", f"Team{team}OrdersDrop",
                       f"{now}\n  < 0.5 * sum(rate({metric}[10m] offset 1w))\n", "critical", team, "10m")]  # fmt: skip
    if roll < 0.65:  # demoted after a noisy night: routed to the blackhole
        return [_alert(shapes, "business: no events, severity info (blackholed)", f"Team{team}NoOrders",
                       f"sum(rate({metric}[10m])) == 0", "info", team, "5m")]  # fmt: skip
    if roll < 0.75:  # fires on the wrong side for a drop
        return [_alert(shapes, "business: spike only (wrong direction)", f"Team{team}OrdersSpike",
                       f"sum(rate({metric}[5m])) > 50", "warning", team, "10m")]  # fmt: skip
    return []


def _platform_rules(shapes: Counter[str]) -> dict[str, Any]:
    """Shared alerts of the platform team: infrastructure, and generic application alerts with
    no service matcher (diluted when they cover anything)."""
    p = "platform"
    groups = [
        {"name": "general", "rules": [
            _alert(shapes, "platform: generic (no service matcher)", "TargetDown",
                   "100 * (count by (job, namespace) (up == 0) / count by (job, namespace) (up)) > 10", "warning", p, "10m"),
            _alert(shapes, "platform: generic (no service matcher)", "Watchdog", "vector(1)", "none", p),
        ]},
        {"name": "kubernetes-apps", "rules": [
            _alert(shapes, "platform: generic (no service matcher)", "KubePodCrashLooping",
                   'max_over_time(kube_pod_container_status_waiting_reason{job="kube-state-metrics", reason="CrashLoopBackOff"}[5m]) >= 1', "warning", p, "15m"),
            _alert(shapes, "platform: generic (no service matcher)", "KubeJobFailed",
                   'kube_job_failed{job="kube-state-metrics"} > 0', "warning", p, "15m"),
        ]},
        {"name": "node-exporter.rules", "rules": [
            _rule(shapes, "platform: recording", record="instance:node_cpu_utilisation:rate5m",
                  expr='1 - avg without (cpu) (sum without (mode) (rate(node_cpu_seconds_total{job="node-exporter", mode=~"idle|iowait|steal"}[5m])))'),
            _rule(shapes, "platform: recording", record="instance:node_memory_utilisation:ratio",
                  expr='1 - (node_memory_MemAvailable_bytes{job="node-exporter"} / node_memory_MemTotal_bytes{job="node-exporter"})'),
        ]},
        {"name": "node-exporter", "rules": [
            _alert(shapes, "platform: generic (no service matcher)", "NodeHighCPUUtilization", "instance:node_cpu_utilisation:rate5m > 0.9", "warning", p, "15m"),
            _alert(shapes, "platform: generic (no service matcher)", "NodeMemoryHighUtilization", "instance:node_memory_utilisation:ratio > 0.9", "warning", p, "15m"),
        ]},
        {"name": "generic-applications", "rules": [
            _alert(shapes, "platform: generic (no service matcher)", "HTTPHighErrorRate",
                   'sum by (namespace, job) (rate(http_requests_total{code=~"5.."}[5m]))\n/\nsum by (namespace, job) (rate(http_requests_total[5m]))\n> 0.05\n', "warning", p, "5m"),
            _alert(shapes, "platform: generic (no service matcher)", "GRPCServerErrorsHigh",
                   f'sum by (namespace, job) (rate(grpc_server_handled_total{{{GRPC_SERVER_ERRORS}}}[5m]))\n/\nsum by (namespace, job) (rate(grpc_server_started_total[5m]))\n> 0.05\n', "warning", p, "5m"),
            _alert(shapes, "platform: generic (no service matcher)", "HTTPHighLatency",
                   "histogram_quantile(0.99, sum by (namespace, job, le) (rate(http_request_duration_seconds_bucket[5m]))) > 3", "warning", p, "10m"),
            _alert(shapes, "platform: generic (no service matcher)", "EventbusDeadLetters",
                   'sum by (namespace, job, topic) (rate(messages_dead_lettered_total{job=~".+"}[10m])) > 0', "warning", p),
            _alert(shapes, "platform: generic (no service matcher)", "KafkaConsumerGroupLagHigh",
                   'sum by (consumergroup, topic) (kafka_consumergroup_lag{job="kafka-exporter"}) > 50000', "warning", p, "15m"),
        ]},
    ]  # fmt: skip
    return {"groups": groups}


def _team_rules(
    team: int, members: list[_Service], folder: Path, shapes: Counter[str], rng: random.Random, copied: bool
) -> list[Path]:
    """Writes one team's rule files in the team's own habit; returns the files."""
    kubernetes = rng.random() < 0.3
    per_service = rng.random() < 0.35
    split_recording = rng.random() < 0.5
    thanos = rng.random() < 0.1
    sloth = rng.random() < 0.6  # a team adopts Sloth for all its services, or none

    def group(name: str, rules: list[dict[str, Any]], interval: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if interval:
            body["interval"] = interval
        if thanos:
            body["partial_response_strategy"] = "warn"
        body["rules"] = rules
        return body

    recording: dict[str, list[dict[str, Any]]] = {}  # service -> its recording groups
    alerting: dict[str, list[dict[str, Any]]] = {}
    for service in members:
        s = service.name
        records = _slo_records(service, shapes, sloth, copied)
        alerts = _api_alerts(service, shapes, sloth, rng) + _infra_alerts(service, shapes, rng)
        for name, kind in service.components[1:]:
            alerts += _component_rules(service, name, kind, shapes, rng)
        moved = [r for r in alerts if "record" in r]  # records written next to alerts go with the other records
        alerts = [r for r in alerts if "record" not in r]
        prefix = f"sloth-slo-sli-recordings-{s}-requests-availability" if sloth else f"{s}-slo-recording"
        recording[s] = [group(prefix, records, "30s" if not sloth else None)]
        if moved:
            recording[s].append(group(f"{s}-dashboards", moved))
        alerting[s] = [group(s, alerts)]
    business = _business_alerts(team, shapes, rng)
    if business:
        alerting[members[0].name].append(group(f"team-{team}-business", business))

    directory = folder / f"team-{team}"
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(path: Path, groups_by_service: dict[str, list[dict[str, Any]]]) -> None:
        header = f"# Rules of team-{team}. Owned by the team; reviewed in #team-{team}.\n"
        if kubernetes:
            documents = [
                {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                 "metadata": {"name": f"{name}-{path.stem}", "namespace": f"team-{team}",
                              "labels": {"prometheus": "k8s", "role": "alert-rules", "team": f"team-{team}"}},
                 "spec": {"groups": groups}}
                for name, groups in groups_by_service.items()
            ]  # fmt: skip
        else:
            documents = [{"groups": [g for groups in groups_by_service.values() for g in groups]}]
        path.write_text(to_yaml(documents, header), encoding="utf-8")
        written.append(path)

    if per_service:
        for service in members:
            write(directory / f"{service.name}.yaml", {service.name: alerting[service.name]})
        write(directory / "slos.yaml", recording)
    elif split_recording:
        write(directory / "alerts.yaml", alerting)
        write(directory / "recording.yaml", recording)
    else:
        write(directory / "rules.yaml", {s: recording[s] + alerting[s] for s in alerting})
    return written


# --------------------------------------------------------------------------- Alertmanager


def _alertmanager(teams: int, seed: int) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        {"receiver": "deadmans-snitch", "matchers": ['alertname="Watchdog"'], "group_wait": "0s", "repeat_interval": "1m"},
        {"receiver": "blackhole", "matchers": ['severity="info"']},
        {"receiver": "incidents-slack", "matchers": ['severity="critical"'], "group_wait": "10s", "continue": True},
    ]
    receivers: list[dict[str, Any]] = [
        {"name": "default-slack", "slack_configs": [{"channel": "#alerts-triage", "send_resolved": True}]},
        {"name": "blackhole"},
        {"name": "deadmans-snitch", "webhook_configs": [{"url": "https://nosnch.in/0000000000"}]},
        {"name": "incidents-slack", "slack_configs": [{"channel": "#incidents"}]},
        {"name": "platform-slack", "slack_configs": [{"channel": "#platform-alerts"}]},
    ]
    for team in range(teams):
        roll = _team_rng(seed, team, "route").random()
        if roll < 0.03:
            continue  # never set up: its alerts land in #alerts-triage
        route: dict[str, Any] = {"receiver": f"team-{team}-slack"}
        if roll < 0.15:
            route["match"] = {"team": f"team-{team}"}  # pre-0.22 form, still around
        else:
            route["matchers"] = [f'team="team-{team}"']
        if roll > 0.9:  # a digest team: no pager, a long wait
            route.update(group_wait="5m", group_interval="30m", repeat_interval="24h")
        else:
            route["routes"] = [{"receiver": f"team-{team}-pager", "matchers": ['severity="critical"'], "group_wait": "10s", "repeat_interval": "1h"}]
            receivers.append({"name": f"team-{team}-pager", "pagerduty_configs": [{"routing_key": f"<team-{team}-key>"}]})
        routes.append(route)
        receivers.append({"name": f"team-{team}-slack", "slack_configs": [{"channel": f"#team-{team}-alerts", "send_resolved": True}]})
    routes.append({"receiver": "platform-slack", "matchers": ['team="platform"']})
    return {
        "global": {"resolve_timeout": "5m", "slack_api_url": "https://hooks.slack.com/services/T000/B000/placeholder"},
        "route": {
            "receiver": "default-slack",
            "group_by": ["alertname", "namespace", "job"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'], "equal": ["alertname", "namespace", "job"]},
        ],
        "receivers": receivers,
    }


# --------------------------------------------------------------------------- the change


def _change(plan: list[_Service], rng: random.Random) -> list[str]:
    """20 paths: 16 into components of 12 services, 3 into team libraries, 1 nobody claims,
    drawn from the services of ``plan`` (which may be the first part of the organisation)."""
    teams = (len(plan) + SERVICES_PER_TEAM - 1) // SERVICES_PER_TEAM
    picked: list[_Service] = []
    while len(picked) < 12:
        index = rng.randrange(teams) * SERVICES_PER_TEAM + rng.randrange(SERVICES_PER_TEAM)
        if index < len(plan) and plan[index] not in picked:
            picked.append(plan[index])
    files = ("handlers.py", "service.py", "models/order.py", "client.go", "main.go", "queries.sql")
    paths: list[str] = []
    for number, service in enumerate(picked):
        for name, _ in service.components[: 2 if number < 4 else 1]:
            paths.append(f"services/{service.name}/{name}/{rng.choice(files)}")
    for _ in range(3):
        paths.append(f"libs/lib-{rng.randrange(2 * teams)}/src/{rng.choice(files)}")
    paths.append(".github/workflows/ci.yaml")
    return paths


# --------------------------------------------------------------------------- entry point


def generate(
    folder: Path, services: int, seed: int = 1, copied_records: bool = True, change_within: int | None = None
) -> OrgInfo:
    """Write the organisation under ``folder`` (created if needed); same seed, same files.

    The organisation of 2N services holds the one of N services unchanged; with
    ``change_within=N`` its change is the same 20 paths too (drawn from the first N services),
    so the two sizes differ only by the organisation around the change.
    ``copied_records=False`` labels every per-service copy of a ``job:`` recording rule with
    its ``job`` (see ``_slo_records``); everything else stays the same."""
    folder = Path(folder)
    rules_dir, maps_dir = folder / "rules", folder / "service_maps"
    rules_dir.mkdir(parents=True, exist_ok=True)
    maps_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan(services, seed)
    teams = (services + SERVICES_PER_TEAM - 1) // SERVICES_PER_TEAM
    shapes: Counter[str] = Counter()
    files: list[Path] = []
    for team in range(teams):
        members = plan[team * SERVICES_PER_TEAM : (team + 1) * SERVICES_PER_TEAM]
        (maps_dir / f"team-{team}.yaml").write_text(
            to_yaml([_service_map_doc(team, members, _team_rng(seed, team, "map"))], f"# Services of team-{team}.\n"),
            encoding="utf-8",
        )
        files += _team_rules(team, members, rules_dir, shapes, _team_rng(seed, team, "rules"), copied_records)
    platform = rules_dir / "platform" / "platform.yaml"
    platform.parent.mkdir(exist_ok=True)
    platform.write_text(to_yaml([_platform_rules(shapes)], "# Shared alerts of team-platform.\n"), encoding="utf-8")
    files.append(platform)
    alertmanager = folder / "alertmanager.yaml"
    alertmanager.write_text(to_yaml([_alertmanager(teams, seed)], "# Alertmanager of the organisation.\n"), encoding="utf-8")
    return OrgInfo(
        folder=folder,
        rules_dir=rules_dir,
        alertmanager=alertmanager,
        service_maps_dir=maps_dir,
        changed_paths=_change(plan[: change_within or services], random.Random(f"{seed}:change")),
        services=services,
        components=services * COMPONENTS_PER_SERVICE,
        business_metrics=teams,
        teams=teams,
        rules=sum(shapes.values()),
        rule_files=len(files),
        shapes=shapes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--labelled-copies", action="store_true", help="give copied job: recordings a static job label")
    parser.add_argument("--change-within", type=int, help="draw the change from the first N services only")
    args = parser.parse_args()
    info = generate(args.folder, args.services, args.seed, copied_records=not args.labelled_copies, change_within=args.change_within)
    print(f"{info.services} services, {info.components} components, {info.business_metrics} business metrics, "
          f"{info.rules} rules in {info.rule_files} files under {info.folder}")  # fmt: skip
    for shape, count in sorted(info.shapes.items(), key=lambda item: -item[1]):
        print(f"{count:7d}  {shape}")
    print("changed paths:", " ".join(info.changed_paths))


if __name__ == "__main__":
    main()
