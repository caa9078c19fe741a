"""Issue 14, hostile Pushgateways: the push has one deadline, answers that are not HTTP are one
line, a bad URL is refused before any work, and credentials are never printed. The gateways here
misbehave on purpose, which no real Pushgateway does on demand, so they are sockets on 127.0.0.1
made by the test; the real Pushgateway (with basic auth) is in test_pushgateway.py."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from hostile import cli, write_inputs

pytestmark = pytest.mark.timeout(120)


@contextlib.contextmanager
def hostile_gateway(answer):  # type: ignore[no-untyped-def]
    """A socket on 127.0.0.1 that answers each connection with ``answer(connection)``: the
    misbehaviour no real Pushgateway shows on demand (a trickle, garbage, an endless header)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    stop = threading.Event()
    received: list[bytes] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    received.append(connection.recv(65536))
                    answer(connection, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", received
    finally:
        stop.set()
        thread.join(timeout=10)
        server.close()


def trickle(connection: socket.socket, stop: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\n")
    while not stop.wait(1):  # a header line every second, never the end of the headers
        connection.sendall(b"X-Slow: yes\r\n")


def garbage(connection: socket.socket, stop: threading.Event) -> None:
    connection.sendall(b"\x00\xffnot http at all\r\n\r\n")


def endless_header(connection: socket.socket, stop: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 200_000 + b"\r\n\r\n")


def refuse(connection: socket.socket, stop: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\nunauthorized\n")


def config_with(tmp_path: Path, gateway: str, timeout: str = "30s") -> Path:
    config = tmp_path / "coverage-audit.yaml"
    config.write_text(f"rules: [rules.yaml]\nservice_maps: [map.yaml]\ntimeout: {timeout}\npush_gateway:\n{gateway}", encoding="utf-8")
    return config


def test_a_gateway_that_trickles_headers_is_given_up_at_the_deadline(tmp_path) -> None:
    write_inputs(tmp_path)
    with hostile_gateway(trickle) as (url, _):
        config_with(tmp_path, f"  url: {url}\n", timeout="3s")
        started = time.monotonic()
        run = cli(["report", "--out", "reports"], tmp_path, timeout=60)
        took = time.monotonic() - started
    assert f"{url}: pushing the metrics failed: no complete answer within 3 s" in run.one_line_error()
    assert took < 20  # a per-read timeout let it run as long as the trickle went on
    assert (tmp_path / "reports" / "coverage.prom").is_file()


@pytest.mark.parametrize(
    ("answer", "said"),
    [(garbage, "the answer is not HTTP"), (endless_header, "a header line longer than 64 KiB"), (refuse, "answered 401 Unauthorized: unauthorized")],
)
def test_a_gateway_answering_garbage_is_one_line(tmp_path, answer, said: str) -> None:
    write_inputs(tmp_path)
    with hostile_gateway(answer) as (url, _):
        run = cli(["report", "--rules", "rules.yaml", "--service-map", "map.yaml", "--out", "reports", "--push-gateway", url], tmp_path, timeout=60)
    err = run.one_line_error()
    assert f"{url}: pushing the metrics failed: " in err and said in err


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("not a url", "not a valid URL (it holds spaces or control characters)"),
        ("ftp://gateway:9091", "expected an http:// or https:// URL with a host"),
        ("http://gateway:99999", "not a valid URL"),
        ("http://:9091", "expected an http:// or https:// URL with a host"),
        ("http://ci:hunter2@gateway:9091", "credentials in the URL are refused"),
    ],
)
def test_a_bad_push_gateway_url_is_refused_before_any_work(tmp_path, url: str, said: str) -> None:
    write_inputs(tmp_path)
    run = cli(["report", "--rules", "rules.yaml", "--service-map", "map.yaml", "--out", "reports", "--push-gateway", url], tmp_path)
    err = run.one_line_error()
    assert said in err and "hunter2" not in err
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_a_bearer_token_comes_from_a_variable_and_is_never_printed(tmp_path) -> None:
    write_inputs(tmp_path)
    with hostile_gateway(refuse) as (url, received):
        config_with(tmp_path, f"  url: {url}\n  bearer_token_env: PUSH_TOKEN\n")
        run = cli(["report", "--out", "reports"], tmp_path, env={"PUSH_TOKEN": "s3cr3t-token"}, timeout=60)
    assert b"Authorization: Bearer s3cr3t-token\r\n" in received[0]
    assert b"s3cr3t-token" not in run.out + run.err
    assert "answered 401" in run.one_line_error()


def test_a_missing_token_variable_is_said_without_a_value(tmp_path) -> None:
    write_inputs(tmp_path)
    config_with(tmp_path, "  url: http://127.0.0.1:9\n  bearer_token_env: PUSH_TOKEN_NOT_SET\n")
    run = cli(["report", "--out", "reports"], tmp_path, timeout=60)
    assert "the environment variable PUSH_TOKEN_NOT_SET (the bearer token) is not set" in run.one_line_error()


def test_a_password_in_the_config_is_refused(tmp_path) -> None:
    write_inputs(tmp_path)
    config_with(tmp_path, "  url: http://gateway:9091\n  basic_auth: {username: ci, password: hunter2}\n")
    run = cli(["report", "--out", "reports"], tmp_path)
    err = run.one_line_error()
    assert "coverage-audit.yaml:6: push_gateway.basic_auth: unknown key 'password'" in err and "hunter2" not in err


def test_config_credentials_are_never_sent_to_another_server_named_by_the_flag(tmp_path) -> None:
    write_inputs(tmp_path)
    with hostile_gateway(refuse) as (configured, seen_there), hostile_gateway(refuse) as (other, seen_elsewhere):
        config_with(tmp_path, f"  url: {configured}\n  bearer_token_env: PUSH_TOKEN\n")
        run = cli(["report", "--out", "reports", "--push-gateway", other], tmp_path, env={"PUSH_TOKEN": "s3cr3t-token"}, timeout=60)
        assert "answered 401" in run.one_line_error()
        assert seen_elsewhere and b"Authorization" not in seen_elsewhere[0] and not seen_there
        run = cli(["report", "--out", "reports", "--push-gateway", configured.removeprefix("http://")], tmp_path, env={"PUSH_TOKEN": "s3cr3t-token"}, timeout=60)
        assert b"Authorization: Bearer s3cr3t-token\r\n" in seen_there[0]  # the same server: host:port means http://
