"""Pushing the coverage metrics to a Pushgateway (``report --push-gateway``).

* The push has one deadline for all of it (connect, send, every byte of the answer): a gateway
  that trickles a header line every 10 s cannot keep the run alive, as a per-read timeout let it.
* Any answer that is not HTTP, a header line past 64 KiB, a status that is not 2xx: one line.
* Credentials come from a file or an environment variable named in the config, never from a
  flag or the URL (a URL with ``user:password@`` is refused), and are never printed.

Config (``coverage-audit.yaml``), the shape of the live sources' endpoints::

    push_gateway: http://pushgateway:9091
    push_gateway:
      url: https://pushgateway.example
      bearer_token_file: /var/run/secrets/token     # or bearer_token_env: PUSHGATEWAY_TOKEN
      basic_auth: {username: ci, password_file: /run/secrets/pw}   # or password_env
      timeout: 30s                                   # the whole push, default 30s
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Mapping
from urllib.parse import quote, urlsplit

from .durations import parse_duration
from .model import InputError
from .printable import printable
from .yamlio import YMap, line_of, read_text

JOB = "coverage_audit"
DEADLINE_SECONDS = 30.0
MAX_ANSWER_BYTES = 64 * 1024  # of the body: enough for the gateway's error text
_KEYS = ("url", "bearer_token_file", "bearer_token_env", "basic_auth", "timeout")
_BASIC_KEYS = ("username", "password_file", "password_env")


class PushError(Exception):
    """The push failed; the message never holds a credential."""


@dataclass(frozen=True, slots=True)
class Gateway:
    url: str  # http(s)://host[:port][/prefix], checked
    bearer_token_file: str | None = None
    bearer_token_env: str | None = None
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    timeout: float = DEADLINE_SECONDS  # for the whole push

    def with_url(self, url: str) -> "Gateway":
        return replace(self, url=checked_url(url))


def checked_url(text: str) -> str:
    """The Pushgateway URL, or ValueError saying what is wrong (without repeating a password).
    ``host:port`` means ``http://host:port``, as prometheus-client has it."""
    url = text.strip()
    if "://" not in url:
        url = "http://" + url
    if any(character.isspace() or not character.isprintable() for character in url):
        raise ValueError("the Pushgateway URL holds spaces or control characters")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the Pushgateway URL are refused: name a file or variable under push_gateway in the config")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the Pushgateway URL must be http:// or https://, not {printable(parts.scheme)}://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"the Pushgateway URL has an invalid port: {printable(text)!r}") from None
    if not parts.hostname or port == 0:
        raise ValueError(f"the Pushgateway URL names no host: {printable(text)!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the Pushgateway URL must not have a query or fragment: {printable(text)!r}")
    return url.rstrip("/")


def from_config(value: object, path: str, line: int) -> Gateway:
    """``push_gateway:`` from the config file: a URL, or a mapping with credentials."""
    def problem(message: str, at: int = line) -> InputError:
        return InputError(path, at, f"push_gateway: {message}")

    if isinstance(value, str):
        try:
            return Gateway(checked_url(value))
        except ValueError as exc:
            raise problem(str(exc)) from None
    if not isinstance(value, YMap):
        raise problem("must be a URL or a mapping with url and credentials")
    for key in value:
        if key not in _KEYS:
            raise problem(f"unknown key {key!r} (known: {', '.join(_KEYS)})", value.line_of(key))
    url = value.get("url")
    if not isinstance(url, str):
        raise problem("needs a 'url'")
    try:
        url = checked_url(url)
    except ValueError as exc:
        raise problem(str(exc), value.line_of("url")) from None
    base = os.path.dirname(path)
    token_file, token_env = _text(value, "bearer_token_file", problem), _text(value, "bearer_token_env", problem)
    if token_file and token_env:
        raise problem("give bearer_token_file or bearer_token_env, not both", value.line_of("bearer_token_env"))
    username = password_file = password_env = None
    basic = value.get("basic_auth")
    if basic is not None:
        if not isinstance(basic, YMap):
            raise problem("basic_auth must be a mapping with username and password_file or password_env", value.line_of("basic_auth"))
        for key in basic:
            if key not in _BASIC_KEYS:
                hint = " (a password is never written in the config: name a file or a variable)" if key == "password" else ""
                raise problem(f"basic_auth: unknown key {key!r}{hint}", basic.line_of(key))
        username = _text(basic, "username", problem)
        password_file, password_env = _text(basic, "password_file", problem), _text(basic, "password_env", problem)
        if not username or (password_file is None) == (password_env is None):
            raise problem("basic_auth needs a username and one of password_file, password_env", line_of(basic))
        if token_file or token_env:
            raise problem("give a bearer token or basic_auth, not both", value.line_of("basic_auth"))
    timeout = DEADLINE_SECONDS
    if "timeout" in value:
        try:
            timeout = parse_duration(str(value["timeout"]))
        except ValueError as exc:
            raise problem(f"timeout: {exc}", value.line_of("timeout")) from None
        if timeout <= 0:
            raise problem("timeout must be longer than 0s", value.line_of("timeout"))
    return Gateway(
        url,
        os.path.join(base, token_file) if token_file else None,
        token_env,
        username,
        os.path.join(base, password_file) if password_file else None,
        password_env,
        timeout,
    )


def _text(mapping: YMap, key: str, problem: object) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise problem(f"{key} must be a non-empty string", mapping.line_of(key))  # type: ignore[operator]
    return value.strip()


def _secret(file: str | None, variable: str | None, what: str) -> str | None:
    """A credential's value; the messages name where it should be, never what it is."""
    if file:
        text = read_text(file).strip()  # InputError names the file
        if not text:
            raise PushError(f"the {what} file {file} is empty")
        return text
    if variable:
        text = os.environ.get(variable, "").strip()
        if not text:
            raise PushError(f"the environment variable {variable} (the {what}) is not set")
        return text
    return None


def headers_for(gateway: Gateway) -> dict[str, str]:
    token = _secret(gateway.bearer_token_file, gateway.bearer_token_env, "bearer token")
    if token is not None:
        return {"Authorization": f"Bearer {token}"}
    if gateway.username:
        password = _secret(gateway.password_file, gateway.password_env, "basic_auth password") or ""
        pair = base64.b64encode(f"{gateway.username}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def push(gateway: Gateway, body: bytes, content_type: str) -> None:
    """PUT the metrics as job ``coverage_audit`` (replacing what the job had, so failure modes
    that left the map go too). PushError (or InputError for an unreadable secret file)."""
    try:
        headers = {"Content-Type": content_type, **headers_for(gateway)}
    except InputError as exc:
        raise PushError(str(exc)) from None
    parts = urlsplit(gateway.url)
    path = f"{parts.path.rstrip('/')}/metrics/job/{quote(JOB, safe='')}"
    deadline = gateway.timeout
    try:
        status, reason, answer = _exchange(parts.scheme, parts.hostname or "", parts.port, path, headers, body, deadline)
    except _Deadline:
        raise PushError(f"no complete answer within {deadline:g} s") from None
    except (OSError, http.client.HTTPException, ValueError, UnicodeError) as exc:
        raise PushError(_describe(exc)) from None
    if not 200 <= status < 300:
        said = printable(answer.decode("utf-8", "replace"), keep_lines=False).strip()[:200]
        raise PushError(f"the Pushgateway answered {status} {printable(reason, keep_lines=False)[:100]}" + (f": {said}" if said else ""))


class _Deadline(Exception):
    pass


def _exchange(
    scheme: str, host: str, port: int | None, path: str, headers: Mapping[str, str], body: bytes, deadline: float
) -> tuple[int, str, bytes]:
    """One request under one deadline: a timer shuts the socket when time is up, which ends
    any read or write in progress, however slowly the other side trickles."""
    started = time.monotonic()
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=deadline)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=deadline)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(deadline, expire)
    timer.daemon = True
    timer.start()
    try:
        connection.connect()
        remaining = deadline - (time.monotonic() - started)
        if remaining <= 0:
            raise _Deadline()
        connection.request("PUT", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        answer = response.read(MAX_ANSWER_BYTES)
        if expired.is_set():  # the shut socket reads as an end of file: headers "ended" early
            raise _Deadline()
        return response.status, response.reason or "", answer
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise _Deadline() from None
        raise
    finally:
        timer.cancel()
        connection.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.LineTooLong):
        return "the answer has a header line longer than 64 KiB"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the Pushgateway closed the connection without an answer"
    if isinstance(exc, http.client.BadStatusLine):
        return "the answer is not HTTP"
    if isinstance(exc, http.client.HTTPException):
        return f"the answer is not valid HTTP ({type(exc).__name__}: {printable(str(exc), keep_lines=False)[:120]})"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror or exc})"
    if isinstance(exc, OSError):
        return exc.strerror or printable(str(exc), keep_lines=False) or type(exc).__name__
    return printable(str(exc), keep_lines=False) or type(exc).__name__
