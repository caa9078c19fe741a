"""`report --push-gateway URL` against a real Pushgateway (Debian's prometheus-pushgateway),
started on 127.0.0.1 on a free port by the fixture and stopped by it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from coverage_audit.cli import main

from hostile import cli, write_inputs

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


# --------------------------------------------------------------------------- credentials (issue 14)


def config_with(tmp_path: Path, gateway: str) -> Path:
    config = tmp_path / "coverage-audit.yaml"
    config.write_text(f"rules: [rules.yaml]\nservice_maps: [map.yaml]\npush_gateway:\n{gateway}", encoding="utf-8")
    return config


@pytest.fixture
def pushgateway_with_basic_auth(tmp_path):
    """The real Pushgateway behind basic auth (exporter-toolkit web config, bcrypt hash)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    hashed = crypt.crypt("s3cret-pw", crypt.mksalt(crypt.METHOD_BLOWFISH))
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  ci: '{hashed}'\n", encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the Pushgateway with basic auth did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _ready(url: str) -> bool:
    try:
        return local_session().get(f"{url}/-/ready", timeout=1, auth=("ci", "s3cret-pw")).status_code == 200
    except requests.ConnectionError:
        return False


def test_basic_auth_from_a_password_file_against_the_real_gateway(pushgateway_with_basic_auth, tmp_path) -> None:
    url = pushgateway_with_basic_auth
    write_inputs(tmp_path)
    (tmp_path / "pw").write_text("s3cret-pw\n", encoding="utf-8")
    config_with(tmp_path, f"  url: {url}\n  basic_auth: {{username: ci, password_file: pw}}\n")
    run = cli(["report", "--out", "reports"], tmp_path, timeout=60)
    assert run.code == 0, run.stderr
    assert f"Pushed the metrics to {url}" in run.stdout and b"s3cret-pw" not in run.out + run.err
    pushed = local_session().get(f"{url}/metrics", auth=("ci", "s3cret-pw"), timeout=10).text
    assert 'coverage_audit_coverage_ratio{instance="",job="coverage_audit"}' in pushed

    (tmp_path / "pw").write_text("wrong-pw\n", encoding="utf-8")
    run = cli(["report", "--out", "reports"], tmp_path, timeout=60)
    assert "answered 401 Unauthorized" in run.one_line_error()
    assert b"wrong-pw" not in run.out + run.err
