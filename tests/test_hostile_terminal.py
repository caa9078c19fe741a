"""Issue 14, terminal safety: control and escape sequences from file names, service names and
rule names never reach the terminal raw, in any format, on stdout or stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coverage_audit.printable import json_text, printable

from hostile import MAP, RULES, cli, write_inputs

pytestmark = pytest.mark.timeout(120)

# ESC (a CSI that clears the screen), an OSC that retitles the terminal, the 8-bit CSI, a bidi
# override, a carriage return that rewrites the line, a NUL
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b31m\u202egnp.\r\x00"
RAW = [b"\x1b", b"\x07", b"\xc2\x9b", "\u202e".encode(), b"\r", b"\x00"]


def hostile_inputs(tmp_path: Path) -> None:
    name = "svc" + HOSTILE.replace("\x00", "")  # YAML refuses NUL only when written raw
    yaml_name = json.dumps(name)
    write_inputs(tmp_path, MAP.replace("name: payments", f"name: {yaml_name}").replace("owner: team-payments", f"owner: {yaml_name}"),
                 RULES.replace("alert: PaymentsHighErrorRatio", f"alert: {json.dumps('Alert' + HOSTILE)}"))
    (tmp_path / "rules" / f"file{HOSTILE.replace(chr(0), '')}.yaml").parent.mkdir(exist_ok=True)
    (tmp_path / "rules" / f"file{HOSTILE.replace(chr(0), '')}.yaml").write_text("groups: [", encoding="utf-8")  # an error naming it


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def assert_clean(data: bytes) -> None:
    for raw in RAW:
        assert raw not in data, (raw, data[:3000])
    data.decode("utf-8")


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--changed", "services/payments/x.py"],
        ["check", "--changed", f"services/payments/{HOSTILE.replace(chr(0), '')}.py", "--format", "markdown"],
        ["check", "--changed", "services/payments/x.py", "--format", "json"],
        ["check", "--changed", "services/payments/x.py", "--format", "sarif"],
        ["rules"],
        ["rules", "--format", "markdown"],
        ["graph", "--format", "dot"],
        ["graph", "--format", "mermaid"],
        ["graph", "--format", "json"],
        ["draft", "--all", "--dry-run"],
        ["report", "--out", "reports"],
    ],
)
def test_nothing_raw_reaches_the_terminal(tmp_path: Path, argv: list[str]) -> None:
    hostile_inputs(tmp_path)
    run = cli([*argv, "--rules", "rules.yaml", "--rules", "rules", "--service-map", "map.yaml"], tmp_path, timeout=90)
    assert run.code in (1, 2) and b"Traceback" not in run.err, run.stderr
    assert_clean(run.out)
    assert_clean(run.err)
    assert all(line.startswith(b"coverage-audit: ") for line in run.err.splitlines())
    if "--format" in argv and argv[argv.index("--format") + 1] in ("json", "sarif"):
        assert any("Alert" + HOSTILE in text for text in strings(json.loads(run.out)))  # the same text, decoded
    if argv[0] == "report":
        for name in ("report.md", "index.html", "report.json"):
            assert_clean((tmp_path / "reports" / name).read_bytes())


def test_a_changed_path_cannot_forge_a_message_line(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    forged = "services/x.py\ncoverage-audit: all clear"
    run = cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--component", forged], tmp_path)
    assert b"\ncoverage-audit: all clear" not in run.out + run.err


def test_printable_escapes_and_keeps() -> None:
    assert printable("plain ascii") == "plain ascii"
    assert printable("Zürich – 東京 ✓") == "Zürich – 東京 ✓"
    assert printable("a\x1b[2Jb\x9bc\u202ed\r") == "a\\x1b[2Jb\\x9bc\\u202ed\\x0d"
    assert printable("two\nlines\tand tab") == "two\nlines\tand tab"
    assert printable("two\nlines", keep_lines=False) == "two\\x0alines"
    assert printable("caf\udce9") == "caf\\xe9"  # an undecodable byte as the byte it was
    assert json.loads(json_text(json.dumps("x\x9b\u202e\udce9", ensure_ascii=False))) == "x\x9b\u202e\udce9"


def test_json_text_escapes_delete_in_ascii_text_and_keeps_plain_text_as_it_is() -> None:
    # ASCII text skips the scan for unsafe characters, except for DEL, the one ASCII among them.
    plain = json.dumps({"expr": 'rate(x{job="a"}[5m]) > 0.1', "labels": {"team": "sre"}}, ensure_ascii=False)
    assert json_text(plain) is plain
    raw = json.dumps("a\x7fb", ensure_ascii=False)
    assert "\x7f" in raw and json_text(raw) == '"a\\u007fb"'
    assert json.loads(json_text(raw)) == "a\x7fb"
