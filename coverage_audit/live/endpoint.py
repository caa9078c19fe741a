"""Where a live source is and how to authenticate to it, as the config file or a flag names it.

Plain data, parsed and checked here; nothing is read or fetched (secrets are read by the transport
when a run connects), so that loading the settings never imports ``requests``. Credentials are only
ever *named* here (a file path, an environment variable), never held: DESIGN 3.6 forbids taking
them from a flag value, and a URL with ``user:password@`` is refused for the same reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from ..model import InputError

RulesApi = Literal["prometheus", "mimir_ruler", "cortex_ruler"]
RULES_APIS: tuple[RulesApi, ...] = ("prometheus", "mimir_ruler", "cortex_ruler")

_KEYS = ("url", "bearer_token_file", "bearer_token_env", "basic_auth", "ca_file", "path_prefix", "tenant", "rules_api")
_BASIC_KEYS = ("username", "password_file", "password_env")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One live server: its base URL (no credentials, no trailing slash) and how to reach it."""

    url: str
    path_prefix: str = ""  # e.g. "/prometheus" for Mimir and Cortex
    bearer_token_file: str | None = None
    bearer_token_env: str | None = None
    basic_username: str | None = None
    basic_password_file: str | None = None
    basic_password_env: str | None = None
    ca_file: str | None = None
    tenant: str | None = None  # X-Scope-OrgID, for multi-tenant Mimir and Cortex
    rules_api: RulesApi = "prometheus"  # which endpoint serves the rules
    origin: str = ""  # where it was named, for messages: "--prometheus" or "coverage-audit.yaml:7"
    from_config: bool = False  # --offline drops it

    @property
    def base(self) -> str:
        """Base URL with the path prefix: every API path is appended to this."""
        return self.url + self.path_prefix

    @property
    def has_auth(self) -> bool:
        return bool(self.bearer_token_file or self.bearer_token_env or self.basic_username)

    def same_server(self, url: str) -> bool:
        """Does ``url`` name this server (scheme, host and port)? Credentials from the config
        are only sent to the server the config names."""
        a, b = urlsplit(self.url), urlsplit(url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def clean_url(text: str, where: str) -> str:
    """A base URL: http(s), a host, no credentials, query or fragment; no trailing slash.

    Raises ValueError with a message that never repeats a password."""
    stripped = text.strip()
    if any(character.isspace() or not character.isprintable() for character in stripped):
        raise ValueError(f"{where}: not a valid URL (it holds spaces or control characters)")
    try:
        parts = urlsplit(stripped)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{where}: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}: expected an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{where}: credentials in the URL are refused; name a password file or variable under basic_auth in the config")
    if parts.query or parts.fragment:
        raise ValueError(f"{where}: the URL must not carry a query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def from_flag(url: str, flag: str, configured: Endpoint | None) -> Endpoint:
    """An endpoint named on the command line. It keeps the config's settings (auth, CA, prefix,
    tenant) only when the config names the same server: a token is never sent elsewhere."""
    base = clean_url(url, flag)
    if configured is not None and configured.same_server(base):
        return replace(configured, url=base, origin=flag, from_config=False)
    return Endpoint(url=base, origin=flag)


def parse_endpoint(value: object, key: str, config_path: str, line: int) -> Endpoint:
    """``key: URL`` or ``key: {url, bearer_token_file, bearer_token_env, basic_auth: {username,
    password_file | password_env}, ca_file, path_prefix, tenant, rules_api}`` from the config file."""
    base_dir = os.path.dirname(config_path)
    origin = f"{config_path}:{line}"
    if isinstance(value, str):
        try:
            return Endpoint(url=clean_url(value, key), origin=origin, from_config=True)
        except ValueError as exc:
            raise InputError(config_path, line, str(exc)) from None
    if not isinstance(value, dict):
        raise InputError(config_path, line, f"{key} must be a URL or a mapping with 'url'")
    for name in value:
        if name not in _KEYS:
            raise InputError(config_path, line_of(value, name), f"{key}: unknown key {name!r} (known: {', '.join(_KEYS)})")
    url = value.get("url")
    if not isinstance(url, str):
        raise InputError(config_path, line, f"{key}: 'url' is required (a URL)")
    try:
        base = clean_url(url, f"{key}.url")
    except ValueError as exc:
        raise InputError(config_path, line_of(value, "url"), str(exc)) from None

    def text(mapping: dict, name: str, label: str) -> str | None:  # type: ignore[type-arg]
        item = mapping.get(name)
        if item is None:
            return None
        if not isinstance(item, str) or not item.strip():
            raise InputError(config_path, line_of(mapping, name), f"{label} must be a non-empty string")
        return item.strip()

    def path(mapping: dict, name: str, label: str) -> str | None:  # type: ignore[type-arg]
        found = text(mapping, name, label)
        return os.path.join(base_dir, os.path.expanduser(found)) if found else None

    token_file = path(value, "bearer_token_file", f"{key}.bearer_token_file")
    token_env = text(value, "bearer_token_env", f"{key}.bearer_token_env")
    if token_file and token_env:
        raise InputError(config_path, line_of(value, "bearer_token_env"), f"{key}: give bearer_token_file or bearer_token_env, not both")
    username = password_file = password_env = None
    basic = value.get("basic_auth")
    if basic is not None:
        if not isinstance(basic, dict):
            raise InputError(config_path, line_of(value, "basic_auth"), f"{key}.basic_auth must be a mapping with username and password_file or password_env")
        for name in basic:
            if name not in _BASIC_KEYS:
                hint = " (a password is never written in the config: name a file or variable)" if name == "password" else ""
                raise InputError(config_path, line_of(basic, name), f"{key}.basic_auth: unknown key {name!r}{hint}")
        username = text(basic, "username", f"{key}.basic_auth.username")
        password_file = path(basic, "password_file", f"{key}.basic_auth.password_file")
        password_env = text(basic, "password_env", f"{key}.basic_auth.password_env")
        if not username or (password_file is None) == (password_env is None):
            raise InputError(config_path, line_of(value, "basic_auth"), f"{key}.basic_auth needs a username and one of password_file, password_env")
        if token_file or token_env:
            raise InputError(config_path, line_of(value, "basic_auth"), f"{key}: give a bearer token or basic_auth, not both")
    prefix = text(value, "path_prefix", f"{key}.path_prefix") or ""
    if prefix and (not prefix.startswith("/") or "?" in prefix or "#" in prefix):
        raise InputError(config_path, line_of(value, "path_prefix"), f"{key}.path_prefix must be a path such as /prometheus")
    rules_api = text(value, "rules_api", f"{key}.rules_api") or "prometheus"
    if rules_api not in RULES_APIS:
        raise InputError(config_path, line_of(value, "rules_api"), f"{key}.rules_api must be one of {', '.join(RULES_APIS)}")
    return Endpoint(
        url=base,
        path_prefix=prefix.rstrip("/"),
        bearer_token_file=token_file,
        bearer_token_env=token_env,
        basic_username=username,
        basic_password_file=password_file,
        basic_password_env=password_env,
        ca_file=path(value, "ca_file", f"{key}.ca_file"),
        tenant=text(value, "tenant", f"{key}.tenant"),
        rules_api=rules_api,  # type: ignore[arg-type]
        origin=origin,
        from_config=True,
    )


def line_of(mapping: object, key: str, default: int = 0) -> int:
    """The line a key is written on, when the mapping came from yamlio (else ``default``)."""
    finder = getattr(mapping, "line_of", None)
    return finder(key) if finder is not None else default
