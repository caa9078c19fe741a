"""Issue 14, drafts: whatever the service map holds, drafted files are valid (file names,
YAML, PromQL, Go templates), nothing from the map becomes a key, a comment line or a live
template, unit tests load exactly their own rule file, and a draft promtool rejects is never
reported covered. Checked with the real promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from coverage_audit import promql
from coverage_audit.drafts import file_stem, template_literal

from hostile import cli

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.timeout(600)
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package 'prometheus')")

RULES = "groups: []\n"
OWNER = '{{ query "up" }} & {{ template "x" }}}'  # would run a query, or fail to parse, as a template


def service(name: str, number: int, selector: str | None = None, owner: str = OWNER) -> dict[str, object]:
    return {
        "name": name,
        "owner": owner,
        "selector": selector or f'{{job="svc-{number}"}}',
        "components": [{"name": "api", "kind": "http_api", "paths": [f"s{number}/**"]}],
    }


def draft_all(tmp_path: Path, services: list[dict[str, object]], *extra: str) -> tuple[int, str, Path]:
    (tmp_path / "map.yaml").write_text(json.dumps({"apiVersion": "coverage-audit/v1", "kind": "ServiceMap", "services": services}), encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    run = cli(["draft", "--all", "--rules", "rules.yaml", "--service-map", "map.yaml", "--out", "drafts", *extra], tmp_path, timeout=300)
    assert b"Traceback" not in run.err, run.stderr
    return run.code, run.stdout + run.stderr, tmp_path / "drafts"


def promtool(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


HOSTILE_NAMES = [
    "s" * 250,  # 250 bytes: with a suffix, past the 255-byte file-name limit
    "é" * 130,  # 260 bytes of UTF-8 in 130 characters
    "nul\x00byte",
    "line\nbreak: evil",  # a newline that would start a YAML key in a comment
    "esc\x1b[31m\x9b\u202e",
    "*",  # a glob in promtool's rule_files
    "[ab]",
    "..",
    "-starts-with-dash",
]


@pytest.mark.tools
@needs_promtool
def test_hostile_service_names_give_valid_drafts_that_promtool_passes(tmp_path: Path) -> None:
    services = [service(name, number) for number, name in enumerate(HOSTILE_NAMES)]
    code, said, out = draft_all(tmp_path, services)
    assert code == 0, said  # every draft came out covered
    files = sorted(out.iterdir())
    assert len(files) == 3 * len(HOSTILE_NAMES)
    for path in files:
        assert len(path.name.encode()) <= 255 and not path.name.startswith((".", "-"))
        assert not set(path.name) & set("*?[]{}\\ \n\x00"), path.name
        document = yaml.safe_load(path.read_text(encoding="utf-8"))  # valid YAML
        if path.name.endswith("rules_test.yaml"):
            assert set(document) == {"rule_files", "evaluation_interval", "tests"}  # nothing injected
            assert document["rule_files"] == [path.name.replace(".slow_rules_test.yaml", ".rules.yaml").replace(".rules_test.yaml", ".rules.yaml")]
        else:
            assert set(document) == {"groups"}
            for rule in document["groups"][0]["rules"]:
                promql.parse(rule["expr"])
    rule_files = [p.name for p in files if p.name.endswith(".rules.yaml")]
    checked = promtool("check", "rules", *rule_files, cwd=out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    fast_tests = [p.name for p in files if p.name.endswith(".rules_test.yaml") and ".slow_" not in p.name]
    tested = promtool("test", "rules", *fast_tests, cwd=out)
    assert tested.returncode == 0, tested.stdout + tested.stderr  # exp_labels: team is the owner, literally


@pytest.mark.tools
@needs_promtool
def test_owner_text_stays_text_when_the_alert_fires(tmp_path: Path) -> None:
    code, said, out = draft_all(tmp_path, [service("payments", 1)])
    assert code == 0, said
    rules = yaml.safe_load((out / "payments.rules.yaml").read_text(encoding="utf-8"))
    alerts = [r for r in rules["groups"][0]["rules"] if "alert" in r]
    for alert in alerts:
        assert alert["labels"]["team"] == template_literal(OWNER)
        assert "{{ query" not in alert["annotations"]["runbook_url"]  # URL-quoted, no template left
        assert alert["annotations"]["description"].count('{{ "{{" }}') == 2
    tests = yaml.safe_load((out / "payments.rules_test.yaml").read_text(encoding="utf-8"))
    expected = tests["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"]
    assert expected["team"] == OWNER  # what Prometheus makes of the label: the text itself
    tested = promtool("test", "rules", "payments.rules_test.yaml", cwd=out)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.tools
@needs_promtool
def test_unit_tests_load_exactly_their_own_rule_file(tmp_path: Path) -> None:
    code, said, out = draft_all(tmp_path, [service("*", 1)])
    assert code == 0, said
    (out / "zz-decoy.rules.yaml").write_text("groups: [\n", encoding="utf-8")  # a glob would load it and fail
    test_file = next(p.name for p in out.iterdir() if p.name.endswith(".rules_test.yaml") and ".slow_" not in p.name)
    tested = promtool("test", "rules", test_file, cwd=out)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.tools
@needs_promtool
def test_a_quoted_label_name_gives_valid_promql_and_promtool_rejection_is_never_covered(tmp_path: Path) -> None:
    code, said, out = draft_all(tmp_path, [service("otel", 1, selector='{"service.name"="checkout"}', owner="team-otel")])
    rules = yaml.safe_load((out / "otel.rules.yaml").read_text(encoding="utf-8"))
    exprs = [r["expr"] for r in rules["groups"][0]["rules"]]
    assert any('"service.name"="checkout"' in e for e in exprs) and any('by ("service.name")' in e for e in exprs)
    for expr in exprs:
        promql.parse(expr)  # valid PromQL (Prometheus 3 quotes such names)
    # promtool 2.42 predates UTF-8 names: it rejects the file, so no draft of it is covered
    assert code == 1, said
    assert "otel.rules.yaml is rejected: promtool:" in said
    assert " covered " not in said.split("ROUTING", 1)[1].split("Wrote", 1)[0]


def test_file_stems() -> None:
    assert file_stem("payments") == "payments"
    assert file_stem("a b") != file_stem("a_b") and file_stem("a b").startswith("a_b-")
    assert len(file_stem("x" * 1000)) <= 109
    assert file_stem("..") .startswith("unnamed-") and file_stem("*").startswith("unnamed-")


def test_template_literal_round_trip_is_valid_go_template_text() -> None:
    assert template_literal("plain") == "plain"
    assert template_literal("{{ x }}") == '{{ "{{" }} x {{ "}}" }}'
    assert template_literal("}}}{{{") == '{{ "}}" }}}{{ "{{" }}{'
