"""GitLab.com's real rules, map and Alertmanager configuration, against verdicts judged by hand
from the rule files (tests/scenarios/gitlab_expected.yaml; issue 8)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from coverage_audit.analysis.impact import every_mode
from coverage_audit.commands.common import Inputs, load_inputs, make_judge
from coverage_audit.config import Settings
from coverage_audit.durations import parse_duration
from coverage_audit.loaders.service_map import load_service_maps

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RULES = SHARED / "corpus" / "mattrussi__gitlab-com-runbooks" / "mimir-rules" / "gitlab-gprd"
GITLAB = SHARED / "realworld" / "gitlab"
CASES = yaml.safe_load((ROOT / "tests" / "scenarios" / "gitlab_expected.yaml").read_text())["cases"]

pytestmark = pytest.mark.corpus

# A data-store kind whose own exporter metrics are its application signals (issue 8 item 6).
DATASTORE_CATALOG = """\
kinds:
  datastore:
    description: a database, pooler or cache server, judged on its own exporter metrics
    failure_modes:
      - {id: errors, direction: rise, model: bad_events, signals: ['pgbouncer_pooler_errors_total', 'pg_stat_database_xact_rollback']}
"""


@pytest.fixture(scope="module")
def gitlab() -> tuple[Settings, Inputs]:
    if not RULES.is_dir() or not GITLAB.is_dir():
        pytest.skip(f"GitLab.com's rules or map not found under {SHARED}")
    settings = Settings(
        rules=(str(RULES),),
        service_maps=(str(GITLAB / "service-map.yaml"),),
        alertmanager=str(GITLAB / "alertmanager.yaml"),
    )
    inputs = load_inputs(settings)
    assert inputs.errors == [], inputs.errors[:3]
    return settings, inputs


def _with_kinds(inputs: Inputs, kinds: dict[str, str], tmp: Path) -> Inputs:
    """The same inputs with some components' kinds changed in a copy of the map."""
    text = (GITLAB / "service-map.yaml").read_text()
    for subject, kind in kinds.items():
        service, component = subject.split("/")
        block = re.search(rf"(?ms)^- name: {re.escape(service)}\n.*?(?=^- name: |\Z)", text)
        assert block, subject
        changed = re.sub(rf"(  - name: {re.escape(component)}\n    kind: )\w+", rf"\g<1>{kind}", block.group(0), count=1)
        text = text[: block.start()] + changed + text[block.end():]
    (tmp / "map.yaml").write_text(text)
    (tmp / "catalog.yaml").write_text(DATASTORE_CATALOG)
    from coverage_audit.catalog import load_catalog

    catalog = load_catalog(str(tmp / "catalog.yaml"))
    loaded = load_service_maps([str(tmp / "map.yaml")], catalog)
    assert loaded.errors == [], loaded.errors
    return replace(inputs, service_map=loaded.service_map, catalog=catalog)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['subject']}#{c['mode']}" + "".join(f"/{k}={c[k]}" for k in ("scenario", "budget", "alertmanager", "kinds") if k in c))
def test_hand_judged_verdict(gitlab, case, tmp_path) -> None:
    settings, inputs = gitlab
    settings = replace(settings, scenario=case.get("scenario", "outage"), budget=parse_duration(case.get("budget", "15m")))
    if case.get("alertmanager") == "none":
        inputs = replace(inputs, alertmanager=None)
    if "kinds" in case:
        inputs = _with_kinds(inputs, case["kinds"], tmp_path)
    mode = next(
        m for m in every_mode(inputs.service_map, inputs.catalog) if m.subject.name == case["subject"] and m.mode.id == case["mode"]
    )
    finding = make_judge(inputs, settings).judge(mode.subject, mode.mode, mode.target, None)
    context = f"{finding.status}: {finding.reason} | hand: {case['why']}"
    assert finding.status == case["status"], context
    if "alert" in case:
        best = finding.best
        assert best is not None and best.rule.name == case["alert"], context
        assert sorted(best.problems) == sorted(case.get("problems", [])), context
        low, high = case["detect"]
        assert low <= best.detect_seconds <= high, (best.detect_seconds, context)
        if case.get("alertmanager") == "none":
            assert best.receivers == ()
    else:
        assert finding.alerts == (), context
    if "reason" in case:
        assert case["reason"] in finding.reason, context
    for name in case.get("not_covering", []):
        assert name not in {a.rule.name for a in finding.alerts}, context
    related = {r.rule.name: r.level for r in finding.related}
    for name in case.get("related_infrastructure", []):
        assert related.get(name) == "infrastructure", (name, context)
    # Item 7: the near miss named is about the subject itself, never another service's alert.
    service = mode.subject.service
    if finding.status == "uncovered" and service:
        named = re.findall(r"([A-Z][A-Za-z]+)ServiceX?", finding.reason)
        pascal = "".join(part.capitalize() for part in re.split(r"[-_]", service))
        assert all(n.startswith(pascal) for n in named if n.endswith(("Error", "Apdex"))), context


def test_gitlab_report_counts_and_no_offset_baselines(gitlab) -> None:
    """Every read of GitLab's recordings carries `offset 30s` (ingestion lag): it is a delay,
    not a baseline, so SLO alerts cover (the report once said 0 of 298)."""
    settings, inputs = gitlab
    judge = make_judge(inputs, settings)
    findings = [judge.judge(m.subject, m.mode, m.target, None) for m in every_mode(inputs.service_map, inputs.catalog)]
    assert len(findings) == 298
    covered = sum(f.status == "covered" for f in findings)
    weak = sum(f.status == "weak" for f in findings)
    assert covered >= 100, covered
    # 178 when measured: the map calls Cloudflare's zones and HAProxy's frontends http_api, so
    # their exporters' cloudflare_*/haproxy_* metrics are infrastructure for them (9 modes).
    assert covered + weak >= 175, (covered, weak)
    # Nothing is judged to fire "when errors fall": no reason says an SLO alert moves the wrong way.
    assert not [f for f in findings if "SLOViolation fires when" in f.reason and "not when it rises" in f.reason]
