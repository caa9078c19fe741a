"""HTTP to live sources: credentials from files or environment variables, a custom CA, a timeout
per request, bounded retries with backoff, a total deadline for all live work, and bounded
concurrency.

Every failure becomes a :class:`LiveError`: one line naming the URL that failed (never its query
or credentials) and what went wrong, in words built here. Exception texts from the HTTP stack are
never passed through (they can quote headers or URLs), and every message is scrubbed of the
secret values as a last guard.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, TypeVar

import requests
import requests.adapters
from requests.utils import get_environ_proxies

from .. import __version__
from ..durations import format_duration
from ..model import Diagnostic, InputError
from ..yamlio import read_text
from .endpoint import Endpoint

MAX_SECRET_BYTES = 64 * 1024  # a token or password, not a file to load whole
MAX_BODY_BYTES = 512 * 1024 * 1024  # a rule or series answer larger than this is refused
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_SECONDS = 0.25  # doubled per retry
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2
DEFAULT_CONCURRENCY = 8
DEADLINE_TIMEOUTS = 20  # default total deadline: this many request timeouts

T = TypeVar("T")
R = TypeVar("R")


class LiveError(Exception):
    """A live source that failed: one line for stderr, naming the URL without credentials."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.diagnostic = Diagnostic(url, 0, message)


class Deadline:
    """The time all live work of one run may take, shared by every source."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()


class Transport:
    """One live server: an HTTP session with its credentials, and the rules for talking to it."""

    def __init__(
        self,
        endpoint: Endpoint,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: Deadline | None = None,
        retries: int = DEFAULT_RETRIES,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.deadline = deadline or Deadline(timeout * DEADLINE_TIMEOUTS)
        self.retries = retries
        self.concurrency = max(1, concurrency)
        self._secrets: list[str] = []
        self.failed: LiveError | None = None  # the first failure: the source is down for the run
        self.requests = 0  # attempts made (for the benchmark and the tests)
        self._count = threading.Lock()
        self.session = self._session()  # reads the credentials: may raise LiveError

    # ------------------------------------------------------------------ set-up

    def _session(self) -> requests.Session:
        endpoint = self.endpoint
        session = requests.Session()
        # No ~/.netrc, no REQUESTS_CA_BUNDLE surprises: what the config names is what is sent.
        session.trust_env = False
        session.proxies = get_environ_proxies(endpoint.url)
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self.concurrency, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = f"coverage-audit/{__version__}"
        if endpoint.ca_file:
            if not os.path.isfile(endpoint.ca_file):
                raise LiveError(endpoint.url, f"ca_file {endpoint.ca_file} does not exist")
            session.verify = endpoint.ca_file
        if endpoint.tenant:
            session.headers["X-Scope-OrgID"] = endpoint.tenant
        token = self._secret(endpoint.bearer_token_file, endpoint.bearer_token_env, "bearer token")
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        if endpoint.basic_username:
            password = self._secret(endpoint.basic_password_file, endpoint.basic_password_env, "basic_auth password")
            session.auth = (endpoint.basic_username, password or "")
        return session

    def _secret(self, path: str | None, variable: str | None, what: str) -> str | None:
        if path:
            try:
                value = read_text(path, MAX_SECRET_BYTES).strip()  # a regular file only: a FIFO would block
            except InputError as exc:
                raise LiveError(self.endpoint.url, f"cannot read the {what} file {path}: {exc.diagnostic.message.removeprefix('cannot read: ')}") from None
        elif variable:
            value = os.environ.get(variable, "").strip()
            if not value:
                raise LiveError(self.endpoint.url, f"the environment variable {variable} (for the {what}) is not set")
        else:
            return None
        if not value or any(c in value for c in "\r\n\0"):
            raise LiveError(self.endpoint.url, f"the {what} from {path or variable} is empty or spans several lines")
        self._secrets.append(value)
        return value

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ requests

    def get_bytes(self, path: str, params: Any = None, data: Any = None, accept: str = "application/json", root: bool = False) -> bytes:
        """The body of a successful answer (GET, or POST when ``data`` is given); LiveError
        otherwise, after the bounded retries. ``root``: the path is not under the prefix."""
        if self.failed is not None:  # one failure is the source's one error line; no second try
            raise self.failed
        try:
            return self._get_bytes(path, params, data, accept, root)
        except LiveError as exc:
            self.failed = self.failed or exc
            raise

    def _get_bytes(self, path: str, params: Any, data: Any, accept: str, root: bool) -> bytes:
        url = (self.endpoint.url if root else self.endpoint.base) + path
        attempt = 0
        while True:
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise LiveError(url, f"gave up: the live sources' total deadline of {format_duration(self.deadline.seconds)} passed")
            wait_for = min(self.timeout, remaining)
            try:
                status, body, retry_after = self._once(url, params, data, accept, wait_for)
            except LiveError:
                if wait_for < self.timeout and self.deadline.remaining() <= 0.05:  # cut short by the deadline
                    raise LiveError(url, f"gave up: the live sources' total deadline of {format_duration(self.deadline.seconds)} passed") from None
                raise
            if status == 200:
                return body
            if status in RETRY_STATUS and attempt < self.retries:
                attempt += 1
                pause = max(BACKOFF_SECONDS * 2 ** (attempt - 1), min(retry_after, 5.0))
                time.sleep(max(0.0, min(pause, self.deadline.remaining())))
                continue
            raise LiveError(url, self._status_message(status, body))

    def fail(self, url: str, message: str) -> LiveError:
        """A failure found in an answer: the source is down for the rest of the run too."""
        error = LiveError(url, self.scrub(message))
        self.failed = self.failed or error
        return error

    def get_json(self, path: str, params: Any = None, data: Any = None, envelope: bool = True) -> Any:
        """Parsed JSON; with ``envelope`` (the Prometheus API) the ``data`` of a success."""
        url = self.endpoint.base + path
        body = self.get_bytes(path, params, data)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise self.fail(url, "answered with invalid JSON (cut off, or not an API answer)") from None
        if not envelope:
            return document
        if not isinstance(document, dict) or document.get("status") != "success" or "data" not in document:
            error = document.get("error") if isinstance(document, dict) else None
            detail = f": {self._clip(error)}" if isinstance(error, str) and error else ""
            raise self.fail(url, f"answered without a successful Prometheus API result{detail}")
        return document["data"]

    def get_text(self, path: str, params: Any = None, accept: str = "application/yaml", root: bool = False) -> str:
        url = (self.endpoint.url if root else self.endpoint.base) + path
        body = self.get_bytes(path, params, accept=accept, root=root)
        try:
            return body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise self.fail(url, "answered with text that is not UTF-8") from None

    def _once(self, url: str, params: Any, data: Any, accept: str, wait_for: float) -> tuple[int, bytes, float]:
        """One attempt: (status, body, Retry-After seconds); LiveError for transport failures."""
        method = "POST" if data is not None else "GET"
        with self._count:
            self.requests += 1
        try:
            with self.session.request(
                method, url, params=params, data=data, headers={"Accept": accept}, timeout=(wait_for, wait_for), stream=True
            ) as response:
                body = self._read(response, url)
                retry_after = _seconds(response.headers.get("Retry-After"))
                return response.status_code, body, retry_after
        except LiveError:
            raise
        except requests.exceptions.SSLError as exc:
            raise LiveError(url, f"TLS error: {_tls_reason(exc)}") from None
        except requests.exceptions.ConnectTimeout:
            raise LiveError(url, f"could not connect within {format_duration(wait_for)} (--timeout)") from None
        except (requests.exceptions.ReadTimeout, TimeoutError):
            raise LiveError(url, f"no answer within {format_duration(wait_for)} (--timeout)") from None
        except requests.exceptions.ChunkedEncodingError:
            raise LiveError(url, "the answer was cut off before its end") from None
        except requests.exceptions.ConnectionError as exc:
            raise LiveError(url, f"cannot connect: {_connection_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise LiveError(url, f"request failed ({type(exc).__name__})") from None

    def _read(self, response: requests.Response, url: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise LiveError(url, f"the answer is larger than {MAX_BODY_BYTES >> 20} MiB; refused")
            if self.deadline.remaining() <= 0:
                raise LiveError(url, f"gave up: the live sources' total deadline of {format_duration(self.deadline.seconds)} passed")
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_message(self, status: int, body: bytes) -> str:
        if status in (401, 403):
            sent = "the credentials were refused" if self.endpoint.has_auth else "it needs credentials (bearer token or basic_auth in the config)"
            return f"answered {status} {'Unauthorized' if status == 401 else 'Forbidden'}: {sent}"
        detail = ""
        try:
            document = json.loads(body[:65536])
            if isinstance(document, dict) and isinstance(document.get("error"), str):
                detail = f": {self._clip(document['error'])}"
        except (ValueError, RecursionError):
            pass
        return f"answered HTTP {status}{detail}"

    def _clip(self, text: str) -> str:
        return self.scrub(" ".join(text.split()))[:200]

    def scrub(self, text: str) -> str:
        """Replace any secret value in ``text`` (the last guard before anything is printed)."""
        for secret in self._secrets:
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    # ------------------------------------------------------------------ concurrency

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``function`` over ``items`` on at most ``concurrency`` threads, results in order. The
        first failure cancels what has not started and is raised: a source that fails is one
        error, not one per request."""
        work = list(items)
        if len(work) <= 1 or self.concurrency == 1:
            return [function(item) for item in work]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(work)), thread_name_prefix="live") as pool:
            futures: list[Future[R]] = [pool.submit(function, item) for item in work]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f.done() and f.exception() is not None), None)
            if failed is not None:
                for future in futures:
                    future.cancel()
                error = failed.exception()
                assert error is not None
                raise error
            return [future.result() for future in futures]


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """The exception and everything it wraps (args, causes, contexts), without repeats."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [a for a in current.args if isinstance(a, BaseException)]
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                stack.append(linked)


def _tls_reason(exc: BaseException) -> str:
    for inner in _chain(exc):
        if isinstance(inner, ssl.SSLCertVerificationError):
            return f"certificate verify failed ({inner.verify_message})" if inner.verify_message else "certificate verify failed"
        if isinstance(inner, ssl.SSLError) and inner.reason:
            return str(inner.reason).lower().replace("_", " ")
    return "the TLS handshake failed"


def _connection_reason(exc: BaseException) -> str:
    for inner in _chain(exc):
        if isinstance(inner, ConnectionRefusedError):
            return "connection refused"
        if isinstance(inner, ConnectionResetError):
            return "connection reset"
        if type(inner).__name__ == "NameResolutionError" or "Name or service not known" in str(getattr(inner, "args", "")):
            return "the host name does not resolve"
        if type(inner).__name__ in ("ProtocolError", "RemoteDisconnected", "IncompleteRead"):
            return "the server closed the connection mid-answer"
    return "the connection failed"
