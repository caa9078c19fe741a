"""The drill on the bundled shop, through the real promtool: every covered verdict under
``outage`` is proven, the measured times agree with the model, drills share runs, and every
output format shows what was measured."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from coverage_audit.analysis.findings import CoverageReport, Summary
from coverage_audit.analysis.impact import every_mode
from coverage_audit.analysis.overview import build_overview
from coverage_audit.analysis.routing import first_notice_wait
from coverage_audit.commands import judge_all, load_inputs
from coverage_audit.config import load_config
from coverage_audit.drill import Options, drill, overrule, verdicts
from coverage_audit.durations import format_duration
from coverage_audit.reporters import html, json as json_reporter, markdown, sarif, text

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package 'prometheus')"),
]


@pytest.fixture(scope="module")
def shop():
    """The shop's every failure mode, judged, and drilled in the outage scenario."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        settings = load_config(str(ROOT / "coverage-audit.yaml"))
        inputs = load_inputs(settings)
        modes = every_mode(inputs.service_map, inputs.catalog)
        judged = judge_all(inputs, settings, modes)
        options = Options(("outage",), settings.budget, settings.evaluation_interval, settings.canary_selector)
        measured = drill(verdicts(judged, modes), inputs.ruleset, options)
    finally:
        os.chdir(cwd)

    def wait(alert) -> float:
        return first_notice_wait(inputs.alertmanager, dict(alert.labels)) if inputs.alertmanager else 0.0

    proven = overrule(judged, measured.results, "outage", settings.budget, wait)
    return judged, measured, proven, settings, wait, inputs, modes


def _model_has_scenarios(judged) -> bool:
    """The judge's magnitude-aware model fills ``detect`` per scenario (DESIGN 5.1)."""
    return any(alert.detect for finding in judged for alert in finding.alerts)


def test_every_covered_verdict_under_outage_is_proven_by_the_drill(shop) -> None:
    judged, measured, _, settings, wait, *_ = shop
    rows, unproven = [], []
    for finding in judged:
        if finding.status != "covered":
            continue
        for alert in (a for a in finding.alerts if a.ok):
            result = measured.results[(finding.subject.name, finding.mode.id)][alert.rule]["outage"]
            fired = result.fired_after_seconds
            proven = result.drilled and fired is not None and not result.noisy and fired + wait(alert) <= settings.budget
            rows.append(f"{finding.subject.name:26} {finding.mode.id:16} {alert.rule.name:32} "
                        f"{'proven' if proven else 'NOT PROVEN'}: {result}")
            if not proven:
                unproven.append(rows[-1])
    print("\n" + "\n".join(rows))
    assert len(rows) >= 15  # the shop's covered verdicts rest on this many clean alerts
    if unproven and not _model_has_scenarios(judged):
        pytest.xfail("the judge's scenario model (detect per scenario) has not landed; the drill overrules "
                     "these covered verdicts of the old model:\n" + "\n".join(unproven))
    assert not unproven, "covered verdicts the drill does not prove:\n" + "\n".join(unproven)


def test_measured_time_to_fire_agrees_with_the_model_within_one_interval_plus_ten_percent(shop) -> None:
    judged, measured, _, settings, wait, *_ = shop
    rows, disagreements = [], []
    for finding in judged:
        drilled = measured.results.get((finding.subject.name, finding.mode.id), {})
        for alert in finding.alerts:
            result = drilled.get(alert.rule, {}).get("outage")
            if result is None or not result.drilled:
                continue
            interval = alert.rule.interval or settings.evaluation_interval
            modelled = alert.detect.get("outage") if alert.detect else alert.detect_seconds
            fired = result.fired_after_seconds
            notice = None if fired is None else fired + wait(alert)
            if modelled is None or notice is None:
                agrees = modelled is None and notice is None
            else:
                agrees = abs(notice - modelled) <= interval + 0.1 * modelled
            row = (f"{finding.subject.name:26} {alert.rule.name:32} modelled {_seconds(modelled):>9} "
                   f"measured {_seconds(notice):>9}{'' if agrees else '   <- disagree'}")
            rows.append(row)
            if not agrees:
                disagreements.append(row)
    print("\n" + "\n".join(rows))
    assert len(rows) >= 30
    if disagreements and not _model_has_scenarios(judged):
        pytest.xfail("the judge's scenario model (detect per scenario) has not landed; against the old estimate:\n"
                     + "\n".join(disagreements))
    assert not disagreements, "model and engine disagree:\n" + "\n".join(disagreements)


def _seconds(value: float | None) -> str:
    return "never" if value is None else format_duration(value)


def test_alerts_of_one_finding_share_one_run_and_one_world(shop) -> None:
    judged, measured, _, _, _, *_ = shop
    drilled_alerts = sum(len(rules) for rules in measured.results.values())
    assert measured.runs < drilled_alerts  # payments/api errors: two alerts, one engine run
    payments = measured.results[("payments/api", "errors")]
    assert {"PaymentsHighErrorRatio", "PaymentsErrorBudgetBurn"} <= {rule.name for rule in payments}
    assert all(by["outage"].drilled for by in payments.values())


def test_on_the_shop_the_measurement_changes_no_verdict_of_the_model(shop) -> None:
    """Overruling applied (the traps in test_drill_traps.py show it changing verdicts); here the
    model and the engine agree, so every status stays, and every drilled alert carries its
    measurement."""
    judged, _, proven, *_ = shop
    before = {(f.subject.name, f.mode.id): f.status for f in judged}
    after = {(f.subject.name, f.mode.id): f.status for f in proven}
    if before != after and not _model_has_scenarios(judged):
        pytest.xfail("the judge's scenario model has not landed")
    assert before == after
    drilled = [a for f in proven for a in f.alerts if a.drill]
    assert len(drilled) >= 30 and all("outage" in a.drill for a in drilled)
    assert all(a.drill is None for f in judged for a in f.alerts)  # judging alone measures nothing


def _report(proven, settings) -> CoverageReport:
    return CoverageReport(tuple(proven), Summary.of(proven), settings.budget, scenario="outage")


def test_json_shows_the_drill_per_alert_as_the_contract_says(shop) -> None:
    _, _, proven, settings, *_ = shop
    document = json.loads(json_reporter.render_coverage(_report(proven, settings)))
    alerts = {a["name"]: a for f in document["findings"] for a in f["alerts"] if f["subject"] == "payments/api"}
    drilled = alerts["PaymentsHighErrorRatio"]["drill"]["outage"]
    assert drilled == {"fired_after_seconds": drilled["fired_after_seconds"], "noisy": False, "drilled": True}
    assert isinstance(drilled["fired_after_seconds"], int) and 0 < drilled["fired_after_seconds"] < 900
    assert alerts["PaymentsHighErrorRatio"]["detect"]["outage"] > 0  # the model's estimate beside it
    assert document["scenario"] == "outage"


def test_text_markdown_sarif_and_html_show_modelled_beside_measured(shop) -> None:
    _, _, proven, settings, *_ = shop
    report = _report(proven, settings)
    shown = text.render_drill(report, ("outage",))
    assert "MODELLED" in shown and "MEASURED" in shown and "fired after 5m30s" in shown
    md = markdown.render_coverage(report)
    assert "| Modelled | Measured |" in md and "PaymentsHighErrorRatio" in md
    log = json.loads(sarif.render_coverage(report))
    weak = [r for r in log["runs"][0]["results"] if "drill" in r.get("properties", {})]
    assert weak and all(isinstance(next(iter(r["properties"]["drill"].values()))["outage"], dict) for r in weak)
    page = html.render_report(report, build_overview(proven, "2024-01-01T00:00:00+00:00", settings.budget))
    assert "Drill: modelled vs measured" in page and "fired after 5m30s" in page


def test_a_sparse_history_measures_what_a_dense_one_does(shop) -> None:
    """Far from where any window looks the drill samples once an hour; the engine must not
    notice: the same drills, sampled every 15 s throughout, measure the same."""
    import dataclasses
    import tempfile

    from coverage_audit.drill import engine
    from coverage_audit.drill.config import drill_config
    from coverage_audit.drill.plan import Planner
    from coverage_audit.drill.reads import RuleReads
    from coverage_audit.drill.run import _failure, _write
    from coverage_audit.scenarios import world

    judged, _, _, settings, _, inputs, modes = shop
    wanted = {("payments/api", "errors"), ("business/payment_success", "drop")}  # [6h] windows; offset 1w
    found = [t for t in verdicts(judged, modes) if (t.finding.subject.name, t.finding.mode.id) in wanted]
    planner = Planner(RuleReads(inputs.ruleset), lambda t, s: _failure(t, s, ()), settings.evaluation_interval,
                      settings.budget, drill_config(), False, 600.0)
    chosen = {"PaymentsHighErrorRatio", "PaymentsErrorBudgetBurn", "PaymentsAuthorizationsDropped"}  # not [3d]: dense, a minute
    drills = [d for t in found for d in planner.plan(t, [world().scenario("outage")])[0] if {r.name for r in d.alerts} <= chosen]
    assert len(drills) == 3 and all(d.timeline.density for d in drills)  # errors: 5m and 6h histories apart
    with tempfile.TemporaryDirectory() as folder:
        for index, sparse in enumerate(drills):
            dense = dataclasses.replace(sparse, timeline=dataclasses.replace(sparse.timeline, density=()))
            answers = [engine.run(PROMTOOL, _write(d, f"{folder}/{kind}{index}"), 600.0) for kind, d in (("s", sparse), ("d", dense))]
            assert answers[0].measured is not None and answers[0].measured == answers[1].measured, answers
            assert any(kind == "fired" for kind, _ in answers[0].measured)
