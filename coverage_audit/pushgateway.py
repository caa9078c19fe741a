"""Pushing the coverage metrics to a Pushgateway (``report --push-gateway``).

* The push has one deadline for all of it (connect, send, every byte of the answer): a gateway
  that trickles a header line every 10 s cannot keep the run alive, as a per-read timeout let it.
  The deadline is the live sources' ``timeout`` (``--timeout``, default 30s).
* Any answer that is not HTTP, a header line past 64 KiB, a status that is not 2xx: one line.
* Where the gateway is and its credentials are an ``Endpoint``, as for the live sources
  (``push_gateway:`` in the config takes the same keys as ``prometheus:``): credentials come from
  a file or an environment variable the config names, never from a flag or the URL, are sent only
  to the server the config names, and are never printed.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import threading
import time
from typing import Mapping
from urllib.parse import quote, urlsplit

from .live.endpoint import Endpoint, from_flag
from .model import InputError
from .printable import printable
from .yamlio import read_text

JOB = "coverage_audit"
MAX_ANSWER_BYTES = 64 * 1024  # of the body: enough for the gateway's error text
MAX_SECRET_BYTES = 64 * 1024
FLAG = "--push-gateway"


class PushError(Exception):
    """The push failed; the message never holds a credential."""


def gateway(flag: str | None, configured: Endpoint | None) -> Endpoint | None:
    """The Pushgateway to push to: the flag's URL (``host:port`` means ``http://host:port``, as
    prometheus-client has it) or the config's; None when neither names one. ValueError, without
    repeating a password, for a URL that is not one."""
    if not flag:
        return configured
    url = flag.strip()
    return from_flag(url if "://" in url else "http://" + url, FLAG, configured)


def _secret(file: str | None, variable: str | None, what: str) -> str | None:
    """A credential's value; the messages name where it should be, never what it is."""
    if file:
        try:
            text = read_text(file, MAX_SECRET_BYTES).strip()  # a regular file only: a FIFO would block
        except InputError as exc:
            raise PushError(f"cannot read the {what} file {file}: {exc.diagnostic.message.removeprefix('cannot read: ')}") from None
        if not text or any(c in text for c in "\r\n\0"):
            raise PushError(f"the {what} file {file} is empty or spans several lines")
        return text
    if variable:
        text = os.environ.get(variable, "").strip()
        if not text:
            raise PushError(f"the environment variable {variable} (the {what}) is not set")
        return text
    return None


def headers_for(endpoint: Endpoint) -> dict[str, str]:
    token = _secret(endpoint.bearer_token_file, endpoint.bearer_token_env, "bearer token")
    if token is not None:
        return {"Authorization": f"Bearer {token}"}
    if endpoint.basic_username:
        password = _secret(endpoint.basic_password_file, endpoint.basic_password_env, "basic_auth password") or ""
        pair = base64.b64encode(f"{endpoint.basic_username}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def push(endpoint: Endpoint, body: bytes, content_type: str, deadline: float) -> None:
    """PUT the metrics as job ``coverage_audit`` (replacing what the job had, so failure modes
    that left the map go too), all of it within ``deadline`` seconds. PushError if it fails."""
    headers = {"Content-Type": content_type, **headers_for(endpoint)}
    parts = urlsplit(endpoint.base)
    path = f"{parts.path.rstrip('/')}/metrics/job/{quote(JOB, safe='')}"
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
