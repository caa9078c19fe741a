"""Hand-written traps the drill catches by measuring, and what it cannot drill (said, never a
crash); the ``drill`` command's files, exit codes and errors. All through the real promtool."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from coverage_audit.cli import main

PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package 'prometheus')"),
]

# One service per trap, so that each verdict rests on exactly the trap's alert.
SERVICE_MAP = """\
apiVersion: coverage-audit/v1
kind: ServiceMap
services:
{services}
"""
SERVICE = """\
  - name: {name}
    owner: team-{name}
    selector: '{{job="{name}"}}'
    components:
      - name: api
        kind: http_api
        paths: ["{name}/**"]
"""

TRAPS = """\
groups:
  - name: traps
    rules:
      # A threshold no value reaches: without the +Inf bucket Prometheus computes no quantile (NaN).
      - alert: UnitSlowRequests
        expr: histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{job="unit", le!="+Inf"}[5m]))) > 1
        for: 2m
      # A `for` longer than the budget.
      - alert: PatientErrors
        expr: |
          sum by (job) (rate(http_requests_total{job="patient", code=~"5.."}[5m]))
          / sum by (job) (rate(http_requests_total{job="patient"}[5m])) > 0.05
        for: 20m
      # Fires on healthy traffic: meant "a server error in the last minute", but the error
      # counter is scraped every 15 s whether or not it moves.
      - alert: ChattyAnyError
        expr: time() - max by (job) (timestamp(http_requests_total{job="chatty", code=~"5.."})) < 60
        for: 1m
      - alert: TypoErrorRatio
        expr: job:typo_errors:ratio_rate5m{job="typo"} > 0.05
        for: 1m
  - name: typo-recording
    rules:
      # The label typo (`jbo`) drops `job`: the alert's selector finds nothing to join.
      - record: job:typo_errors:ratio_rate5m
        expr: |
          sum by (jbo) (rate(http_requests_total{job="typo", code=~"5.."}[5m]))
          / sum by (jbo) (rate(http_requests_total{job="typo"}[5m]))
"""

UNDRILLABLE = """\
groups:
  - name: undrillable
    rules:
      # Native histograms: the drill writes classic series.
      - alert: NativeErrors
        expr: histogram_count(rate(http_requests_total{job="native", code=~"5.."}[5m])) > 1
      # A function this promtool does not know: it rejects the generated rule file.
      - alert: NewfangledErrors
        expr: |
          sort_by_label(sum by (job) (rate(http_requests_total{job="newfangled", code=~"5.."}[5m]))
          / sum by (job) (rate(http_requests_total{job="newfangled"}[5m])) > 0.01, "job")
      # Pins both labels that tell instances apart: no canary can be placed beside it.
      - alert: PinnedErrors
        expr: sum by (job) (rate(http_requests_total{job="pinned", instance="10.1.1.1:80", pod="web-0", code=~"5.."}[5m])) > 0.1
      - alert: HealthyErrors
        expr: |
          sum by (job) (rate(http_requests_total{job="healthy", code=~"5.."}[5m]))
          / sum by (job) (rate(http_requests_total{job="healthy"}[5m])) > 0.01
"""


def workspace(root: Path, rules: str, names: list[str]) -> Path:
    (root / "rules.yaml").write_text(textwrap.dedent(rules))
    (root / "map.yaml").write_text(SERVICE_MAP.format(services="".join(SERVICE.format(name=n) for n in names)))
    (root / "coverage-audit.yaml").write_text("rules: [rules.yaml]\nservice_maps: [map.yaml]\nbudget: 15m\n")
    return root / "coverage-audit.yaml"


def findings(capsys, config: Path, *extra: str, command: str = "drill") -> tuple[int, dict, str]:
    code = main([command, "--config", str(config), "--format", "json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def finding(document: dict, subject: str, mode: str = "errors") -> dict:
    return next(f for f in document["findings"] if f["subject"] == subject and f["failure_mode"] == mode)


@pytest.fixture(scope="module")
def traps(tmp_path_factory) -> Path:
    return workspace(tmp_path_factory.mktemp("traps"), TRAPS, ["unit", "patient", "chatty", "typo"])


@pytest.fixture(scope="module")
def judged_and_drilled(traps: Path, tmp_path_factory):
    """What check says of each trap (the model alone), and what drill --all measured."""
    keep = tmp_path_factory.mktemp("kept")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["drill", "--config", str(traps), "--format", "json", "--all", "--keep", str(keep)])
    drilled = (code, json.loads(out.getvalue()))
    static = {}
    for name in ("unit", "patient", "chatty", "typo"):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            main(["check", "--config", str(traps), "--format", "json", "--component", f"{name}/api", "--fail-on", "never"])
        static[name] = json.loads(out.getvalue())
    return static, drilled, keep


def test_a_threshold_no_value_reaches_is_silent_in_the_drill(judged_and_drilled) -> None:
    static, (_, drilled), _ = judged_and_drilled
    assert finding(static["unit"], "unit/api", "latency")["status"] == "covered"  # the model is fooled
    after = finding(drilled, "unit/api", "latency")
    alert = after["alerts"][0]
    assert alert["name"] == "UnitSlowRequests" and "drill_silent" in alert["problems"]
    assert alert["drill"]["outage"]["fired_after_seconds"] is None and after["status"] == "weak"


def test_a_for_longer_than_the_budget_fires_only_after_it(judged_and_drilled) -> None:
    _, (_, drilled), _ = judged_and_drilled
    alert = finding(drilled, "patient/api")["alerts"][0]
    assert alert["name"] == "PatientErrors" and "drill_slow" in alert["problems"]
    fired = alert["drill"]["outage"]["fired_after_seconds"]
    assert 20 * 60 <= fired <= 22 * 60  # the `for`, plus the crossing and one evaluation


def test_a_recording_rule_label_typo_that_empties_the_join_is_silent(judged_and_drilled) -> None:
    static, (_, drilled), _ = judged_and_drilled
    assert finding(static["typo"], "typo/api")["status"] == "covered"  # the model is fooled
    alert = finding(drilled, "typo/api")["alerts"][0]
    assert alert["name"] == "TypoErrorRatio" and "drill_silent" in alert["problems"]
    assert alert["drill"]["outage"] == {"fired_after_seconds": None, "noisy": False, "drilled": True,
                                        "why": alert["drill"]["outage"]["why"]}


def test_an_alert_firing_on_healthy_traffic_is_noisy(judged_and_drilled) -> None:
    static, (_, drilled), _ = judged_and_drilled
    before = finding(static["chatty"], "chatty/api")["alerts"][0]
    assert before["problems"] == ["direction_unclear"]  # the model cannot tell; it does not see noise
    alert = finding(drilled, "chatty/api")["alerts"][0]
    assert alert["name"] == "ChattyAnyError" and "drill_noisy" in alert["problems"]
    assert alert["drill"]["outage"]["noisy"] is True


def test_the_kept_files_pass_when_rerun_with_promtool_and_fail_when_the_measurement_changes(judged_and_drilled) -> None:
    _, (code, _), keep = judged_and_drilled
    assert code == 1  # the traps are gaps now
    tests = sorted(p.name for p in keep.glob("*.test.yaml"))
    assert len(tests) >= 4 and len(list(keep.glob("*.rules.yaml"))) == len(tests)
    rerun = subprocess.run([PROMTOOL, "test", "rules", *tests], cwd=keep, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("SUCCESS") == len(tests)
    patient = keep / "patient-api-errors.test.yaml"
    text = patient.read_text()
    assert "value: 1200.0" in text or "value: 1260.0" in text or "value: 1230.0" in text
    tampered = keep / "tampered.test.yaml"
    tampered.write_text(text.replace("value: 12", "value: 99", 1))
    failed = subprocess.run([PROMTOOL, "test", "rules", tampered.name], cwd=keep, capture_output=True, text=True, timeout=600)
    assert failed.returncode != 0


def test_keep_never_overwrites(traps: Path, judged_and_drilled, capsys) -> None:
    _, _, keep = judged_and_drilled
    before = {p.name: p.read_text() for p in keep.iterdir()}
    code = main(["drill", "--config", str(traps), "--component", "typo/api", "--keep", str(keep)])
    err = capsys.readouterr().err
    assert code == 2 and "exists; --keep never overwrites" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_text() for p in keep.iterdir()} == before


@pytest.fixture(scope="module")
def undrillable(tmp_path_factory) -> Path:
    return workspace(tmp_path_factory.mktemp("undrillable"), UNDRILLABLE, ["native", "newfangled", "pinned", "healthy"])


def test_what_cannot_be_drilled_says_why_and_is_never_proven(undrillable: Path, capsys) -> None:
    code, document, err = findings(capsys, undrillable, "--all", "--scenario", "canary", "--fail-on", "never")
    assert code == 0 and not err
    native = finding(document, "native/api")["alerts"][0]["drill"]["canary"]
    assert native["drilled"] is False and "native histograms" in native["why"]
    newfangled = finding(document, "newfangled/api")["alerts"][0]["drill"]["canary"]
    assert newfangled["drilled"] is False and "promtool" in newfangled["why"] and "sort_by_label" in newfangled["why"]
    pinned = finding(document, "pinned/api")["alerts"][0]["drill"]["canary"]
    assert pinned["drilled"] is False and "instances apart" in pinned["why"]
    for name in ("native", "newfangled", "pinned"):
        alert = finding(document, f"{name}/api")["alerts"][0]
        assert not any(p.startswith("drill_") for p in alert["problems"])  # unproven, not disproven
    healthy = finding(document, "healthy/api")["alerts"][0]["drill"]["canary"]
    assert healthy["drilled"] is True  # one alert that cannot be drilled does not spoil the others


def test_a_drill_past_its_time_limit_is_not_drilled(undrillable: Path, capsys) -> None:
    code, document, _ = findings(capsys, undrillable, "--component", "healthy/api", "--drill-timeout", "1ms", "--fail-on", "never")
    result = finding(document, "healthy/api")["alerts"][0]["drill"]["outage"]
    assert result["drilled"] is False and "time limit" in result["why"]
    assert finding(document, "healthy/api")["status"] == "covered"  # the model's verdict stands, unproven
    assert code == 0


def test_a_run_past_its_time_limit_is_stopped(traps: Path, tmp_path: Path) -> None:
    from coverage_audit.drill import engine

    test = tmp_path / "slow.test.yaml"
    (tmp_path / "slow.rules.yaml").write_text("groups: [{name: g, rules: [{record: y, expr: 'sum_over_time(x[1h])'}]}]\n")
    test.write_text("rule_files: [slow.rules.yaml]\nevaluation_interval: 1s\ntests:\n  - interval: 1s\n"
                    "    input_series: [{series: 'x', values: '0+1x100000'}]\n"
                    "    promql_expr_test: [{expr: 'x', eval_time: 100000s, exp_samples: []}]\n")
    outcome = engine.run(PROMTOOL, str(test), 0.2)
    assert outcome.measured is None and "time limit of 0.2s" in outcome.error and outcome.seconds < 5


def test_without_promtool_drill_and_prove_are_one_error_line_and_exit_2(traps: Path, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without promtool
    for argv in (["drill", "--all"], ["check", "--component", "typo/api", "--prove"], ["report", "--prove", "--out", str(tmp_path / "r")]):
        code = main([*argv, "--config", str(traps)])
        captured = capsys.readouterr()
        assert code == 2 and captured.out == ""
        assert len(captured.err.strip().splitlines()) == 1 and "promtool" in captured.err
    assert not (tmp_path / "r").exists()


def test_check_prove_overrules_the_verdict_of_check(traps: Path, capsys) -> None:
    _, plain, _ = findings(capsys, traps, "--component", "typo/api", command="check")
    assert finding(plain, "typo/api")["status"] == "covered" and plain["summary"]["covered"] == 1
    assert "drill" not in finding(plain, "typo/api")["alerts"][0]
    _, proven, _ = findings(capsys, traps, "--component", "typo/api", "--prove", command="check")
    assert finding(proven, "typo/api")["status"] == "weak" and proven["summary"]["covered"] == 0
