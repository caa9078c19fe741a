"""Service maps: native and Backstage formats, merging, and every validation error with its line."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_audit.catalog import default_catalog
from coverage_audit.loaders.service_map import (
    ServiceMapLoad,
    entity_ref,
    glob_problem,
    load_service_map_text,
    load_service_maps,
)
from coverage_audit.model import Diagnostic, MatchOp, ServiceMap

CATALOG = default_catalog()


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def load_text(text: str) -> ServiceMapLoad:
    return load_service_map_text(textwrap.dedent(text), "map.yaml", CATALOG)


def plain(service_map: ServiceMap) -> tuple[dict, dict]:
    """The map without file/line, to compare maps read from different files."""
    services = {
        name: replace(
            service,
            file="",
            line=0,
            components=tuple(replace(c, file="", line=0) for c in service.components),
        )
        for name, service in service_map.services.items()
    }
    metrics = {name: replace(m, file="", line=0) for name, m in service_map.business_metrics.items()}
    return services, metrics


def errors_at(load: ServiceMapLoad) -> list[tuple[int, str]]:
    return [(d.line, d.message) for d in load.errors]


# --------------------------------------------------------------------------- the same map twice

NATIVE = """\
    apiVersion: coverage-audit/v1
    kind: ServiceMap
    services:
      - name: payments
        owner: team-payments
        tier: critical
        selector: '{job="payments"}'
        system: shop
        depends_on: [ledger, fraud]
        components:
          - name: api
            kind: http_api
            paths: ["services/payments/api/**", "libs/payclient/**"]
            signals:
              errors: ['payments_requests_total{status=~"5.."}']
              latency: ['payments_request_duration_seconds_bucket']
            failure_modes:
              - id: refund_backlog
                direction: rise
                signals: ['payments_refunds_pending']
          - name: settlement
            kind: batch_job
            paths: ["services/payments/settlement/"]
      - name: ledger
        owner: team-ledger
        selector: '{job="ledger"}'
        depends_on: [payments]
      - name: fraud
        owner: team-fraud
        tier: low
        selector: '{namespace="fraud", job=~"fraud-.*"}'
    business_metrics:
      - name: orders_completed
        owner: team-orders
        metric: 'shop_orders_completed_total'
        failure_metric: 'shop_orders_failed_total'
        depends_on: [payments, fraud]
"""

BACKSTAGE = """\
    apiVersion: backstage.io/v1alpha1
    kind: System
    metadata: {name: shop}
    spec: {owner: group:team-payments}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: payments
      annotations:
        backstage.io/techdocs-ref: dir:.
        coverage-audit/tier: critical
        coverage-audit/selector: '{job="payments"}'
        coverage-audit/components: |
          - name: api
            kind: http_api
            paths: ["services/payments/api/**", "libs/payclient/**"]
            signals:
              errors: ['payments_requests_total{status=~"5.."}']
              latency: ['payments_request_duration_seconds_bucket']
            failure_modes:
              - id: refund_backlog
                direction: rise
                signals: ['payments_refunds_pending']
          - name: settlement
            kind: batch_job
            paths: ["services/payments/settlement/"]
        coverage-audit/business-metrics: |
          - name: orders_completed
            owner: team-orders
            metric: 'shop_orders_completed_total'
            failure_metric: 'shop_orders_failed_total'
            depends_on: [payments, fraud]
    spec:
      type: service
      lifecycle: production
      owner: group:default/team-payments
      system: system:default/shop
      dependsOn: [component:ledger, component:default/fraud, resource:default/orders-db]
      providesApis: [payments-api]
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: ledger
      annotations: {coverage-audit/selector: '{job="ledger"}'}
    spec: {type: service, owner: team-ledger, dependsOn: ['Component:payments']}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: fraud
      annotations:
        coverage-audit/tier: low
        coverage-audit/selector: '{namespace="fraud", job=~"fraud-.*"}'
    spec: {type: service, owner: user:default/team-fraud}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata: {name: payments-api}
    spec: {type: openapi, owner: team-payments, definition: "openapi: 3.0.0"}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Resource
    metadata: {name: orders-db}
    spec: {type: database, owner: team-orders}
"""


def test_native_and_backstage_versions_of_the_same_map_are_equal(tmp_path: Path) -> None:
    native = load_service_maps([write(tmp_path, "native/map.yaml", NATIVE)], CATALOG)
    backstage = load_service_maps([write(tmp_path, "backstage/catalog-info.yaml", BACKSTAGE)], CATALOG)
    assert native.errors == [] and backstage.errors == []
    assert plain(native.service_map) == plain(backstage.service_map)
    payments = backstage.service_map.services["payments"]
    assert (payments.owner, payments.tier, payments.system) == ("team-payments", "critical", "shop")
    assert payments.depends_on == ("ledger", "fraud")  # resource:orders-db is not a service
    assert [(m.name, m.op, m.value) for m in payments.matchers] == [("job", MatchOp.EQ, "payments")]
    api = payments.components[0]
    assert api.subject == "payments/api" and api.signals["errors"] == ('payments_requests_total{status=~"5.."}',)
    assert [mode.id for mode in api.failure_modes] == ["refund_backlog"]
    assert list(backstage.service_map.services) == ["payments", "ledger", "fraud"]


def test_native_lines_and_files(tmp_path: Path) -> None:
    path = write(tmp_path, "map.yaml", NATIVE)
    load = load_service_maps([path], CATALOG)
    payments = load.service_map.services["payments"]
    assert (payments.file, payments.line) == (path, 4)
    assert [(c.name, c.line) for c in payments.components] == [("api", 11), ("settlement", 21)]
    assert load.service_map.business_metrics["orders_completed"].line == 33
    assert load.service_map.services["fraud"].tier == "low"
    assert load.service_map.services["ledger"].tier == "standard"  # the default


def test_backstage_component_lines_point_into_the_annotation(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog-info.yaml", BACKSTAGE)
    load = load_service_maps([path], CATALOG)
    components = load.service_map.services["payments"].components
    assert [(c.name, c.file, c.line) for c in components] == [("api", path, 15), ("settlement", path, 25)]
    assert load.service_map.business_metrics["orders_completed"].line == 29


def test_formats_mixed_across_files_in_one_folder(tmp_path: Path) -> None:
    write(tmp_path, "maps/a-native.yaml", """\
        apiVersion: coverage-audit/v1
        kind: ServiceMap
        services:
          - {name: checkout, owner: team-checkout, depends_on: [payments]}
    """)
    write(tmp_path, "maps/b/catalog-info.yaml", """\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: payments}
        spec: {owner: team-payments, dependsOn: ['component:checkout']}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Location
        metadata: {name: everything}
        spec: {targets: [./x.yaml]}
    """)
    write(tmp_path, "maps/c-groups.yaml", """\
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: team-payments}
        spec: {type: team, children: []}
    """)
    write(tmp_path, "maps/d-deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    write(tmp_path, "maps/e-list.yml", "- just\n- a list\n")
    write(tmp_path, "maps/f-empty.yaml", "# nothing here\n")
    write(tmp_path, "maps/g-rules.yaml", "groups: []\n")
    write(tmp_path, "maps/README.md", "not YAML, not read\n")
    write(tmp_path, "maps/.hidden.yaml", "services: [\n")
    load = load_service_maps([str(tmp_path / "maps")], CATALOG)
    assert load.errors == []
    assert list(load.service_map.services) == ["checkout", "payments"]
    assert load.service_map.services["payments"].depends_on == ("checkout",)
    assert load.files == 7
    reasons = {Path(s.file).name: s.reason for s in load.skipped}
    assert reasons == {
        "c-groups.yaml": "Backstage catalog file without Component entities",
        "d-deployment.yaml": "Kubernetes Deployment, not a service map",
        "e-list.yml": "not a service map (the document is not a mapping)",
        "f-empty.yaml": "empty file",
        "g-rules.yaml": "not a service map (no 'apiVersion: coverage-audit/v1' or Backstage entity)",
    }


def test_entity_references() -> None:
    assert entity_ref("group:payments") == ("group", "payments")
    assert entity_ref("group:default/team-payments") == ("group", "team-payments")
    assert entity_ref("Component:ledger") == ("component", "ledger")
    assert entity_ref("default/ledger") == (None, "ledger")
    assert entity_ref("ledger") == (None, "ledger")


# --------------------------------------------------------------------------- validation

HEAD = """\
    apiVersion: coverage-audit/v1
    kind: ServiceMap
    services:
      - name: ok
        owner: team-ok
        components:
          - {name: web, kind: http_api, paths: ["ok/**"]}
"""

# (case, extra YAML appended under `services:` of HEAD (or a whole tail), expected (line, text))
SERVICE_ERRORS = [
    ("unknown kind", """\
      - name: bad
        owner: x
        components:
          - name: c
            kind: http_apii
            paths: [x/**]
    """, [(12, "component bad/c: unknown kind 'http_apii' (did you mean 'http_api'?)")]),
    ("custom kind needs failure_modes", """\
      - name: bad
        owner: x
        components:
          - {name: c, kind: custom, paths: [x/**]}
    """, [(11, "component bad/c: kind 'custom' needs its own 'failure_modes'")]),
    ("missing service name", """\
      - owner: x
    """, [(8, "a service has no 'name'")]),
    ("missing owner", """\
      - name: bad
        tier: low
    """, [(8, "service 'bad' has no 'owner'")]),
    ("empty owner", """\
      - name: bad
        owner: ""
    """, [(9, "service 'bad': 'owner' must be a non-empty string")]),
    ("invalid tier type", """\
      - name: bad
        owner: x
        tier: [gold]
    """, [(10, "service 'bad': invalid tier: expected one of critical, standard, low")]),
    ("bad traffic", """\
      - name: bad
        owner: x
        traffic: -3
    """, [(10, "service 'bad': 'traffic' must be a positive number of requests per second")]),
    ("selector list with a metric", """\
      - name: bad
        owner: x
        selector: ['{job="a"}', 'up{job="b"}']
    """, [(10, "must hold label matchers only")]),
    ("bad selector", """\
      - name: bad
        owner: x
        selector: '{job="bad"'
    """, [(10, "service 'bad': bad selector '{job=\"bad\"'")]),
    ("selector with a metric name", """\
      - name: bad
        owner: x
        selector: 'up{job="bad"}'
    """, [(10, "service 'bad': selector 'up{job=\"bad\"}' must hold label matchers only")]),
    ("selector of two selectors", """\
      - name: bad
        owner: x
        selector: '{a="1"} + {b="2"}'
    """, [(10, "not a single vector selector")]),
    ("name with a slash", """\
      - name: bad/x
        owner: x
    """, [(8, "a service: name 'bad/x' must not contain '/'")]),
    ("missing component fields", """\
      - name: svc
        owner: x
        components:
          - {kind: http_api, paths: [x/**]}
          - {name: nokind, paths: [x/**]}
          - name: nopaths
            kind: http_api
    """, [
        (11, "a component of service 'svc' has no 'name'"),
        (12, "component svc/nokind has no 'kind'"),
        (13, "component svc/nopaths has no 'paths'"),
    ]),
    ("duplicate component", """\
      - name: svc
        owner: x
        components:
          - {name: c, kind: http_api, paths: [a/**]}
          - {name: c, kind: cache, paths: [b/**]}
    """, [(12, "service 'svc': component 'c' is defined twice (first at line 11)")]),
    ("signals for a mode the kind lacks", """\
      - name: svc
        owner: x
        components:
          - name: c
            kind: http_api
            paths: [a/**]
            signals:
              erors: ['x_total']
    """, [(15, "component svc/c: signals for unknown failure mode 'erors' (did you mean 'errors'?)")]),
    ("signals for the component's own mode", """\
      - name: svc
        owner: x
        components:
          - name: c
            kind: http_api
            paths: [a/**]
            signals: {backlog: ['y']}
            failure_modes:
              - {id: backlog, direction: rise, signals: [x]}
    """, [(14, "it is one of this component's own failure_modes")]),
    ("bad signal selector", """\
      - name: svc
        owner: x
        components:
          - name: c
            kind: http_api
            paths: [a/**]
            signals:
              errors: ['rate(x[5m])']
    """, [(15, "bad signal selector 'rate(x[5m])'")]),
    ("bad failure mode", """\
      - name: svc
        owner: x
        components:
          - name: c
            kind: custom
            paths: [a/**]
            failure_modes:
              - id: backlog
                direction: up
                signals: [x]
    """, [(16, "component svc/c: failure mode 'backlog': direction must be one of rise, drop, absent")]),
    ("unknown dependency", """\
      - name: svc
        owner: x
        depends_on:
          - ok
          - okk
    """, [(12, "service 'svc' depends on unknown service 'okk' (did you mean 'ok'?)")]),
    ("unknown key", """\
      - name: svc
        owner: x
        dependson: [ok]
    """, [(10, "unknown key 'dependson' in service 'svc' (did you mean 'depends_on'?)")]),
]


@pytest.mark.parametrize("case, tail, expected", SERVICE_ERRORS, ids=[c[0] for c in SERVICE_ERRORS])
def test_service_validation(case: str, tail: str, expected: list[tuple[int, str]]) -> None:
    load = load_service_map_text(textwrap.dedent(HEAD) + textwrap.indent(textwrap.dedent(tail), "  "), "map.yaml", CATALOG)
    got = errors_at(load)
    assert len(got) == len(expected), got
    for (line, message), (want_line, want_text) in zip(got, expected):
        assert line == want_line, got
        assert want_text in message, got
    # Everything else still loads.
    assert "ok" in load.service_map.services
    assert load.service_map.services["ok"].components[0].name == "web"


def test_entries_with_errors_are_left_out_and_the_rest_kept() -> None:
    load = load_text(HEAD + """\
      - name: bad-tier
        owner: x
        tier: [gold]
      - name: svc
        owner: x
        extra: ignored-but-reported
        depends_on: [ok, bad-tier, ghost]
        components:
          - {name: good, kind: cache, paths: [c/**]}
          - {name: broken, kind: nope, paths: [d/**]}
    """)
    services = load.service_map.services
    assert list(services) == ["ok", "svc"]  # bad-tier left out
    assert [c.name for c in services["svc"].components] == ["good"]  # broken left out
    # bad-tier's own error is reported once; depending on it adds no second message
    assert services["svc"].depends_on == ("ok",)
    messages = [d.message for d in load.errors]
    assert len(messages) == 4, messages
    assert any("ghost" in m for m in messages) and not any("unknown service 'bad-tier'" in m for m in messages)


def test_custom_kind_with_its_own_modes_loads() -> None:
    load = load_text(HEAD + """\
      - name: svc
        owner: x
        components:
          - name: refunds
            kind: custom
            paths: [refunds/**]
            failure_modes:
              - {id: backlog, direction: rise, signals: ['refunds_pending']}
    """)
    assert load.errors == []
    (component,) = load.service_map.services["svc"].components
    assert component.kind == "custom"
    assert [m.id for m in CATALOG.modes_for(component)] == ["backlog"]


def test_dependency_cycles_are_fine() -> None:
    load = load_text(HEAD + """\
      - {name: a, owner: x, depends_on: [b]}
      - {name: b, owner: x, depends_on: [c]}
      - {name: c, owner: x, depends_on: [a, ok]}
    """)
    assert load.errors == []
    assert load.service_map.services["c"].depends_on == ("a", "ok")


BAD_GLOBS = [
    ('""', "empty glob"),
    ("'[z-a]'", "bad character range"),
    ("'a\\'", "'a\\\\'"),
    ("'C:\\src\\**'", "absolute path"),
    ("'~/src/**'", "absolute path"),
    ("'../other/**'", "climbs out of the repository"),
    ("' src/**'", "leading or trailing spaces"),
    ("'#src'", "comment"),
    ("'services\\payments\\**'", "backslash before a letter"),
    ("'/'", "ambiguous"),
    ("42", None),  # a number is text in YAML: fine
]


@pytest.mark.parametrize("glob, problem", BAD_GLOBS)
def test_bad_globs_in_paths(glob: str, problem: str | None) -> None:
    load = load_text(HEAD + f"""\
      - name: svc
        owner: x
        components:
          - name: c
            kind: http_api
            paths:
              - ok/**
              - {glob}
    """)
    if problem is None:
        assert load.errors == []
        return
    ((line, message),) = errors_at(load)
    assert line == 15 and "component svc/c: bad glob in 'paths'" in message and problem in message
    assert load.service_map.services["svc"].components == ()


def test_glob_rules() -> None:
    assert glob_problem("services/payments/**") is None
    assert glob_problem("/Makefile") is None  # a leading slash anchors at the root, as in gitignore
    assert glob_problem("!services/payments/docs/**") is None
    assert glob_problem("**/*.proto") is None
    assert glob_problem(None) == "globs must be strings"


def test_paths_normalised_and_negations_alone_refused() -> None:
    load = load_text(HEAD + """\
      - name: svc
        owner: x
        components:
          - {name: a, kind: cache, paths: ["./src/a/**", "!./src/a/docs/**"]}
          - {name: b, kind: cache, paths: "src/b/**"}
          - {name: c, kind: cache, paths: []}
          - {name: d, kind: cache, paths: ["!x"]}
    """)
    assert errors_at(load) == [(14, "component svc/d: 'paths' holds only negations ('!'), so it matches nothing")]
    components = {c.name: c.paths for c in load.service_map.services["svc"].components}
    assert components == {"a": ("src/a/**", "!src/a/docs/**"), "b": ("src/b/**",), "c": ()}


BUSINESS_ERRORS = [
    ("missing metric", "- {name: m, owner: x}", "business metric 'm' has no 'metric'"),
    ("missing owner", "- {name: m, metric: a_total}", "business metric 'm' has no 'owner'"),
    ("bad metric", "- {name: m, owner: x, metric: 'sum(a_total)'}", "'metric' is not a PromQL selector"),
    ("no metric name", "- {name: m, owner: x, metric: '{job=\"a\"}'}", "'metric' must name a metric"),
    ("bad failure metric", "- {name: m, owner: x, metric: a, failure_metric: 'b{'}", "'failure_metric' is not a PromQL"),
    ("unknown service", "- {name: m, owner: x, metric: a, depends_on: [ok, nope]}", "business metric 'm' depends on unknown service 'nope'"),
    ("not a mapping", "- just text", "a business metric must be a mapping"),
]


@pytest.mark.parametrize("case, entry, text", BUSINESS_ERRORS, ids=[c[0] for c in BUSINESS_ERRORS])
def test_business_metric_validation(case: str, entry: str, text: str) -> None:
    load = load_text(textwrap.dedent(HEAD) + "business_metrics:\n  - {name: good, owner: x, metric: good_total, depends_on: [ok]}\n  " + entry + "\n")
    ((line, message),) = errors_at(load)
    assert line == 10 and text in message
    assert list(load.service_map.business_metrics) == ["good"] + (["m"] if case == "unknown service" else [])
    if case == "unknown service":
        assert load.service_map.business_metrics["m"].depends_on == ("ok",)


def test_duplicates_across_files_report_the_second_with_the_first(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", HEAD + """\
    business_metrics:
      - {name: orders, owner: x, metric: orders_total}
    """)
    second = write(tmp_path, "b.yaml", """\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: ok
        spec: {owner: someone-else}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: other
          annotations:
            coverage-audit/business-metrics: |
              - name: orders
                owner: y
                metric: other_total
        spec: {owner: y}
    """)
    load = load_service_maps([str(tmp_path)], CATALOG)
    assert [(d.file, d.line, d.message) for d in load.errors] == [
        (second, 1, f"service 'ok' is defined twice (first at {first}:4)"),
        (second, 13, f"business metric 'orders' is defined twice (first at {first}:9)"),
    ]
    assert load.service_map.services["ok"].owner == "team-ok"  # the first one wins
    assert load.service_map.business_metrics["orders"].metric == "orders_total"
    assert "other" in load.service_map.services


def test_duplicate_business_metric_in_one_file() -> None:
    load = load_text(HEAD + """\
    business_metrics:
      - {name: orders, owner: x, metric: a_total}
      - {name: orders, owner: x, metric: b_total}
    """)
    assert errors_at(load) == [(10, "business metric 'orders' is defined twice (first at map.yaml:9)")]


def test_bad_documents_and_files_do_not_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "apiVersion: coverage-audit/v1\nkind: ServiceMap\nservices: [\n")
    write(tmp_path, "b.yaml", "apiVersion: coverage-audit/v2\nkind: ServiceMap\n---\napiVersion: coverage-audit/v1\nkind: Map\n")
    write(tmp_path, "c.yaml", "kind: ServiceMap\nservices: []\n---\n" + textwrap.dedent(HEAD))
    write(tmp_path, "d.yaml", "apiVersion: coverage-audit/v1\nkind: ServiceMap\nservices: {a: b}\nbusiness_metrics: [1]\n")
    load = load_service_maps([str(tmp_path), str(tmp_path / "missing.yaml")], CATALOG)
    got = [(Path(d.file).name, d.line, d.message) for d in load.errors]
    assert got == [
        ("missing.yaml", 0, "no such file or folder"),
        ("a.yaml", 4, "invalid YAML: did not find expected node content"),
        ("b.yaml", 1, "unsupported apiVersion 'coverage-audit/v2': expected 'coverage-audit/v1'"),
        ("b.yaml", 5, "unknown kind 'Map' for coverage-audit/v1: expected 'ServiceMap'"),
        ("c.yaml", 1, "a ServiceMap needs 'apiVersion: coverage-audit/v1' (got None)"),
        ("d.yaml", 3, "'services' must be a list"),
        ("d.yaml", 4, "a business metric must be a mapping with name, owner, metric, ..."),
    ]
    assert list(load.service_map.services) == ["ok"]
    assert load.files == 4 and load.skipped == []


# --------------------------------------------------------------------------- Backstage specifics


def backstage(annotations: str, spec: str = "spec: {owner: group:team-x}") -> ServiceMapLoad:
    text = textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: svc
          annotations:
        """) + textwrap.indent(textwrap.dedent(annotations), "    ") + textwrap.dedent(spec) + "\n"
    return load_service_map_text(text, "catalog-info.yaml", CATALOG)


def test_embedded_yaml_syntax_error_points_into_the_block() -> None:
    load = backstage("""\
        coverage-audit/components: |
          - name: api
            kind: http_api
            paths: [services/**
          - name: other
        """)
    ((line, message),) = errors_at(load)
    assert line == 10  # the block starts on line 6; the embedded YAML fails on its line 4
    assert message.startswith("Backstage Component 'svc': in annotation 'coverage-audit/components': invalid YAML")
    assert load.service_map.services["svc"].components == ()


def test_embedded_validation_errors_point_into_the_block() -> None:
    load = backstage("""\
        coverage-audit/tier: critical
        coverage-audit/components: |-   # components of svc

          - name: api
            kind: http_api
            paths: [services/svc/api/**]
          - name: worker
            kind: queue_consumr
            paths: [services/svc/worker/**]
        coverage-audit/business-metrics: |
          - name: signups
            owner: x
            metric: 'sum(x)'
        """)
    assert errors_at(load) == [
        (13, "component svc/worker: unknown kind 'queue_consumr' (did you mean 'queue_consumer'?) "
             "(known: batch_job, cache, cdn, datastore, db_migration, external_dependency, grpc_api, http_api, load_balancer, proxy, queue_consumer, queue_producer; "
             "or 'custom' with failure_modes)"),
        (18, "business metric 'signups': 'metric' is not a PromQL selector: not a single vector selector: 'sum(x)'"),
    ]
    assert [c.name for c in load.service_map.services["svc"].components] == ["api"]
    assert [c.line for c in load.service_map.services["svc"].components] == [9]


def test_embedded_yaml_in_a_quoted_annotation_points_at_the_annotation() -> None:
    load = backstage("""\
        coverage-audit/selector: '{job="svc"}'
        coverage-audit/components: "[{name: api, kind: nope, paths: [x]}]"
        """)
    ((line, message),) = errors_at(load)
    assert line == 7 and "unknown kind 'nope'" in message


@pytest.mark.parametrize(
    "annotations, line, text",
    [
        ("coverage-audit/tier: [gold]\n", 6, "invalid coverage-audit/tier"),
        ("coverage-audit/selector: 'up'\n", 6, "must hold label matchers only"),
        ("coverage-audit/selector: '{}'\n", 6, "has no matcher"),
        ("coverage-audit/components: {a: b}\n", 6, "must be YAML text"),
        ("coverage-audit/components: 'a: b'\n", 6, "'coverage-audit/components' must be a list of components"),
        ("coverage-audit/business-metrics: 'a: b'\n", 6, "must hold a YAML list of business metrics"),
        ("coverage-audit/components: \"---\\n[]\\n---\\n[]\"\n", 6, "holds more than one YAML document"),
        ("coverage-audit/component: x\n", 6, "Backstage Component 'svc': unknown annotation 'coverage-audit/component' (did you mean 'coverage-audit/components'?)"),
    ],
)
def test_backstage_annotation_errors(annotations: str, line: int, text: str) -> None:
    load = backstage(annotations)
    ((got_line, message),) = errors_at(load)
    assert got_line == line and text in message, message


def test_backstage_unknown_annotation_does_not_leave_the_service_out() -> None:
    load = backstage("coverage-audit/component: x\n")
    assert "svc" in load.service_map.services


@pytest.mark.parametrize(
    "spec, line, text",
    [
        ("spec: {type: service}", 7, "Backstage Component 'svc' has no 'spec.owner'"),
        ("spec: {owner: 'group:'}", 7, "'spec.owner' is not an entity reference"),
        ("spec: {owner: x, dependsOn: component:a}", 7, "'dependsOn' must be a list"),
        ("spec: {owner: x, dependsOn: [component:ghost]}", 7, "depends on unknown service 'ghost'"),
        ("spec: [owner]", 7, "'spec' must be a mapping"),
    ],
)
def test_backstage_spec_errors(spec: str, line: int, text: str) -> None:
    load = backstage("coverage-audit/tier: low\n", spec)
    ((got_line, message),) = errors_at(load)
    assert got_line == line and text in message, message


def test_backstage_component_without_metadata_name() -> None:
    load = load_service_map_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {title: x}\nspec: {owner: y}\n",
        "c.yaml",
        CATALOG,
    )
    assert errors_at(load) == [(3, "a Backstage Component has no 'name'")]
    assert load.service_map.services == {}


# --------------------------------------------------------------------------- never raises

_KEYS = st.sampled_from(
    [
        "apiVersion", "kind", "services", "business_metrics", "name", "owner", "tier", "selector",
        "depends_on", "components", "paths", "signals", "failure_modes", "id", "direction", "metric",
        "failure_metric", "errors", "latency", "metadata", "spec", "annotations", "dependsOn", "system",
        "coverage-audit/components", "coverage-audit/business-metrics", "coverage-audit/selector",
        "coverage-audit/tier", "x",
    ]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "coverage-audit/v1", "ServiceMap", "backstage.io/v1alpha1", "Component", "http_api", "custom",
            "critical", "rise", "{job=\"x\"}", "x_total", "a/**", "[z-a]", "component:a", "a", "b", "",
            "sum(x)", "{a=\"1\"} + {b=\"2\"}", "- name: a\n  kind: http_api\n  paths: [x]\n", "[", "/",
        ]
    ),
    st.text(max_size=12),
    st.integers(),
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.dictionaries(_KEYS, _VALUES, max_size=6), native=st.booleans())
def test_arbitrary_structures_produce_diagnostics_not_exceptions(document: dict, native: bool) -> None:
    if native:
        document = {"apiVersion": "coverage-audit/v1", "kind": "ServiceMap", **document}
    else:
        document = {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", **document}
    text = yaml.safe_dump(document, sort_keys=False)
    load = load_service_map_text(text, "fuzz.yaml", CATALOG)
    assert all(isinstance(d, Diagnostic) and d.file == "fuzz.yaml" and d.line >= 0 for d in load.errors)
    for service in load.service_map.services.values():
        assert service.owner and service.tier in ("critical", "standard", "low")
        assert all(dep in load.service_map.services and dep != service.name for dep in service.depends_on)


_TOKENS = ["name: ", "services:", "  ", "\n  - ", "kind: ", "components:", "paths: ", "depends_on: ", "---\n"]


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(list("ab:-[]{}|>'\"#&*!\n ") + _TOKENS), max_size=40).map("".join))
def test_arbitrary_text_produces_diagnostics_not_exceptions(text: str) -> None:
    load = load_service_map_text("apiVersion: coverage-audit/v1\nkind: ServiceMap\n" + text, "fuzz.yaml", CATALOG)
    assert all(isinstance(d, Diagnostic) for d in load.errors)


# --------------------------------------------------------------------------- issue 8: identity, tiers, traffic


def test_custom_tiers_map_onto_the_three_and_unknown_ones_are_reported_once() -> None:
    text = HEAD + """\
      - {name: api, owner: x, tier: sv}
      - {name: db, owner: x, tier: db}
      - {name: lb, owner: x, tier: lb}
      - {name: lb2, owner: x, tier: lb}
    """
    load = load_service_map_text(text, "map.yaml", CATALOG, tiers={"sv": "critical", "db": "critical"})
    services = load.service_map.services
    assert load.errors == []
    assert (services["api"].tier, services["db"].tier, services["lb"].tier, services["lb2"].tier) == ("critical", "critical", "standard", "standard")
    (warning,) = load.warnings  # "lb" twice, said once
    assert warning.line == 10 and "unknown tier 'lb'" in warning.message and "tiers:" in warning.message


def test_a_service_that_depends_on_itself_is_a_warning_not_an_error() -> None:
    load = load_text(HEAD + """\
      - name: gitaly
        owner: x
        depends_on: [ok, gitaly]
    """)
    assert load.errors == []
    assert load.service_map.services["gitaly"].depends_on == ("ok",)
    (warning,) = load.warnings
    assert warning.line == 10 and "depends on itself" in warning.message


def test_selector_alternatives_and_traffic() -> None:
    load = load_text(HEAD + """\
      - name: cart
        owner: x
        traffic: 40
        selector: ['{job="cart"}', '{service_name="cart"}', '{job="cart"}']
        components:
          - name: web
            kind: http_api
            paths: [cart/**]
            selector: '{job="cart-exporter"}'
    """)
    assert load.errors == []
    cart = load.service_map.services["cart"]
    assert cart.traffic == 40.0
    assert [[str(m) for m in alternative] for alternative in cart.alternatives] == [['job="cart"'], ['service_name="cart"']]
    assert [str(m) for m in cart.matchers] == ['job="cart"']
    from coverage_audit.model import subject_selectors

    assert subject_selectors(cart) == cart.alternatives
    assert [[str(m) for m in a] for a in subject_selectors(cart, cart.components[0])] == [['job="cart-exporter"']]
