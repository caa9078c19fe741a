"""Issue 14, integrity: the report folder is written all or nothing and its history stays
sound; what lands in a report never carries markup or escape sequences from inputs."""

from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile import MAP, ROOT, cli, write_inputs

pytestmark = pytest.mark.timeout(300)

REPORT_FILES = ("coverage.prom", "index.html", "report.json", "report.md")


def report_argv(out: str = "reports") -> list[str]:
    return ["report", "--rules", "rules.yaml", "--service-map", "map.yaml", "--out", out]


def with_marker(marker: str, services: int = 1) -> str:
    """The map plus services named after ``marker``: each run's files say which run wrote them."""
    extra = "".join(
        f"  - name: {marker}-{n}\n    owner: team-{marker}\n    selector: '{{job=\"{marker}-{n}\"}}'\n"
        f"    components:\n      - {{name: api, kind: http_api, paths: [\"{marker}/{n}/**\"]}}\n"
        for n in range(services)
    )
    return MAP.replace("services:\n", "services:\n" + extra, 1)


def writers(folder: Path) -> dict[str, int]:
    """Which run wrote each file: the newest marker in it (older ones appear as changes)."""
    return {name: max(int(n) for n in re.findall(r"run(\d+)-\d+", (folder / name).read_text(encoding="utf-8"))) for name in REPORT_FILES}


def strays(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".coverage-audit"))


# --------------------------------------------------------------------------- all or nothing


def test_a_file_size_limit_mid_report_leaves_the_old_report_whole(tmp_path: Path) -> None:
    write_inputs(tmp_path, with_marker("run1"))
    assert cli(report_argv(), tmp_path).code == 0
    old = {name: (tmp_path / "reports" / name).read_bytes() for name in REPORT_FILES}

    # Measure the new report, then let the largest of its files be one byte too big to write:
    # the others fit, so a writer that replaced files one by one would leave a mixed set.
    write_inputs(tmp_path, with_marker("run2", services=40))
    assert cli(report_argv("measure"), tmp_path).code == 0
    sizes = {name: (tmp_path / "measure" / name).stat().st_size for name in REPORT_FILES}
    largest = max(sizes.values())
    assert sorted(sizes.values())[-2] < largest - 1
    limit = largest - 1
    run = cli(report_argv(), tmp_path, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert "cannot write: the file grew past the file-size limit" in run.one_line_error()
    assert {name: (tmp_path / "reports" / name).read_bytes() for name in REPORT_FILES} == old
    assert strays(tmp_path / "reports") == []
    with sqlite3.connect(tmp_path / "reports" / "history.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # the failed run is not recorded


def test_kill_9_never_leaves_a_mixed_report_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("COVERAGE_AUDIT_REQUIRE_TOOLS", None)
    write_inputs(tmp_path, with_marker("run0", services=30))
    assert cli(report_argv(), tmp_path).code == 0
    rng = random.Random(14)
    for run in range(1, 9):
        write_inputs(tmp_path, with_marker(f"run{run}", services=30))
        process = subprocess.Popen([sys.executable, "-m", "coverage_audit", *report_argv()], cwd=tmp_path, env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        seen = writers(tmp_path / "reports")
        assert len(set(seen.values())) == 1, seen  # every file from the same run
    write_inputs(tmp_path, with_marker("run9", services=30))
    assert cli(report_argv(), tmp_path).code == 0
    assert strays(tmp_path / "reports") == []
    assert set(writers(tmp_path / "reports").values()) == {9}


def test_an_interrupted_commit_is_completed_by_the_next_run(tmp_path: Path) -> None:
    """A run killed between the commit and the last rename left ``.coverage-audit-commit``:
    the next writer moves the rest of that set into place before writing its own."""
    from coverage_audit.commands.output import COMMIT_NAME, write_file_set

    folder = tmp_path / "reports"
    write_file_set(str(folder), {"a.txt": "old a", "b.txt": "old b"})
    commit = folder / COMMIT_NAME
    commit.mkdir()
    (commit / "b.txt").write_text("new b")  # a.txt was already moved: the set is mixed on disk
    (folder / "a.txt").write_text("new a")
    (folder / ".coverage-audit-staging-abandoned").mkdir()
    write_file_set(str(folder), {"c.txt": "c"})
    assert (folder / "b.txt").read_text() == "new b" and (folder / "a.txt").read_text() == "new a"
    assert strays(folder) == []


# --------------------------------------------------------------------------- history


def first_report(tmp_path: Path) -> Path:
    write_inputs(tmp_path)
    assert cli(report_argv(), tmp_path).code == 0
    return tmp_path / "reports" / "history.sqlite"


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE runs SET total = 'many'",
        "UPDATE runs SET started_at = 1714557600",
        "UPDATE runs SET budget_seconds = 'a while'",
        "UPDATE runs SET covered = 2.5",
        "UPDATE runs SET started_at = '<img src=x onerror=alert(1)>'",
        "UPDATE findings SET subject = x'00ff'",
        "UPDATE findings SET service = x'01'",
    ],
)
def test_a_history_with_the_right_schema_and_wrong_value_types(tmp_path: Path, edit: str) -> None:
    history = first_report(tmp_path)
    with sqlite3.connect(history) as db:
        db.execute("PRAGMA ignore_check_constraints = ON")
        db.execute(edit)
    before = history.read_bytes()
    run = cli(report_argv(), tmp_path)
    err = run.one_line_error()
    assert "history.sqlite:0: not a usable coverage-audit history database" in err
    assert history.read_bytes() == before  # never repaired or overwritten
    markdown = (tmp_path / "reports" / "report.md").read_text(encoding="utf-8")
    assert "<img" not in markdown and "onerror" not in markdown


def test_html_in_a_previous_runs_values_never_reaches_report_md_raw(tmp_path: Path) -> None:
    owner = "<img src=x onerror=alert(1)>``<b>"
    write_inputs(tmp_path, MAP.replace("owner: team-payments", f"owner: '{owner}'").replace("name: payments", "name: '`` <i>pay'"))
    assert cli(report_argv(), tmp_path).code == 0
    write_inputs(tmp_path, MAP)  # every mode of the old subject is removed: change lines name it
    assert cli(report_argv(), tmp_path).code == 0
    markdown = (tmp_path / "reports" / "report.md").read_text(encoding="utf-8")
    assert "no longer in the service map" in markdown
    assert not re.search(r"(?<!\\)<(img|b|i)\b", markdown.replace("``` `` <i>pay/api ```", "")), markdown
    # the subject with backticks is one code span: its fence is longer than any run inside
    assert "``` `` <i>pay/api ```" in markdown


def test_a_history_lock_held_over_5_s_says_busy(tmp_path: Path) -> None:
    history = first_report(tmp_path)
    holder = sqlite3.connect(history, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        run = cli(report_argv(), tmp_path, timeout=60)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = run.one_line_error()
    assert "history.sqlite:0: busy: another coverage-audit run has held the history lock for more than 5 s" in err
    assert "not a usable" not in err and "damaged" not in err
    assert 5 <= waited < 45
    assert json.loads((tmp_path / "reports" / "report.json").read_text())["summary"]["total"] == 3  # the report still stands


def test_a_report_into_a_folder_another_run_is_writing_waits_then_says_busy(tmp_path: Path) -> None:
    import fcntl

    write_inputs(tmp_path)
    (tmp_path / "reports").mkdir()
    descriptor = os.open(tmp_path / "reports", os.O_RDONLY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        run = cli(report_argv(), tmp_path, timeout=60)
    finally:
        os.close(descriptor)
    assert "reports: cannot write: busy: another coverage-audit run has been writing into it for more than 5 s" in run.one_line_error()
