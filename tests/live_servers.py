"""Real servers for live-mode tests, on 127.0.0.1 and free ports, stopped by their context managers.

* Prometheus (Debian's ``prometheus``) over blocks written by ``promtool tsdb create-blocks-from
  openmetrics`` from series described here, optionally with rule files and a web config (basic
  auth, TLS);
* Alertmanager (Debian's ``prometheus-alertmanager``), silences made with ``amtool``;
* a tiny HTTP server for the faults no real server produces on demand (slow, 500, cut-off JSON).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import requests

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def local_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


# --------------------------------------------------------------------------- series data


@dataclass(frozen=True)
class Series:
    """One series with a sample every ``step`` seconds between two offsets from now (seconds
    ago); the value grows by ``rate`` per second (a counter) or stays ``value`` (a gauge)."""

    metric: str
    labels: Mapping[str, str]
    since: float  # seconds ago it starts
    until: float = 60.0  # seconds ago it stops (60: still there now)
    rate: float = 1.0
    value: float | None = None  # a gauge's constant value instead of a counter
    step: float = 300.0


def openmetrics(series: Sequence[Series], now: float) -> str:
    """OpenMetrics text: one gauge family per metric name, samples in time order."""
    families: dict[str, list[Series]] = {}
    for item in series:
        families.setdefault(item.metric, []).append(item)
    lines: list[str] = []
    for name, members in families.items():
        lines.append(f"# TYPE {name} gauge")
        for item in members:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(item.labels.items()))
            start, stop = int(now - item.since), int(now - item.until)
            t = start
            while t <= stop:
                value = item.value if item.value is not None else (t - start) * item.rate
                lines.append(f"{name}{{{labels}}} {value} {t}")
                t += int(item.step)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def write_blocks(series: Sequence[Series], data_dir: Path, now: float) -> None:
    assert PROMTOOL is not None
    source = data_dir.parent / f"{data_dir.name}.om"
    source.write_text(openmetrics(series, now))
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data_dir)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    folder: Path
    extra: dict[str, str] = field(default_factory=dict)


def _wait_ready(process: subprocess.Popen[bytes], url: str, name: str, verify: object = True, auth: object = None) -> None:
    deadline = time.monotonic() + 60
    session = local_session()
    while True:
        if process.poll() is not None:
            output = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"{name} exited: {output[-3000:]}")
        try:
            if session.get(f"{url}/-/ready", timeout=1, verify=verify, auth=auth).status_code == 200:  # type: ignore[arg-type]
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} was not ready within 60s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def prometheus(
    folder: Path,
    data_dir: Path,
    rule_files: Sequence[Path] = (),
    web_config: str | None = None,
    scheme: str = "http",
    ready_verify: object = True,
    ready_auth: object = None,
) -> Iterator[Server]:
    """A real Prometheus over ``data_dir``, evaluating ``rule_files``, on 127.0.0.1."""
    assert PROMETHEUS is not None
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    files = "".join(f"\n  - {json.dumps(str(path))}" for path in rule_files)
    config.write_text("global:\n  evaluation_interval: 15s\n" + (f"rule_files:{files}\n" if rule_files else ""))
    port = free_port()
    args = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=90d",
        "--log.level=warn",
    ]
    if web_config is not None:
        web = folder / "web.yml"
        web.write_text(web_config)
        args.append(f"--web.config.file={web}")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, "Prometheus", ready_verify, ready_auth)
        yield Server(url, process, folder)
    finally:
        _stop(process)


@contextmanager
def alertmanager(folder: Path, config_text: str) -> Iterator[Server]:
    """A real Alertmanager with ``config_text``, clustering off, on 127.0.0.1."""
    assert ALERTMANAGER is not None
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "alertmanager.yml"
    config.write_text(config_text)
    port = free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, "Alertmanager")
        yield Server(url, process, folder)
    finally:
        _stop(process)


def amtool_silence(url: str, matchers: Sequence[str], duration: str, comment: str, author: str) -> str:
    """Create a silence with the real amtool; returns its id."""
    assert AMTOOL is not None
    args = [AMTOOL, "silence", "add", f"--alertmanager.url={url}", f"--duration={duration}", f"--comment={comment}", f"--author={author}", *matchers]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --------------------------------------------------------------------------- faults


class _Handler(http.server.BaseHTTPRequestHandler):
    behaviour: Callable[["_Handler"], None]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).behaviour(self)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).behaviour(self)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the access log
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up mid-answer is what these faults are about; print nothing


@contextmanager
def fault_server(behaviour: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering every request with ``behaviour(handler)``, for
    faults a real server does not produce on demand. Also records what it was sent."""
    handler = type("Handler", (_Handler,), {"behaviour": staticmethod(behaviour)})
    server = _ThreadingServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), made with openssl."""
    cert, key = folder / "server.crt", folder / "server.key"
    result = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cert, key


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for Prometheus' web config (glibc's crypt does bcrypt on Debian)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))


def tools_missing() -> str | None:
    for name, path in (("prometheus", PROMETHEUS), ("promtool", PROMTOOL), ("prometheus-alertmanager", ALERTMANAGER), ("amtool", AMTOOL)):
        if path is None:
            return f"{name} not installed (Debian packages 'prometheus', 'prometheus-alertmanager'; scripts/bootstrap.sh installs them)"
    return None


def environment_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
