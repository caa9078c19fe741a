"""Issue 14, crashes: an output that cannot be written, a closed standard stream, bytes that
are not UTF-8, an unexpected error. Each is one line on stderr and exit 2, never a traceback and
never exit 1 (which CI reads as "gaps found"), and nothing half-written is left behind."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from coverage_audit import cli

from hostile import CHANGE, RULES, ROOT, cli as run_cli, without_read_override, write_inputs

pytestmark = pytest.mark.timeout(120)

CHECK = ["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--changed", CHANGE]


def file_size_limit(limit: int) -> dict[str, object]:
    """Popen options: the child may not grow a file past ``limit`` bytes (a full disk, as far as
    the writer can tell; Python ignores SIGXFSZ, so the write fails with EFBIG)."""
    return {"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))}


# --------------------------------------------------------------------------- --output


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("a-folder", "a-folder: cannot write: it is a folder"),
        ("rules.yaml/out.json", "rules.yaml/out.json: cannot write: rules.yaml is a file, not a folder"),
    ],
)
def test_output_into_a_folder_or_under_a_file(tmp_path: Path, target: str, expected: str) -> None:
    write_inputs(tmp_path)
    (tmp_path / "a-folder").mkdir()
    before = (tmp_path / "rules.yaml").read_bytes()
    run = run_cli([*CHECK, "--output", target], tmp_path)
    assert expected in run.one_line_error()
    assert (tmp_path / "rules.yaml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder", "map.yaml", "rules.yaml"]  # no temporary left


def test_output_on_a_full_disk_keeps_the_old_file_whole(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    old = b'{"old": "report"}\n'
    (tmp_path / "out.json").write_bytes(old)
    run = run_cli([*CHECK, "--format", "json", "--output", "out.json"], tmp_path, **file_size_limit(256))
    assert "out.json: cannot write: the file grew past the file-size limit" in run.one_line_error()
    assert (tmp_path / "out.json").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.yaml", "out.json", "rules.yaml"]


def test_output_into_a_read_only_folder(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        run = run_cli([*CHECK, "--output", "locked/out.txt"], tmp_path, **without_read_override())
    finally:
        locked.chmod(0o755)
    assert "locked/out.txt: cannot write: Permission denied" in run.one_line_error()
    assert list(locked.iterdir()) == []


def test_draft_out_a_file(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    run = run_cli(["draft", "--all", "--rules", "rules.yaml", "--service-map", "map.yaml", "--out", "rules.yaml"], tmp_path, timeout=60)
    assert "rules.yaml: cannot write: it is a file, not a folder" in run.one_line_error()
    assert (tmp_path / "rules.yaml").read_text(encoding="utf-8") == RULES


def test_report_out_a_read_only_folder_fails_before_judging(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    out = tmp_path / "reports"
    out.mkdir()
    out.chmod(0o555)
    try:
        run = run_cli(["report", "--rules", "rules.yaml", "--service-map", "map.yaml", "--out", "reports"], tmp_path, **without_read_override())
    finally:
        out.chmod(0o755)
    assert "reports: cannot write: Permission denied" in run.one_line_error()
    assert run.out == b"" and list(out.iterdir()) == []


# --------------------------------------------------------------------------- standard streams


def test_closed_stdout(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    run = run_cli(CHECK, tmp_path, **_closed(1))
    assert "<stdout>: cannot write: standard output is closed" in run.one_line_error()


def test_closed_stdin_for_changed_from_dash(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    run = run_cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--changed-from", "-"], tmp_path, stdin=None, **_closed(0))
    assert "<stdin>:0: standard input is closed" in run.one_line_error()


def _closed(descriptor: int) -> dict[str, object]:
    """Popen options that start the child with ``descriptor`` closed (as ``>&-`` or ``<&-``)."""
    return {"preexec_fn": lambda: os.close(descriptor)}


def test_a_reader_that_goes_away_is_one_line(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "coverage_audit", "rules", "--rules", str(ROOT / "rulesets"), "--format", "json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first byte
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 2
    assert err.splitlines() == ["coverage-audit: error: <stdout>: cannot write: the reader closed the pipe"], err


# --------------------------------------------------------------------------- bytes that are not UTF-8


def test_non_utf8_file_names_in_a_rules_folder(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    folder = tmp_path / "rules"
    folder.mkdir()
    name = os.fsencode(folder) + b"/caf\xe9-\x1b[2J.yaml"
    with open(name, "wb") as handle:
        handle.write(RULES.encode())
    (folder / "broken.yaml").write_text("groups: [", encoding="utf-8")
    for fmt in ("json", "text", "markdown", "sarif"):
        run = run_cli(["rules", "--rules", "rules", "--format", fmt], tmp_path)
        assert run.code == 2 and b"Traceback" not in run.err
        run.out.decode("utf-8")  # strictly valid UTF-8
        assert b"\x1b" not in run.out and b"\x1b" not in run.err
        if fmt == "json":
            document = json.loads(run.out)
            assert any(rule["file"].startswith("rules/caf") for rule in document["rules"])
        if fmt == "text":
            assert "rules/caf\\xe9-\\x1b[2J.yaml:4" in run.stdout


def test_a_latin1_changed_path_gives_valid_json(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    path = os.fsdecode(b"services/payments/api/caf\xe9.py")
    run = run_cli(["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--changed", path, "--format", "json"], tmp_path)
    assert run.code in (0, 1), run.stderr
    document = json.loads(run.out.decode("utf-8"))
    assert document["change"]["paths"] == ["services/payments/api/caf\ufffd.py"]
    assert document["change"]["components"] == ["payments/api"]  # the glob still matches


def test_non_utf8_stdin_for_changed_from_dash(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    run = run_cli(
        ["check", "--rules", "rules.yaml", "--service-map", "map.yaml", "--changed-from", "-", "--format", "json"],
        tmp_path,
        stdin=b"services/payments/api/caf\xe9.py\nservices/payments/\xff\xfe/x.py\n",
        env={"LC_ALL": "C"},  # the C locale reads stdin with surrogateescape: raw bytes back out
    )
    assert run.code in (0, 1), run.stderr
    document = json.loads(run.out.decode("utf-8"))
    assert document["change"]["paths"] == ["services/payments/api/caf\ufffd.py", "services/payments/\ufffd\ufffd/x.py"]


# --------------------------------------------------------------------------- the top level


def test_an_unexpected_error_is_one_line_exit_2_and_debug_shows_the_traceback(monkeypatch, capsys) -> None:
    def broken(*args: object) -> int:
        raise ValueError("embedded null byte\nsecond line")

    monkeypatch.setattr(cli.commands, "run", broken)
    monkeypatch.chdir(ROOT)
    assert cli.main(["check", "--changed", CHANGE]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "coverage-audit: error: check failed unexpectedly (ValueError: embedded null byte second line); "
        "this is a bug in coverage-audit, please report it with the output of --debug"
    ]
    assert cli.main(["check", "--changed", CHANGE, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().endswith("--debug")
    assert cli.main(["--debug", "check", "--changed", CHANGE]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_interrupt_exits_130(monkeypatch, capsys) -> None:
    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.commands, "run", interrupted)
    monkeypatch.chdir(ROOT)
    assert cli.main(["check", "--changed", CHANGE]) == 130
    assert capsys.readouterr().err == "coverage-audit: error: check: interrupted\n"


@pytest.mark.parametrize("argv", [["check", "--changed", CHANGE], ["report", "--out", "reports"], ["rules"], ["graph"], ["draft", "--all", "--dry-run"]])
def test_no_command_exits_1_on_a_crash(tmp_path: Path, monkeypatch, capsys, argv: list[str]) -> None:
    """Whatever fails inside a command, the exit code is 2: broken loaders stand in for a bug."""
    import coverage_audit.commands.common as common
    import coverage_audit.commands.rulesource as rulesource

    def broken(*args: object, **kwargs: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # its own: nothing another test kept answers
    monkeypatch.setattr(common, "load_catalog", broken)
    monkeypatch.setattr(rulesource, "load_rules", broken)
    code = cli.main([*argv, "--rules", "rules.yaml", "--service-map", "map.yaml"])
    err = capsys.readouterr().err
    assert code == 2 and "failed unexpectedly (RecursionError" in err, err
