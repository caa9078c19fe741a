"""Flags that take several paths (``--rules``, ``--service-map``, ``--changed``, ``--component``):
repeated, or several values after one flag, the same list; thousands of them parsed in one pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coverage_audit.cli import _grouped, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_a_flag_per_path_is_parsed_as_one_flag_with_every_path() -> None:
    argv = ["check", "--rules", "a.yml", "--rules", "b.yml", "--jobs", "1", "--rules", "c.yml",
            "--changed", "x.py", "--changed", "y.py", "--", "--rules"]  # fmt: skip
    assert _grouped(argv) == ["check", "--rules", "a.yml", "b.yml", "--jobs", "1", "--rules", "c.yml", "--changed", "x.py", "y.py", "--", "--rules"]
    # argparse reads every flag left each time it meets one: a flag per file was O(n^2)
    many = [item for number in range(10_000) for item in ("--rules", f"rules/{number}.yml")]
    assert _grouped(["rules", *many]).count("--rules") == 1


def test_repeated_and_grouped_flags_give_the_same_lists() -> None:
    parser = build_parser()
    repeated = parser.parse_args(["check", "--rules", "a", "--rules", "b", "--service-map", "m1", "--service-map", "m2", "--component", "s/c", "--component", "s/d"])
    together = parser.parse_args(["check", "--rules", "a", "b", "--service-map", "m1", "m2", "--component", "s/c", "s/d"])
    grouped = parser.parse_args(_grouped(["check", "--rules", "a", "--rules", "b", "--service-map", "m1", "--service-map", "m2", "--component", "s/c", "--component", "s/d"]))
    for args in (repeated, together, grouped):
        assert (args.rules, args.service_maps, args.component) == (["a", "b"], ["m1", "m2"], ["s/c", "s/d"])
    assert parser.parse_args(["rules", "--rules=a", "--rules", "b"]).rules == ["a", "b"]


def test_a_value_that_looks_like_a_flag_is_still_refused(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["rules", "--rules", "--format", "json"])
    assert stopped.value.code == 2
    assert "--rules" in capsys.readouterr().err


def test_many_rule_files_after_one_flag_are_all_read(tmp_path: Path, capsys) -> None:
    files = []
    for number in range(3):
        path = tmp_path / f"r{number}.yml"
        path.write_text(f"groups:\n  - name: g{number}\n    rules:\n      - alert: A{number}\n        expr: up == 0\n")
        files.append(str(path))
    assert main(["rules", "--rules", *files, "--format", "json", "--no-cache"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [rule["name"] for rule in document["rules"]] == ["A0", "A1", "A2"]
