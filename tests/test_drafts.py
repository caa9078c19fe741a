"""Drafts of the missing alerts: promtool accepts them, their unit tests pass, they close the
gaps they were drafted for, and they are deterministic and never overwrite by surprise."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_audit.analysis.routing import route
from coverage_audit.cli import main
from coverage_audit.commands import judge_everything, load_inputs
from coverage_audit.config import load_config
from coverage_audit.loaders.alertmanager import load_alertmanager
from coverage_audit.loaders.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package 'prometheus')")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def draft(out: Path, *extra: str, config: Path = ROOT / "coverage-audit.yaml") -> int:
    return main(["draft", "--config", str(config), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def drafted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drafts")
    assert draft(out, "--all", "--fail-on", "weak") == 0
    return out


@pytest.mark.tools
@needs_promtool
def test_drafts_pass_promtool_check_and_their_unit_tests(drafted: Path) -> None:
    rule_files = sorted(p.name for p in drafted.glob("*.rules.yaml"))
    test_files = sorted(p.name for p in drafted.glob("*rules_test.yaml"))
    assert len(rule_files) >= 10 and len(test_files) >= len(rule_files)
    checked = promtool("check", "rules", *rule_files, cwd=drafted)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", *test_files, cwd=drafted)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(test_files)


def test_closed_loop_every_drafted_mode_becomes_covered(drafted: Path) -> None:
    base = load_config(str(ROOT / "coverage-audit.yaml"))
    before = {(f.subject.name, f.mode.id): f.status for f in judge_everything(load_inputs(base), base)}
    with_drafts = replace(base, rules=base.rules + (str(drafted),))
    inputs = load_inputs(with_drafts)
    assert inputs.errors == []
    after = {(f.subject.name, f.mode.id): f for f in judge_everything(inputs, with_drafts)}
    drafted_modes = [key for key, status in before.items() if status != "covered"]
    assert len(drafted_modes) > 20
    for key in drafted_modes:
        assert after[key].status == "covered", (key, after[key].reason)


def test_each_shape_is_used_and_follows_mixin_conventions(drafted: Path) -> None:
    rules = load_rules([str(drafted)]).rules
    alerts = [r for r in rules if r.kind == "alert"]
    assert {"burn_rate", "latency_quantile", "drop_vs_last_week"} <= {a.annotations["description"].split(" as a ")[1].split(" alert")[0].replace(" ", "_") for a in alerts}
    for alert in alerts:
        assert alert.name[:1].isupper() and alert.name.isalnum()
        assert alert.labels["severity"] and set(alert.annotations) >= {"summary", "description", "runbook_url", "coverage_audit_gap"}
    records = [r for r in rules if r.kind == "record"]
    assert records and all(r.name.count(":") == 2 for r in records)


def test_drafts_route_to_the_owners_receiver(drafted: Path) -> None:
    config = load_alertmanager(str(ROOT / "rulesets" / "alertmanager.yaml"))
    for alert in (r for r in load_rules([str(drafted)]).rules if r.kind == "alert"):
        deliveries = route(config, {**alert.labels, "alertname": alert.name})
        assert any(not d.blackhole for d in deliveries), alert.name


def test_drafts_are_byte_identical_across_runs(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert draft(first, "--all") == 0 and draft(second, "--all") == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)


def test_existing_files_are_kept_unless_forced(tmp_path: Path, capsys) -> None:
    out = tmp_path / "drafts"
    assert draft(out, "--changed", "services/checkout/handlers/place_order.py") == 0
    target = out / "checkout.rules.yaml"
    target.write_text("# my edits\n")
    capsys.readouterr()
    assert draft(out, "--changed", "services/checkout/handlers/place_order.py") == 2
    assert target.read_text() == "# my edits\n"
    assert "not overwritten (use --force)" in capsys.readouterr().err
    assert draft(out, "--changed", "services/checkout/handlers/place_order.py", "--force") == 0
    assert target.read_text().startswith("# Drafted by coverage-audit")
    assert not [p for p in out.iterdir() if p.name.startswith(".coverage-audit-")]  # no temp files left


def test_dry_run_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "drafts"
    assert draft(out, "--changed", "services/checkout/handlers/place_order.py", "--dry-run") == 0
    printed = capsys.readouterr().out
    assert not out.exists()
    assert "# --- " in printed and "CheckoutApiTrafficDrop" in printed and "Would write" in printed


def test_prometheusrule_format(tmp_path: Path) -> None:
    out = tmp_path / "drafts"
    assert draft(out, "--all", "--format", "prometheusrule") == 0
    objects = sorted(out.glob("*.prometheusrule.yaml"))
    assert objects
    for path in objects:
        document = yaml.safe_load(path.read_text())
        assert document["apiVersion"] == "monitoring.coreos.com/v1" and document["kind"] == "PrometheusRule"
    crd = load_rules([str(p) for p in objects])
    plain = load_rules([str(p) for p in out.glob("*.rules.yaml")])
    assert crd.errors == [] and {r.source for r in crd.rules} == {"prometheusrule"}
    assert sorted((r.name, r.expr) for r in crd.rules) == sorted((r.name, r.expr) for r in plain.rules)


def test_a_tighter_budget_gives_shorter_windows_still_covered(tmp_path: Path, capsys) -> None:
    out = tmp_path / "drafts"
    assert draft(out, "--changed", "services/checkout/handlers/place_order.py", "--budget", "6m") == 0
    text = (out / "checkout.rules.yaml").read_text()
    # 6m budget - 2m for - 1m evaluation - 10s group_wait leaves room for a 2m window
    assert "[2m]" in text and "[10m]" not in text
    rows = [line for line in capsys.readouterr().out.splitlines() if "routes to" in line]
    assert rows and all(" covered " in row for row in rows)


@pytest.mark.tools
@needs_promtool
def test_without_a_route_for_the_owner_the_draft_says_so(tmp_path: Path, capsys) -> None:
    (tmp_path / "am.yaml").write_text("route: {receiver: ops}\nreceivers: [{name: ops, slack_configs: [{api_url: 'http://x', channel: '#ops'}]}]\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"rules: [{ROOT / 'rulesets'}]\nalertmanager: {tmp_path / 'am.yaml'}\nservice_maps: [{ROOT / 'service_maps'}]\n")
    assert draft(tmp_path / "out", "--changed", "services/checkout/handlers/place_order.py", config=config) == 0
    assert "no route in the Alertmanager configuration leads team-checkout" in capsys.readouterr().out
    assert '"team": "team-checkout"' in (tmp_path / "out" / "checkout.rules.yaml").read_text() or "team: " in (tmp_path / "out" / "checkout.rules.yaml").read_text()


# --------------------------------------------------------------------------- property

KINDS = ["http_api", "grpc_api", "queue_consumer", "batch_job", "db_migration", "cache", "external_dependency"]


@st.composite
def organisations(draw) -> tuple[str, str]:
    count = draw(st.integers(min_value=1, max_value=4))
    teams = draw(st.lists(st.sampled_from(["red", "blue", "green"]), min_size=count, max_size=count))
    services = []
    for index in range(count):
        kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True))
        two_labels = draw(st.booleans())
        selector = f'{{namespace="shop", job="svc{index}"}}' if two_labels else f'{{job="svc{index}"}}'
        components = [{"name": f"c{n}", "kind": kind, "paths": [f"services/svc{index}/c{n}/**"]} for n, kind in enumerate(kinds)]
        services.append({"name": f"svc{index}", "owner": f"team-{teams[index]}", "selector": selector,
                         "depends_on": [f"svc{d}" for d in range(index) if draw(st.booleans())], "components": components})
    business = [{"name": "sales", "owner": f"team-{teams[0]}", "metric": "shop_sales_total",
                 "failure_metric": "shop_sales_failed_total", "depends_on": ["svc0"]}] if draw(st.booleans()) else []
    service_map = yaml.safe_dump({"apiVersion": "coverage-audit/v1", "kind": "ServiceMap", "services": services, "business_metrics": business}, sort_keys=False)
    routes = "\n".join(
        f"    - matchers: ['team=\"{team}\"']\n      receiver: {team}-pager\n      group_wait: {wait}s"
        for team, wait in (("red", 10), ("blue", 30), ("green", 60))
    )
    receivers = "\n".join(f"  - name: {team}-pager\n    pagerduty_configs: [{{routing_key: k}}]" for team in ("red", "blue", "green"))
    alertmanager = f"route:\n  receiver: blackhole\n  routes:\n{routes}\nreceivers:\n  - name: blackhole\n{receivers}\n"
    return service_map, alertmanager


@pytest.mark.tools
@needs_promtool
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(organisations(), st.sampled_from(["15m", "10m", "30m"]))
def test_generated_maps_drafts_pass_promtool_and_close_every_gap(tmp_path_factory, organisation, budget) -> None:
    service_map, alertmanager = organisation
    work = tmp_path_factory.mktemp("org")
    (work / "rules").mkdir()
    (work / "rules" / "empty.yaml").write_text("groups: []\n")
    (work / "map.yaml").write_text(service_map)
    (work / "am.yaml").write_text(alertmanager)
    config = work / "coverage-audit.yaml"
    config.write_text(f"rules: [rules]\nalertmanager: am.yaml\nservice_maps: [map.yaml]\nbudget: {budget}\n")
    out = work / "drafts"
    assert draft(out, "--all", config=config) == 0
    rule_files = sorted(p.name for p in out.glob("*.rules.yaml"))
    test_files = sorted(p.name for p in out.glob("*rules_test.yaml"))
    assert rule_files and test_files
    checked = promtool("check", "rules", *rule_files, cwd=out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", *test_files, cwd=out)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    settings_with = replace(load_config(str(config)), rules=(str(work / "rules"), str(out)))
    inputs = load_inputs(settings_with)
    assert inputs.errors == []
    findings = judge_everything(inputs, settings_with)
    assert findings and all(f.status == "covered" for f in findings), [(f.subject.name, f.mode.id, f.reason) for f in findings if f.status != "covered"]


EVERY_SHAPE_MAP = """\
apiVersion: coverage-audit/v1
kind: ServiceMap
services:
  - name: shop
    owner: team-red
    selector: '{job="shop"}'
    components:
      - {name: web, kind: http_api, paths: ["web/**"]}
      - {name: events, kind: queue_consumer, paths: ["events/**"], selector: '{consumergroup="shop-events"}'}
      - {name: nightly, kind: batch_job, paths: ["jobs/**"]}
      - {name: sessions, kind: cache, paths: ["cache/**"]}
      - name: realtime
        kind: custom
        paths: ["realtime/**"]
        failure_modes:
          - {id: heartbeat, direction: absent, signals: ['realtime_heartbeat']}
          - {id: clients_drop, direction: drop, signals: ['realtime_connected_clients']}
          - {id: slow_pushes, direction: rise, signals: ['realtime_push_seconds_sum']}
          - {id: push_failures, direction: rise, signals: ['realtime_push_failures_total']}
"""


@pytest.mark.tools
@needs_promtool
def test_every_shape_drafts_and_passes_promtool(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "none.yaml").write_text("groups: []\n")
    (tmp_path / "map.yaml").write_text(EVERY_SHAPE_MAP)
    (tmp_path / "am.yaml").write_text(
        "route:\n  receiver: red\nreceivers:\n  - name: red\n    pagerduty_configs: [{routing_key: k}]\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text("rules: [rules]\nalertmanager: am.yaml\nservice_maps: [map.yaml]\n")
    out = tmp_path / "out"
    assert draft(out, "--all", config=config) == 0
    rules = load_rules([str(out)]).rules
    shapes = {r.annotations["description"].split(" as a ")[1].split(" alert")[0].replace(" ", "_") for r in rules if r.kind == "alert"}
    templates = {p.name.removesuffix(".yaml.j2") for p in (ROOT / "coverage_audit" / "templates" / "drafts").glob("*.yaml.j2")}
    assert shapes == templates - {"_common", "rule_file", "test_file"}
    files = sorted(p.name for p in out.glob("*rules_test.yaml"))
    tested = promtool("test", "rules", *files, cwd=out)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    settings_with = replace(load_config(str(config)), rules=(str(tmp_path / "rules"), str(out)))
    findings = judge_everything(load_inputs(settings_with), settings_with)
    assert all(f.status == "covered" for f in findings), [(f.subject.name, f.mode.id, f.reason) for f in findings if f.status != "covered"]
