"""`report --push-gateway URL` against a real Pushgateway (Debian's prometheus-pushgateway),
started on 127.0.0.1 on a free port by the fixture and stopped by it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from coverage_audit.cli import main

ROOT = Path(__file__).resolve().parents[1]
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"

pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(
        shutil.which(PUSHGATEWAY) is None,
        reason=f"{PUSHGATEWAY} not installed (Debian package 'prometheus-pushgateway'; scripts/bootstrap.sh installs it)",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pushgateway(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'pushgateway.db'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the Pushgateway exited: {process.stderr.read().decode(errors='replace')[-2000:]}")  # type: ignore[union-attr]
            try:
                if local_session().get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Pushgateway did not become ready within 30s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def local_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 directly, whatever proxy the environment names
    return session


def gateway_metrics(url: str) -> dict[str, object]:
    response = local_session().get(f"{url}/metrics", timeout=10)
    response.raise_for_status()
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def test_the_report_pushes_its_coverage_metrics(pushgateway, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "reports"
    assert "coverage_audit_coverage_ratio" not in gateway_metrics(pushgateway)  # nothing there before the push
    assert main(["report", "--out", str(out), "--push-gateway", pushgateway]) == 0
    assert f"Pushed the metrics to {pushgateway}" in capsys.readouterr().out

    families = gateway_metrics(pushgateway)
    summary = json.loads((out / "report.json").read_text())["summary"]
    (ratio,) = families["coverage_audit_coverage_ratio"].samples  # type: ignore[attr-defined]
    assert ratio.labels["job"] == "coverage_audit"
    assert ratio.value == pytest.approx(summary["covered"] / summary["total"])
    statuses = families["coverage_audit_failure_mode_status"].samples  # type: ignore[attr-defined]
    current = {(s.labels["subject"], s.labels["failure_mode"]): s.labels["status"] for s in statuses if s.value == 1}
    assert len(current) == summary["total"]
    assert current[("business/orders_completed", "drop")] == "weak"
    by_status = {s.labels["status"]: s.value for s in families["coverage_audit_failure_modes_by_status"].samples}  # type: ignore[attr-defined]
    assert by_status == {status: summary[status] for status in ("covered", "weak", "uncovered", "waived")}
    assert "push_time_seconds" in families  # the gateway recorded a successful push

    # The same series the textfile holds: one export, two ways to collect it.
    textfile = {f.name for f in text_string_to_metric_families((out / "coverage.prom").read_text())}
    assert textfile <= set(families)


def test_a_push_that_fails_is_an_error_after_the_files_are_written(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "reports"
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["report", "--out", str(out), "--push-gateway", closed]) == 2
    assert f"coverage-audit: error: {closed}: pushing the metrics failed" in capsys.readouterr().err
    assert (out / "coverage.prom").is_file() and (out / "index.html").is_file()
