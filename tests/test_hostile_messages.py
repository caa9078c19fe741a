"""Issue 14, messages: what promtool refuses is refused, with a message that names the file and
line and never an internal name; inputs that yield nothing are errors, not a clean pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coverage_audit import promql
from coverage_audit.catalog import load_catalog
from coverage_audit.durations import parse_duration
from coverage_audit.loaders.rules import load_rules
from coverage_audit.model import InputError

from hostile import CHANGE, MAP, RULES, cli, without_read_override, write_inputs

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- what promtool refuses


@pytest.mark.parametrize("text", ["293y", "99999999999999999999999s", "1000000000000000000000w", "106752d"])
def test_durations_past_int64_nanoseconds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_duration(text)


def test_the_longest_duration_promtool_takes_is_taken() -> None:
    assert parse_duration("292y") == 292 * 365 * 86400


def test_a_rule_with_an_out_of_range_for_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("for: 2m", "for: 300y"), encoding="utf-8")
    load = load_rules([str(path)])
    assert [(e.line, "not a valid duration" in e.message) for e in load.errors] == [(8, True)]


@pytest.mark.parametrize("pattern", ["a{1001}", "(a{1000}){1000}", "a**", "x{2,1}"])
def test_regex_repeats_promtool_refuses_are_refused(tmp_path: Path, pattern: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace('code=~"5.."', f'code=~"{pattern}"'), encoding="utf-8")
    load = load_rules([str(path)])
    assert len(load.errors) == 1 and load.errors[0].line == 5, load.errors
    assert "regular expression" in load.errors[0].message or "illegal regex" in load.errors[0].message
    assert load.rules[0].query is None  # kept for the inventory, never judged


# --------------------------------------------------------------------------- catalog signals


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("signal", "expected"),
    [
        ("{nope}", "only {metric} and {failure_metric}"),
        ("x{", "Single '{'"),
        ("{metric:>1000000000}", "only {metric} and {failure_metric}"),
        ("{metric!r}", "only {metric} and {failure_metric}"),
        ("rate({metric}[5m])", "not a single vector selector"),
    ],
)
def test_business_signal_templates_are_validated_at_load(tmp_path: Path, signal: str, expected: str) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"business:\n  failure_modes:\n    - id: drop\n      direction: drop\n      signals: ['{signal}']\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_catalog(str(catalog))
    assert raised.value.diagnostic.line == 5 and expected in raised.value.diagnostic.message


@pytest.mark.parametrize("signal", ["{nope}", "x{", 'm{a=~"x{1000000000}"}', 'm{a=~"a{1001}"}'])
def test_kind_signals_are_validated_at_load(tmp_path: Path, signal: str) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        f"kinds:\n  http_api:\n    failure_modes:\n      - id: errors\n        direction: rise\n        signals: ['{signal}']\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as raised:
        load_catalog(str(catalog))
    assert raised.value.diagnostic.line == 6 and "bad signal selector" in raised.value.diagnostic.message


def test_a_bad_catalog_is_one_error_line_and_the_run_goes_on(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    (tmp_path / "catalog.yaml").write_text(
        "business:\n  failure_modes:\n    - id: drop\n      direction: drop\n      signals: ['{metric:>1000000000}']\n", encoding="utf-8"
    )
    run = cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--catalog", "catalog.yaml", "--changed", CHANGE], tmp_path, timeout=60)
    err = run.one_line_error()
    assert "catalog.yaml:5:" in err
    assert "payments/api" in run.stdout  # judged with the bundled catalog


def test_an_extending_catalog_is_merged(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "kinds:\n  ledger:\n    failure_modes:\n      - id: imbalance\n        direction: rise\n        signals: ['ledger_imbalance_total']\n",
        encoding="utf-8",
    )
    merged = load_catalog(str(catalog))
    assert [m.id for m in merged.kinds["ledger"]] == ["imbalance"] and "http_api" in merged.kinds


# --------------------------------------------------------------------------- internal names


@pytest.mark.parametrize("selector", ['{"x"}', "{job=}", '{job="a",,}', '{job="x"'])
def test_selector_errors_never_name_the_parsing_placeholder(selector: str) -> None:
    try:
        parsed = promql.parse_selector(selector)
    except promql.PromQLError as exc:
        assert "placeholder" not in str(exc)
    else:
        assert parsed.metric == "x"  # {"x"} is the quoted metric name x


def test_service_selector_messages_never_name_the_placeholder(tmp_path: Path) -> None:
    write_inputs(tmp_path, MAP.replace("'{job=\"payments\"}'", "'{\"payments\"}'"))
    run = cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--changed", CHANGE], tmp_path)
    err = run.one_line_error()
    assert "placeholder" not in err and "map.yaml:7:" in err


# --------------------------------------------------------------------------- folders


def test_symlinked_subfolders_are_read_and_loops_are_said(tmp_path: Path) -> None:
    import os

    write_inputs(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "payments.yaml").write_text(RULES, encoding="utf-8")
    rules = tmp_path / "rules"
    (rules / "team").mkdir(parents=True)
    os.symlink("../../shared", rules / "team" / "linked")  # a folder elsewhere: followed
    os.symlink("..", rules / "team" / "up")  # back to its own parent: a loop
    os.symlink("missing.yaml", rules / "broken.yaml")
    os.symlink("self.yaml", rules / "self.yaml")
    run = cli(["check", "--rules", "rules", "--service-map", "map.yaml", "--changed", CHANGE], tmp_path, timeout=30)
    err = run.one_line_error()
    assert "rules/team/up:0: symbolic link loop: it leads back to rules; not followed" in err
    assert "rules/broken.yaml:0: broken symbolic link (to missing.yaml)" in err
    assert "rules/self.yaml:0: symbolic link loop; not followed" in err
    assert "PaymentsHighErrorRatio" in run.stdout  # read through the followed link


def test_a_folder_reached_twice_is_read_once(tmp_path: Path) -> None:
    import os

    (tmp_path / "rules" / "real").mkdir(parents=True)
    (tmp_path / "rules" / "real" / "a.yaml").write_text(RULES, encoding="utf-8")
    os.symlink("real", tmp_path / "rules" / "alias")
    load = load_rules([str(tmp_path / "rules")])
    assert load.errors == [] and len(load.rules) == 1


def test_an_unreadable_subfolder_is_reported(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    locked = tmp_path / "rules" / "locked"
    locked.mkdir(parents=True)
    (locked / "hidden.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "rules" / "open.yaml").write_text(RULES, encoding="utf-8")
    locked.chmod(0o000)
    try:
        run = cli(["check", "--rules", "rules", "--service-map", "map.yaml", "--changed", CHANGE], tmp_path, timeout=30, **without_read_override())
    finally:
        locked.chmod(0o755)
    err = run.one_line_error()
    assert "rules/locked:0: cannot read the folder: Permission denied; its files are left out" in err
    assert "PaymentsHighErrorRatio" in run.stdout  # open.yaml was judged


# --------------------------------------------------------------------------- inputs that yield nothing


@pytest.mark.parametrize("command", [["check", "--changed", CHANGE], ["report", "--out", "reports"], ["draft", "--all", "--dry-run"], ["graph"]])
@pytest.mark.parametrize(
    ("service_map", "said"),
    [
        ("empty", "empty:0: the service map yields no services (no YAML file found there)"),
        ("rules.yaml", "rules.yaml:0: the service map yields no services (1 file(s) read; rules.yaml: not a service map"),
        ("blank.yaml", "blank.yaml:0: the service map yields no services (1 file(s) read; blank.yaml: empty file)"),
    ],
)
def test_a_map_that_yields_no_services_is_an_input_error(tmp_path: Path, command: list[str], service_map: str, said: str) -> None:
    write_inputs(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "blank.yaml").write_text("# nothing yet\n", encoding="utf-8")
    run = cli([*command, "--rules", "rules.yaml", "--service-map", service_map], tmp_path, timeout=60)
    assert said in run.one_line_error()
    assert "No failure modes are impacted" not in run.stdout


def test_a_map_whose_every_service_is_broken_shows_each_error_then_yields_nothing(tmp_path: Path) -> None:
    write_inputs(tmp_path, MAP.replace("selector: '{job=\"payments\"}'", "selector: 'nope{'"))
    run = cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--changed", CHANGE], tmp_path)
    lines = run.one_line_error().splitlines()
    assert "map.yaml:7: service 'payments': bad selector 'nope{'" in lines[0]
    assert "map.yaml:0: the service map yields no services" in lines[-1]


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        ("empty", "empty:0: the rules yield no alerting or recording rule (no YAML file found there)"),
        ("map.yaml", "map.yaml:0: the rules yield no alerting or recording rule (1 file(s) read; map.yaml: Kubernetes ServiceMap, not a PrometheusRule)"),
    ],
)
def test_check_with_rules_that_yield_nothing_is_an_input_error(tmp_path: Path, rules: str, said: str) -> None:
    write_inputs(tmp_path)
    (tmp_path / "empty").mkdir()
    run = cli(["check", "--rules", rules, "--service-map", "map.yaml", "--changed", CHANGE], tmp_path)
    assert said in run.one_line_error()


def test_draft_from_no_rules_at_all_is_fine(tmp_path: Path) -> None:
    """Drafting for a team without alerts is the point of draft: no rules is not an error there."""
    write_inputs(tmp_path)
    (tmp_path / "empty").mkdir()
    run = cli(["draft", "--all", "--dry-run", "--rules", "empty", "--service-map", "map.yaml"], tmp_path, timeout=60)
    assert run.code in (0, 1), run.stderr
    assert "PaymentsApiErrors" in run.stdout


# --------------------------------------------------------------------------- secrets in the wrong file


def test_an_alertmanager_file_passed_as_codeowners_never_prints_its_keys(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    for first in ("global:\n  slack_api_url: https://hooks.slack.com/services/T0/B0/SECRET-1\n", "resolve_timeout: SECRET-1\n"):
        (tmp_path / "alertmanager.yaml").write_text(
            first + "route: {receiver: pager}\nreceivers:\n  - name: pager\n    pagerduty_configs: [{routing_key: SECRET-2}]\n",
            encoding="utf-8",
        )
        run = cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--codeowners", "alertmanager.yaml", "--changed", CHANGE], tmp_path)
        err = run.one_line_error()
        assert "alertmanager.yaml:1: not a CODEOWNERS file: it reads as YAML or JSON" in err
        assert b"SECRET" not in run.out + run.err


def test_an_invalid_owner_word_is_not_repeated_unless_it_is_meant_as_one(tmp_path: Path) -> None:
    from coverage_audit.loaders.codeowners import parse_codeowners

    with pytest.raises(InputError) as raised:
        parse_codeowners("src/ @team\ndeploy/ hunter2\n", "CODEOWNERS")
    assert "hunter2" not in str(raised.value) and raised.value.diagnostic.line == 2
    with pytest.raises(InputError) as raised:
        parse_codeowners("src/ @team b@@c\n", "CODEOWNERS")
    assert "'b@@c'" in str(raised.value)


# --------------------------------------------------------------------------- GraphML


def test_graphml_stays_valid_xml_with_control_characters_in_names(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ElementTree

    weird = json.dumps('pay\x01\x1b[31m\x7f\u202e\uffff&<"')  # a YAML double-quoted string
    write_inputs(tmp_path, MAP.replace("name: payments", f"name: {weird}").replace("owner: team-payments", f"owner: {weird}"))
    run = cli(["graph", "--rules", "rules.yaml", "--service-map", "map.yaml", "--format", "graphml"], tmp_path, timeout=60)
    assert run.code == 0, run.stderr
    root = ElementTree.fromstring(run.out)  # parses: no character XML 1.0 forbids
    texts = [element.text or "" for element in root.iter()] + [value for element in root.iter() for value in element.attrib.values()]
    assert any('pay\\x01\\x1b[31m\\x7f\\u202e\\uffff&<"' in text for text in texts), texts
