"""The bundled example (rulesets/, service_maps/) against hand-judged expectations
(tests/scenarios/shop_expected.yaml): every failure mode of every subject, and change scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from coverage_audit.cli import main
from coverage_audit.commands import judge_everything, load_inputs
from coverage_audit.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = yaml.safe_load((ROOT / "tests" / "scenarios" / "shop_expected.yaml").read_text())


@pytest.fixture(scope="module")
def findings(monkeypatch_module):
    settings = load_config(str(ROOT / "coverage-audit.yaml"))
    inputs = load_inputs(settings)
    assert inputs.errors == [], inputs.errors
    return {(f.subject.name, f.mode.id): f for f in judge_everything(inputs, settings)}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        yield patch


def test_every_subject_and_mode_is_judged(findings) -> None:
    expected = {(v["subject"], v["failure_mode"]) for v in EXPECTED["verdicts"]}
    assert set(findings) == expected


@pytest.mark.parametrize("case", EXPECTED["verdicts"], ids=lambda v: f"{v['subject']}#{v['failure_mode']}")
def test_verdict(findings, case) -> None:
    finding = findings[(case["subject"], case["failure_mode"])]
    context = f"{finding.status}: {finding.reason}"
    assert finding.status == case["status"], context
    by_name = {a.rule.name: a for a in finding.alerts}
    if case["status"] != "uncovered":
        assert case["alert"] in by_name, context
        alert = by_name[case["alert"]]
        if case["status"] == "covered":
            assert finding.best.ok and alert.ok, context
        assert sorted(alert.problems) == sorted(case.get("problems", [])), context
        if "detect_seconds" in case:
            assert round(alert.detect_seconds) == case["detect_seconds"], context
        for other in case.get("other_alerts", []):
            assert other["alert"] in by_name, (other, context)
            assert sorted(by_name[other["alert"]].problems) == sorted(other["problems"]), (other, context)
        if "other_alerts" in case:
            assert set(by_name) == {case["alert"], *(o["alert"] for o in case["other_alerts"])}, context
    else:
        assert finding.alerts == (), context
    for name in case.get("not_covering", []):
        assert name not in by_name, (name, context)
    related = {r.rule.name for r in finding.related}
    for name in case.get("related_includes", []):
        assert name in related, (name, related)
    assert finding.reason


@pytest.mark.parametrize("scenario", EXPECTED["changes"], ids=lambda c: c["name"])
def test_change_scenario(scenario, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    argv = ["check", "--format", "json"]
    if "components" in scenario:
        argv += ["--component", *scenario["components"]]
    else:
        argv += ["--changed", *scenario["changed"]]
    code = main(argv)
    document = json.loads(capsys.readouterr().out)
    impacted: dict[tuple[str, str], set[str]] = {}
    for finding in document["findings"]:
        impacted.setdefault((finding["subject"], finding["impact"]), set()).add(finding["failure_mode"])
    expected = {(i["subject"], i["impact"]): set(i["modes"]) for i in scenario["impacted"]}
    assert impacted == expected
    assert code == scenario["exit_code"]
    assert main(argv + ["--fail-on", "weak"]) == scenario["exit_code_fail_on_weak"]
    capsys.readouterr()
