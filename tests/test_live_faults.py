"""A live source that fails is one error line naming its URL (never a credential), the run goes on
with everything else, and the exit code is 2 (DESIGN 2, 3.6; issue 12).

Real Prometheus servers provide the TLS and authentication failures (its web config); a small
HTTP server on 127.0.0.1 provides what no real server does on demand: slowness, a 500, cut-off
or garbage answers.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import live_servers as ls
from coverage_audit.cli import main
from coverage_audit.live.endpoint import Endpoint
from coverage_audit.live.transport import LiveError, Transport

SHOP = Path(__file__).resolve().parent / "live" / "shop"
RULES, MAP = SHOP / "rules.yaml", SHOP / "map.yaml"
TOKEN = "s3cr3t-Token-0b7c"  # must never appear in any output
PASSWORD = "hunter2-pa55word"


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository's coverage-audit.yaml
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str, float]:
    started = time.monotonic()
    code = main(["check", "--rules", str(RULES), "--service-map", str(MAP), "--component", "payments/api", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, time.monotonic() - started


def assert_one_error(code: int, out: str, err: str, url: str, phrase: str) -> None:
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"coverage-audit: error: {url}/"), lines[0]
    assert phrase in lines[0], lines[0]
    assert "Traceback" not in err and "Traceback" not in out
    assert TOKEN not in out + err and PASSWORD not in out + err
    assert "payments/api" in out and "failure modes:" in out  # the run completed without the source


def config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "coverage-audit.yaml"
    path.write_text(body)
    return str(path)


# --------------------------------------------------------------------------- network faults


def test_a_server_that_is_down(capsys) -> None:
    url = f"http://127.0.0.1:{ls.free_port()}"
    code, out, err, _ = check(capsys, "--prometheus", url, "--alertmanager-url", url)
    assert code == 2 and "Traceback" not in err
    # One line per source: Prometheus and Alertmanager are two sources at the same address.
    assert err.count("\n") == 2 and err.count("cannot connect: connection refused") == 2


def test_a_server_slower_than_the_timeout(capsys) -> None:
    def slow(handler) -> None:
        time.sleep(3)
        handler.send_response(200)
        handler.end_headers()

    with ls.fault_server(slow) as url:
        code, out, err, elapsed = check(capsys, "--prometheus", url, "--timeout", "1s")
    assert_one_error(code, out, err, url, "no answer within 1s (--timeout)")
    assert elapsed < 2.9  # it gave up at the timeout, and did not ask again


def test_a_server_answering_500(capsys) -> None:
    calls = []

    def failing(handler) -> None:
        calls.append(handler.path)
        body = b'{"status":"error","errorType":"internal","error":"query failed: out of memory"}'
        handler.send_response(500)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with ls.fault_server(failing) as url:
        code, out, err, _ = check(capsys, "--prometheus", url)
    assert_one_error(code, out, err, url, "answered HTTP 500: query failed: out of memory")
    assert len(calls) == 3  # two bounded retries, then the source is down for the run


@pytest.mark.parametrize(
    ("declared", "phrase"),
    [(True, "the answer was cut off before its end"), (False, "answered with invalid JSON")],
    ids=["content-length-longer-than-body", "body-ends-mid-json"],
)
def test_a_cut_off_answer(capsys, declared: bool, phrase: str) -> None:
    whole = json.dumps({"status": "success", "data": {"groups": [{"name": "g", "file": "f", "rules": [], "interval": 60}]}}).encode()
    part = whole[: len(whole) // 2]

    def truncated(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(whole) if declared else len(part)))
        handler.end_headers()
        handler.wfile.write(part)
        handler.close_connection = True

    with ls.fault_server(truncated) as url:
        code, out, err, _ = check(capsys, "--prometheus", url)
    assert_one_error(code, out, err, url, phrase)


def test_garbage_instead_of_an_api_answer(capsys) -> None:
    def html(handler) -> None:
        body = b"<html><body>Sign in</body></html>"
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with ls.fault_server(html) as url:
        code, out, err, _ = check(capsys, "--prometheus", url)
    assert_one_error(code, out, err, url, "answered with invalid JSON")


def test_the_total_deadline_bounds_all_live_work(capsys, tmp_path) -> None:
    def slowish(handler) -> None:
        time.sleep(0.8)
        body = b'{"status":"success","data":[]}' if "/rules" not in handler.path else b'{"status":"success","data":{"groups":[]}}'
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with ls.fault_server(slowish) as url:
        settings = config(tmp_path, f"deadline: 1s\ntimeout: 10s\nprometheus: {{url: {url}}}\n")
        code, out, err, elapsed = check(capsys, "--config", settings)
    assert_one_error(code, out, err, url, "the live sources' total deadline of 1s passed")
    assert elapsed < 5


# --------------------------------------------------------------------------- real Prometheus: TLS and auth


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory):
    """Two real Prometheus servers serving the shop's rules: one over TLS with a self-signed
    certificate, one behind basic auth."""
    if ls.tools_missing():
        pytest.skip(ls.tools_missing() or "")
    folder = tmp_path_factory.mktemp("secured")
    cert, key = ls.self_signed_certificate(folder)
    tls_config = f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
    auth_config = f"basic_auth_users:\n  alice: '{ls.bcrypt_hash(PASSWORD)}'\n"
    with ls.prometheus(folder / "tls", folder / "tls-data", [RULES], tls_config, scheme="https", ready_verify=str(cert)) as tls, ls.prometheus(
        folder / "auth", folder / "auth-data", [RULES], auth_config, ready_auth=("alice", PASSWORD)
    ) as auth:
        yield {"tls": tls.url, "auth": auth.url, "cert": str(cert)}


@pytest.mark.tools
def test_a_tls_error(secured, capsys) -> None:
    code, out, err, _ = check(capsys, "--prometheus", secured["tls"])
    assert_one_error(code, out, err, secured["tls"], "TLS error: certificate verify failed")


@pytest.mark.tools
def test_a_custom_ca_makes_the_tls_server_trusted(secured, capsys, tmp_path) -> None:
    settings = config(tmp_path, f"prometheus: {{url: {secured['tls']}, ca_file: {secured['cert']}}}\n")
    assert main(["rules", "--config", settings, "--format", "json"]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]
    assert len(rules) == 8 and rules[0]["file"] == f"{secured['tls']}/api/v1/rules"


@pytest.mark.tools
def test_401_with_wrong_credentials_prints_no_secret(secured, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PROM_PASSWORD", "wrong-" + PASSWORD)
    settings = config(tmp_path, f"prometheus: {{url: {secured['auth']}, basic_auth: {{username: alice, password_env: PROM_PASSWORD}}}}\n")
    code, out, err, _ = check(capsys, "--config", settings)
    assert_one_error(code, out, err, secured["auth"], "answered 401 Unauthorized: the credentials were refused")
    assert "wrong-" not in out + err


@pytest.mark.tools
def test_401_without_credentials_says_what_is_needed(secured, capsys) -> None:
    code, out, err, _ = check(capsys, "--prometheus", secured["auth"])
    assert_one_error(code, out, err, secured["auth"], "answered 401 Unauthorized: it needs credentials (bearer token or basic_auth in the config)")


@pytest.mark.tools
def test_basic_auth_from_a_password_file(secured, capsys, tmp_path) -> None:
    (tmp_path / "password").write_text(PASSWORD + "\n")
    settings = config(tmp_path, f"prometheus: {{url: {secured['auth']}, basic_auth: {{username: alice, password_file: password}}}}\n")
    assert main(["rules", "--config", settings]) == 0
    captured = capsys.readouterr()
    assert "8 recording rules" not in captured.out and "7 alerting rules" in captured.out
    assert PASSWORD not in captured.out + captured.err


def test_a_bearer_token_from_an_environment_variable_is_sent_and_never_shown(capsys, tmp_path) -> None:
    seen: list[str | None] = []

    def guarded(handler) -> None:
        seen.append(handler.headers.get("Authorization"))
        ok = handler.headers.get("Authorization") == f"Bearer {TOKEN}"
        body = b'{"status":"success","data":{"groups":[]}}' if "/rules" in handler.path else b'{"status":"success","data":[]}'
        handler.send_response(200 if ok else 401)
        handler.send_header("Content-Length", str(len(body) if ok else 0))
        handler.end_headers()
        if ok:
            handler.wfile.write(body)

    with ls.fault_server(guarded) as url:
        settings = config(tmp_path, f"prometheus: {{url: {url}, bearer_token_env: PROM_TOKEN}}\n")
        code, out, err, _ = check(capsys, "--config", settings, "--format", "json")
        assert code == 1 and err == ""  # gaps, no error
        assert seen and set(seen) == {f"Bearer {TOKEN}"}
        assert TOKEN not in out
        # A flag naming another server never gets the config's token.
        seen.clear()
        with ls.fault_server(guarded) as other:
            code, out, err, _ = check(capsys, "--config", settings, "--prometheus", other)
        assert set(seen) == {None}
        assert_one_error(code, out, err, other, "answered 401 Unauthorized: it needs credentials")


def test_credentials_are_never_taken_from_a_flag(capsys) -> None:
    code = main(["check", "--rules", str(RULES), "--service-map", str(MAP), "--component", "payments/api", "--prometheus", f"http://alice:{PASSWORD}@127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "credentials in the URL are refused" in err and PASSWORD not in err


def test_a_password_written_into_the_config_is_refused_without_echoing_it(capsys, tmp_path) -> None:
    settings = config(tmp_path, f"prometheus:\n  url: http://127.0.0.1:9\n  basic_auth:\n    username: alice\n    password: {PASSWORD}\n")
    assert main(["rules", "--config", settings]) == 2
    err = capsys.readouterr().err
    assert f"{settings}:5: prometheus.basic_auth: unknown key 'password' (a password is never written in the config" in err
    assert PASSWORD not in err


def test_a_missing_token_file_is_one_error_naming_the_file(capsys, tmp_path) -> None:
    settings = config(tmp_path, "prometheus: {url: http://127.0.0.1:9, bearer_token_file: /nonexistent/token}\n")
    code, out, err, _ = check(capsys, "--config", settings)
    assert code == 2 and err.count("\n") == 1
    assert "http://127.0.0.1:9: cannot read the bearer token file /nonexistent/token: No such file or directory" in err


# --------------------------------------------------------------------------- bounded concurrency


def test_requests_run_on_at_most_the_configured_number_of_threads() -> None:
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def counting(handler) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        body = b'{"status":"success","data":[]}'
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with ls.fault_server(counting) as url:
        transport = Transport(Endpoint(url), timeout=10, concurrency=3)
        results = transport.map(lambda i: transport.get_json("/api/v1/labels", {"i": i}), range(24))
    assert results == [[]] * 24
    assert state["most"] == 3


def test_the_first_failure_stops_the_rest() -> None:
    calls = []

    def failing(handler) -> None:
        calls.append(handler.path)
        handler.send_response(404)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with ls.fault_server(failing) as url:
        transport = Transport(Endpoint(url), timeout=10, concurrency=2)
        with pytest.raises(LiveError) as caught:
            transport.map(lambda i: transport.get_json(f"/api/v1/x{i}"), range(50))
    assert "answered HTTP 404" in str(caught.value)
    assert len(calls) < 10


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("prometheus: {url: http://127.0.0.1:9, bearer_token_file: t, bearer_token_env: T}\n", 1, "prometheus: give bearer_token_file or bearer_token_env, not both"),
        ("prometheus:\n  url: http://127.0.0.1:9\n  rules_api: loki\n", 3, "prometheus.rules_api must be one of prometheus, mimir_ruler, cortex_ruler"),
        ("prometheus:\n  url: ftp://127.0.0.1:9\n", 2, "prometheus.url: expected an http:// or https:// URL with a host"),
        ("alertmanager_url:\n  url: http://127.0.0.1:9\n  basic_auth: {username: bob}\n", 3, "alertmanager_url.basic_auth needs a username and one of password_file, password_env"),
        ("lookback: 0s\n", 1, "lookback must be longer than 0s"),
    ],
    ids=["two-tokens", "rules-api", "scheme", "basic-auth", "lookback"],
)
def test_bad_live_settings_name_the_config_line(capsys, tmp_path, body: str, line: int, message: str) -> None:
    settings = config(tmp_path, body)
    assert main(["rules", "--config", settings, "--rules", str(RULES)]) == 2
    assert capsys.readouterr().err == f"coverage-audit: error: {settings}:{line}: {message}\n"
