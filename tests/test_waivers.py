"""Waivers (DESIGN 5.4): active, expired, stale and malformed, in every output, and the gate.

The bundled example's change to checkout's order placement has two uncovered gaps
(checkout/api traffic_drop, business/orders_completed failure_ratio) and three weak ones; the
tests waive some of them and read what every format says.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from coverage_audit import clock
from coverage_audit.cli import main
from coverage_audit.loaders.waivers import load_waivers

ROOT = Path(__file__).resolve().parents[1]
STORY = "services/checkout/handlers/place_order.py"
GAPS = """\
waivers:
  - subject: checkout/*                 # a glob
    failure_mode: traffic_drop
    reason: the traffic alert comes with the SLO work (SHOP-42)
    owner: team-checkout
    expires: 2030-06-30
  - subject: business/orders_completed
    failure_mode: failure_ratio
    reason: failed orders are counted from next quarter
    owner: team-orders
    expires: 2030-06-30
"""


@pytest.fixture(autouse=True)
def in_repo(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.fixture
def today(monkeypatch):
    """Sets the date the waivers are judged on."""

    def set_today(day: date) -> None:
        monkeypatch.setattr(clock, "today", lambda: day)

    set_today(date(2030, 1, 15))
    return set_today


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path: Path, text: str, name: str = "waivers.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def by_key(document: dict) -> dict[tuple[str, str], dict]:
    return {(f["subject"], f["failure_mode"]): f for f in document["findings"]}


# --------------------------------------------------------------------------- the gate


def test_without_waivers_the_two_gaps_fail_the_gate(capsys, today) -> None:
    code, out, _ = run(capsys, "check", "--changed", STORY, "--format", "json")
    assert code == 1
    statuses = {k: f["status"] for k, f in by_key(json.loads(out)).items()}
    assert statuses[("checkout/api", "traffic_drop")] == "uncovered"
    assert statuses[("business/orders_completed", "failure_ratio")] == "uncovered"


def test_active_waivers_accept_the_gaps_and_the_gate_passes(capsys, tmp_path, today) -> None:
    waivers = write(tmp_path, GAPS)
    code, out, err = run(capsys, "check", "--changed", STORY, "--format", "json", "--waivers", waivers)
    assert code == 0, err
    document = json.loads(out)
    found = by_key(document)
    traffic = found[("checkout/api", "traffic_drop")]
    assert traffic["status"] == "waived"
    assert traffic["waiver"] == {
        "subject": "checkout/*", "failure_mode": "traffic_drop", "reason": "the traffic alert comes with the SLO work (SHOP-42)",
        "owner": "team-checkout", "expires": "2030-06-30", "expired": False, "judged": "uncovered", "file": waivers, "line": 2,
    }
    assert document["summary"]["waived"] == 2 and document["summary"]["uncovered"] == 0
    assert document["summary"]["total"] == sum(document["summary"][s] for s in ("covered", "weak", "uncovered", "waived"))
    states = [(w["subject"], w["state"], w["matches"]) for w in document["waivers"]]
    assert states == [
        ("checkout/*", "active", [{"subject": "checkout/api", "failure_mode": "traffic_drop"}]),
        ("business/orders_completed", "active", [{"subject": "business/orders_completed", "failure_mode": "failure_ratio"}]),
    ]
    # weak gaps are still there and still fail --fail-on weak: a waiver covers only what it names
    code, _, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers, "--fail-on", "weak")
    assert code == 1


def test_an_expired_waiver_counts_again_and_is_named(capsys, tmp_path, today) -> None:
    waivers = write(tmp_path, GAPS)
    today(date(2030, 6, 30))  # the last day it holds
    assert run(capsys, "check", "--changed", STORY, "--waivers", waivers)[0] == 0
    today(date(2030, 7, 1))
    code, out, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers)
    assert code == 1
    assert "waiver expired on 2030-06-30 (team-checkout: the traffic alert comes with the SLO work (SHOP-42)" in out
    assert f"{waivers}:2: expired on 2030-06-30: checkout/* traffic_drop" in out
    code, out, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers, "--format", "json")
    document = json.loads(out)
    traffic = by_key(document)[("checkout/api", "traffic_drop")]
    assert traffic["status"] == "uncovered" and traffic["waiver"]["expired"] is True
    assert {w["state"] for w in document["waivers"]} == {"expired"}


def test_stale_waivers_are_named(capsys, tmp_path, today) -> None:
    waivers = write(tmp_path, GAPS + """\
  - subject: checkout/api
    failure_mode: errors                # covered by CheckoutHigh5xxRate
    reason: flaky
    owner: team-checkout
    expires: 2030-12-31
  - subject: billing/*                  # no such service any more
    failure_mode: "*"
    reason: legacy
    owner: team-finance
    expires: 2030-12-31
  - subject: payments/api               # a real gap, but not one this change touches
    failure_mode: traffic_drop
    reason: later
    owner: team-payments
    expires: 2030-12-31
""")
    code, out, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers, "--format", "json")
    assert code == 0
    uses = {(w["subject"], w["failure_mode"]): w for w in json.loads(out)["waivers"]}
    assert uses[("checkout/api", "errors")]["state"] == "stale"
    assert "covered" in uses[("checkout/api", "errors")]["why"]
    assert uses[("billing/*", "*")]["state"] == "stale"
    assert "no failure mode" in uses[("billing/*", "*")]["why"]
    assert ("payments/api", "traffic_drop") not in uses  # untouched by this change: neither used nor stale
    code, out, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers)
    assert f"{waivers}:12: stale: checkout/api errors (team-checkout) every failure mode it names is covered" in out
    assert f"{waivers}:17: stale: billing/* * (team-finance) names no failure mode of the service map" in out


def test_a_malformed_waiver_is_an_input_error_with_its_line_and_the_run_completes(capsys, tmp_path, today) -> None:
    waivers = write(tmp_path, GAPS + """\
  - subject: cart/api
    failure_mode: errors
    owner: team-cart
    expires: 2030-12-31
  - subject: cart/api
    failure_mode: latency
    reason: soon
    owner: team-cart
    expires: 31/12/2030
  - subject: cart/api
    failure_mode: traffic_drop
    reason: soon
    owner: team-cart
    expires: 2030-02-30
""")
    code, out, err = run(capsys, "check", "--changed", STORY, "--waivers", waivers, "--format", "json")
    assert code == 2
    assert err.splitlines() == [
        f"coverage-audit: error: {waivers}:12: waiver without reason: every waiver needs a subject, a failure_mode, a reason, an owner and an expiry date",
        f"coverage-audit: error: {waivers}:20: expires: '31/12/2030' is not a date written YYYY-MM-DD",
        f"coverage-audit: error: {waivers}:25: expires: '2030-02-30' is not a date written YYYY-MM-DD",
    ]
    document = json.loads(out)  # the run completed, with the valid waivers applied
    assert document["summary"]["waived"] == 2
    assert len(document["errors"]) == 3


def test_waivers_file_problems(tmp_path) -> None:
    missing = load_waivers(str(tmp_path / "nope.yaml"))
    assert missing.waivers == [] and "cannot read" in missing.errors[0].message
    bare = load_waivers(write(tmp_path, "- {subject: a/b, failure_mode: errors, reason: r, owner: o, expires: '2030-01-01', expiry: x}\n"))
    assert len(bare.waivers) == 1 and bare.waivers[0].expires == date(2030, 1, 1)
    assert [str(e).split(": ", 1)[1] for e in bare.errors] == [
        "unknown key 'expiry' in a waiver (known: subject, failure_mode, reason, owner, expires)"
    ]
    assert load_waivers(write(tmp_path, "waivers: {subject: a}\n")).errors[0].line == 1
    assert load_waivers(write(tmp_path, "")).waivers == []
    hostile = load_waivers(write(tmp_path, "waivers: [" * 300 + "]" * 300))
    assert hostile.waivers == [] and "refused" in hostile.errors[0].message
    entry = "  - {subject: 'a/*', failure_mode: '*', reason: r, owner: o, expires: '2030-01-01'}\n"
    flood = load_waivers(write(tmp_path, "waivers:\n" + entry * 10_001))
    assert flood.waivers == [] and [(e.line, e.message) for e in flood.errors] == [(2, "more than 10000 waivers; refused")]


def test_waivers_from_the_config_file(capsys, tmp_path, today, monkeypatch) -> None:
    write(tmp_path, GAPS, "accepted.yaml")
    (tmp_path / "coverage-audit.yaml").write_text(
        f"rules: [{ROOT / 'rulesets'}]\nalertmanager: {ROOT / 'rulesets/alertmanager.yaml'}\n"
        f"service_maps: [{ROOT / 'service_maps'}]\nwaivers: accepted.yaml\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check", "--changed", STORY, "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["waived"] == 2


# --------------------------------------------------------------------------- every format


def test_every_check_format_shows_waived(capsys, tmp_path, today) -> None:
    waivers = write(tmp_path, GAPS)
    code, text, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers)
    assert code == 0
    row = next(line for line in text.splitlines() if line.startswith("checkout/api") and "traffic_drop" in line)
    assert row.split()[3] == "waived" and "waived until 2030-06-30 by team-checkout" in row
    assert "1 uncovered" not in text and "2 waived" in text

    _, document, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers, "--format", "json")
    s = json.loads(document)["summary"]
    _, markdown, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers, "--format", "markdown")
    assert markdown.startswith(f"### coverage-audit: ❌ 0 uncovered · ⚠️ {s['weak']} weak · ✅ {s['covered']} covered · 🔕 2 waived")
    assert "<details><summary>🔕 Waived gaps (2)</summary>" in markdown
    assert "| 🔕 waived | `checkout/api` | traffic\\_drop |" in markdown

    _, sarif, _ = run(capsys, "check", "--changed", STORY, "--waivers", waivers, "--format", "sarif")
    results = json.loads(sarif)["runs"][0]["results"]
    waived = [r for r in results if r.get("suppressions")]
    assert len(waived) == 2
    assert all(r["ruleId"] == "uncovered-failure-mode" and r["suppressions"][0]["status"] == "accepted" for r in waived)
    justifications = sorted(r["suppressions"][0]["justification"] for r in waived)
    assert "uncovered, waived until 2030-06-30 by team-checkout: the traffic alert comes" in justifications[0]
    assert "uncovered, waived until 2030-06-30 by team-orders: failed orders are counted from next quarter" in justifications[1]


def test_every_report_output_shows_waived(capsys, tmp_path, today) -> None:
    waivers = write(tmp_path, GAPS + """\
  - subject: billing/*
    failure_mode: "*"
    reason: legacy
    owner: team-finance
    expires: 2029-12-31
""")
    out = tmp_path / "report"
    code, _, err = run(capsys, "report", "--out", str(out), "--waivers", waivers)
    assert code == 0, err
    document = json.loads((out / "report.json").read_text())
    waived = [f for f in document["findings"] if f["status"] == "waived"]
    assert {(f["subject"], f["failure_mode"]) for f in waived} == {("checkout/api", "traffic_drop"), ("business/orders_completed", "failure_ratio")}
    assert document["summary"]["waived"] == 2 and document["overview"]["totals"]["waived"] == 2
    assert [w["state"] for w in document["waivers"]] == ["active", "active", "expired"]
    html = (out / "index.html").read_text()
    assert '<div class="n" data-status="waived">2</div>' in html and '<section id="waivers">' in html
    assert "waived until 2030-06-30 by team-checkout" in html
    assert '<rect class="seg waived"' in html  # the charts draw accepted gaps apart, not as covered
    markdown = (out / "report.md").read_text()
    assert "| 🔕 waived | 2 |" in markdown and "## Waivers" in markdown and "| **expired** |" in markdown
    families = {f.name: f for f in text_string_to_metric_families((out / "coverage.prom").read_text())}
    current = {(s.labels["subject"], s.labels["failure_mode"]): s.labels["status"] for s in families["coverage_audit_failure_mode_status"].samples if s.value == 1}
    assert current[("checkout/api", "traffic_drop")] == "waived"
    (total,) = [s.value for s in families["coverage_audit_failure_modes_by_status"].samples if s.labels["status"] == "waived"]
    assert total == 2
    # the history keeps what coverage is: a waived gap is stored as the judge's verdict
    code, _, _ = run(capsys, "report", "--out", str(out))
    assert code == 0
    again = json.loads((out / "report.json").read_text())
    assert again["changes_since_previous"]["newly_uncovered"] == []


def test_the_maps_mode_keys_are_listed_only_when_read() -> None:
    """``check`` hands the waivers every (subject, mode) of the map, which they read only to
    tell a stale waiver from an untouched one: listing them up front cost a second on a map of
    10,000 components, for every check."""
    import inspect

    from coverage_audit.analysis.impact import every_mode, every_mode_key
    from coverage_audit.catalog import default_catalog
    from coverage_audit.loaders.service_map import load_service_maps

    catalog = default_catalog()
    service_map = load_service_maps([str(ROOT / "service_maps")], catalog).service_map
    expected = [(m.subject.name, m.mode.id) for m in every_mode(service_map, catalog)]
    assert len(expected) > 20 and list(every_mode_key(service_map, catalog)) == expected
    keys = every_mode_key(service_map, catalog)
    assert inspect.getgeneratorstate(keys) == inspect.GEN_CREATED
    # Nothing was listed when the keys were handed over: a service gone since is not among them.
    gone = next(iter(service_map.services))
    del service_map.services[gone]
    listed = list(keys)
    assert listed and all(not subject.startswith(gone + "/") for subject, _ in listed)
    assert any(subject.startswith(gone + "/") for subject, _ in expected)
