"""Issue 14, the property: no CLI invocation on generated hostile service maps, rules and paths
raises, and none exits 1 without a real gap (exit 1 means "gaps found" to CI).

Maps, rules and changes are generated from the shapes hostile inputs take: names with control,
bidi and glob characters, regexes with bounded repeats, globs with many wildcards, quoted label
names, durations at the edges, recording rules reading each other, paths with ``..`` and
undecodable bytes. Every run is in process, against files in a fresh folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from coverage_audit.cli import main

pytestmark = pytest.mark.timeout(900)


def mostly(good: st.SearchStrategy[str], bad: st.SearchStrategy[str], odds: int = 9) -> st.SearchStrategy[str]:
    """``good`` ``odds`` times out of ``odds + 1``: a file holds many values, and one bad one
    makes it an error; the property needs sound files as well as broken ones."""
    return st.integers(0, odds).flatmap(lambda n: bad if n == 0 else good)


# Mostly sound input with hostile spots: a map that is wrong everywhere only ever exits 2, and
# the property is about exits 0 and 1 as much as about crashes.
NASTY = st.sampled_from(["", " ", "\x00", "\n", "\r", "\x1b[2J", "\x9b", "\u202e", "*", "?", "[", "]", "{{", "}}", "'", '"', "\\", "#", ": ", "/", "..", "é", "\udce9"])
WORD = st.text(alphabet="abcxyz019_-.", min_size=1, max_size=12)
NAME = mostly(WORD, st.lists(st.one_of(WORD, NASTY), min_size=1, max_size=4).map("".join), odds=3)
REGEX = mostly(
    st.sampled_from(["[0-9a-f]{40}", "5..", "(a|b){3,7}", ".*", ".+", "a{1000}", "payments|x", "(?:GET|POST)", "\\d{2}", "[0-9a-f]{7,40}"]),
    st.sampled_from(["a{1001}", "[", "x|"]),
    odds=19,
)
LABEL = st.sampled_from(["job", "job", "code", "service", "revision", "service.name", "le", "instance"])
GOOD_DURATION = st.sampled_from(["1m", "5m", "0s", "1h30m", "2m", "10m", "292y", "1ms"])
DURATION = mostly(GOOD_DURATION, st.sampled_from(["293y", "-1m", "1x"]))
GLOB = st.one_of(
    st.sampled_from(["services/**", "s0/**", "*a*a*a*a*a*a*a*a*a*a*a*a*b", "**/x/**", "!services/x/**", "/Makefile", "[", "docs/*", "**"]),
    st.lists(st.sampled_from(["a", "*", "**", "?", "b", "x"]), min_size=1, max_size=8).map("/".join),
)


@st.composite
def matcher(draw: st.DrawFn) -> str:
    name = draw(LABEL)
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(REGEX) if "~" in op else draw(NAME)
    shown_name = name if name.replace("_", "").isalnum() else json.dumps(name)
    return f"{shown_name}{op}{json.dumps(value)}"


@st.composite
def service_map(draw: st.DrawFn) -> dict[str, object]:
    services = []
    names = draw(st.lists(NAME, min_size=1, max_size=4, unique=True)) if draw(st.integers(0, 9)) else []
    for name in names:
        components = [
            {"name": f"c{number}-{draw(NAME)}", "kind": draw(mostly(st.sampled_from(["http_api", "queue_consumer", "batch_job", "cache"]), st.just("nope"), odds=19)), "paths": draw(st.lists(GLOB, max_size=3))}
            for number in range(draw(st.integers(0, 2)))
        ]
        services.append({
            "name": name,
            "owner": draw(NAME),
            "selector": "{" + ",".join(draw(st.lists(matcher(), min_size=1, max_size=2))) + "}",
            "depends_on": draw(st.lists(st.sampled_from(names * 4 + ["ghost"]), max_size=2)) if names else [],
            "components": components,
        })
    document: dict[str, object] = {"apiVersion": "coverage-audit/v1", "kind": "ServiceMap", "services": services}
    if draw(st.booleans()):
        document["business_metrics"] = [{"name": draw(NAME), "owner": draw(NAME), "metric": "shop_orders_total", "depends_on": names[:1]}]
    return document


@st.composite
def rule_file(draw: st.DrawFn) -> dict[str, object]:
    rules: list[dict[str, object]] = []
    records = [f"level:rec{n}:rate5m" for n in range(draw(st.integers(0, 4)))]
    for number, record in enumerate(records):
        source = records[number - 1] if number else "http_requests_total"
        reads = draw(st.integers(1, 3))
        rules.append({"record": record, "expr": " + ".join([f"sum by (job) (rate({source}{{{draw(matcher())}}}[5m]))"] * reads)})
    for _ in range(draw(st.integers(1, 4))):
        read = draw(st.sampled_from(records + ["http_requests_total", "up", "http_request_duration_seconds_bucket"]))
        expr = draw(st.sampled_from([
            f"sum by (job) (rate({read}{{{draw(matcher())}}}[5m])) > 0.05",
            f"absent({read}{{{draw(matcher())}}})",
            f"{read} offset 1w < 0.5 * {read}",
            f"histogram_quantile(0.99, sum by (le) (rate({read}[5m]))) > 1",
            "up == 0",
            "1",
            f"sum by (job) (rate({read}{{{draw(matcher())}}}[5m])) / sum by (job) (rate({read}[5m])) > 0.01",
        ])) if draw(st.integers(0, 29)) else "sum("
        rule: dict[str, object] = {"alert": draw(NAME), "expr": expr, "for": draw(GOOD_DURATION), "labels": {"team": draw(NAME)}}
        rules.append(rule)
    return {"groups": [{"name": "generated", "interval": draw(DURATION), "rules": rules}]}


def write(folder: Path, name: str, document: object, raw: bool = False) -> None:
    """JSON is YAML. Escaped (the default), every character reaches the loaders as a value;
    ``raw`` writes control characters as they are, which YAML refuses for the whole file. A
    lone surrogate cannot be UTF-8 either way: YAML refuses its escape, as it would the byte."""
    text = json.dumps(document, ensure_ascii=not raw).encode("utf-8", "backslashreplace")
    (folder / name).write_bytes(text)


def run(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)``: its exit code, stdout and stderr. argparse's own usage errors (a path
    that starts with ``-`` reads as an option) exit 2 through SystemExit, as on a terminal."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
            assert code == 2 and "usage:" in err.getvalue()
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    the_map=service_map(),
    rules=rule_file(),
    paths=st.lists(
        mostly(st.sampled_from(["services/x.py", "s0/x.py", "services/a/x/b.py", "docs/readme.md", "a" * 59 + "b", "Makefile"]),
               st.one_of(NAME, st.sampled_from(["../up.py", "/abs.py", "-dash.py"])), odds=4),
        min_size=1, max_size=3,
    ),
    extra=st.sampled_from([[], ["--budget", "1m"], ["--fail-on", "weak"], ["--scenario", "canary"]]),
    raw=st.integers(0, 9).map(lambda n: n == 0),
)
def test_check_never_crashes_and_exits_1_only_for_a_gap(
    the_map: dict[str, object], rules: dict[str, object], paths: list[str], extra: list[str], raw: bool
) -> None:
    with tempfile.TemporaryDirectory(prefix="coverage-audit-property-") as name:
        folder = Path(name)
        write(folder, "map.yaml", the_map, raw)
        write(folder, "rules.yaml", rules)
        paths = [p.replace("\x00", "") or "x" for p in paths]  # argv cannot hold NUL
        code, out, err = run(["check", "--rules", str(folder / "rules.yaml"), "--service-map", str(folder / "map.yaml"),
                              "--changed", *paths, "--format", "json", *extra])
        assert "failed unexpectedly" not in err, err
        assert code in (0, 1, 2), (code, err)
        event(f"check exit {code}")
        if code == 2:
            assert err.strip(), "exit 2 always says why"
            return
        document = json.loads(out)
        fail_on_weak = "--fail-on" in extra
        gaps = document["summary"]["uncovered"] + (document["summary"]["weak"] if fail_on_weak else 0)
        assert (code == 1) == (gaps > 0), (code, document["summary"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(the_map=service_map(), rules=rule_file(), command=st.sampled_from([["rules"], ["graph", "--format", "graphml"], ["graph", "--format", "dot"], ["report", "--format", "json"], ["draft", "--all", "--dry-run"]]))
def test_other_commands_never_crash(the_map: dict[str, object], rules: dict[str, object], command: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="coverage-audit-property-") as name:
        folder = Path(name)
        write(folder, "map.yaml", the_map)
        write(folder, "rules.yaml", rules)
        argv = [*command, "--rules", str(folder / "rules.yaml"), "--service-map", str(folder / "map.yaml")]
        if command[0] == "report":
            argv += ["--out", str(folder / "reports")]
        if command[0] == "draft":
            argv += ["--out", str(folder / "drafts")]
        code, out, err = run(argv)
        assert "failed unexpectedly" not in err, err
        assert code in (0, 1, 2)
        event(f"{command[0]} exit {code}")
        if code == 1:  # only report --fail-on and draft exit 1, for a gap
            assert command[0] in ("draft", "report"), (command, err)
        if command[0] == "report" and code != 2:
            assert sorted(os.listdir(folder / "reports")) == ["coverage.prom", "history.sqlite", "index.html", "report.json", "report.md"]
