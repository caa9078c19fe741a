"""Settings: ``coverage-audit.yaml`` merged with command-line flags (flags win) into one frozen
object that the commands read. Paths in the config file are relative to the file's folder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .durations import parse_duration
from .live.endpoint import Endpoint, from_flag, parse_endpoint
from .model import InputError
from .scenarios import DEFAULT_SCENARIO, SCENARIOS
from .yamlio import YMap, YSeq, load_file

DEFAULT_CONFIG = "coverage-audit.yaml"
DEFAULT_BUDGET = 15 * 60.0  # the canary watch window
DEFAULT_EVALUATION_INTERVAL = 60.0  # Prometheus' global evaluation_interval default
DEFAULT_LOOKBACK = 7 * 86400.0  # how far back live series count as existing (DESIGN 3.6)
DEFAULT_TIMEOUT = 30.0  # per request to a live source

_KEYS = {
    "rules": "paths",
    "alertmanager": "path",
    "service_maps": "paths",
    "codeowners": "path",
    "catalog": "path",
    "cache_dir": "path",
    "budget": "duration",
    "evaluation_interval": "duration",
    "fail_on": "text",
    "scenario": "text",
    "canary_selector": "text",
    "tiers": "mapping",
    "infrastructure_prefixes": "list",
    "application_prefixes": "list",
    "prometheus": "endpoint",
    "alertmanager_url": "endpoint",
    "lookback": "duration",
    "timeout": "duration",
    "deadline": "duration",
    "waivers": "path",
    "push_gateway": "endpoint",  # report --push-gateway: URL and where its credentials are
    "drafts": "settings",
}
FAIL_ON = ("uncovered", "weak", "never")
TIERS = ("critical", "standard", "low")


def _check_selector(text: str, path: str, line: int) -> None:
    from . import promql  # the parser is only needed when a canary selector is configured

    try:
        selector = promql.parse_selector(text)
    except promql.PromQLError as exc:
        raise InputError(path, line, f"canary_selector: {exc}") from None
    if selector.metric is not None:
        raise InputError(path, line, "canary_selector must be label matchers only, such as '{track=\"canary\"}'")


@dataclass(frozen=True, slots=True)
class Settings:
    rules: tuple[str, ...] = ()
    alertmanager: str | None = None
    service_maps: tuple[str, ...] = ()
    codeowners: str | None = None
    catalog: str | None = None  # a failure-mode catalog that extends/overrides the bundled one
    budget: float = DEFAULT_BUDGET
    evaluation_interval: float = DEFAULT_EVALUATION_INTERVAL
    fail_on: str = "uncovered"
    scenario: str = DEFAULT_SCENARIO  # the failure the verdicts judge (DESIGN 5.1)
    canary_selector: str = ""  # e.g. '{track="canary"}': the label that tells a canary apart
    tiers: Mapping[str, str] = field(default_factory=dict)  # custom tier name -> critical|standard|low
    infrastructure_prefixes: tuple[str, ...] = ()
    application_prefixes: tuple[str, ...] = ()
    waivers: str | None = None  # accepted gaps (DESIGN 5.4)
    drafts: Mapping[str, Any] = field(default_factory=dict)  # draft policy overrides (data/drafts.yaml keys)
    format: str = "text"
    output: str | None = None
    jobs: int | None = None
    # Live sources (DESIGN 3.6): None when not given, or dropped by --offline.
    prometheus: Endpoint | None = None
    alertmanager_url: Endpoint | None = None
    lookback: float = DEFAULT_LOOKBACK
    timeout: float = DEFAULT_TIMEOUT
    deadline: float | None = None  # all live work of a run; None: 20 timeouts
    offline: bool = False
    push_gateway: Endpoint | None = None  # where report pushes its metrics (the timeout bounds the push)
    cache_dir: str | None = None  # None: the user's cache folder (cache.default_folder)
    no_cache: bool = False  # parse every file, read and write no cache
    extra: Mapping[str, Any] = field(default_factory=dict)  # command-specific flags


def display_path(path: str) -> str:
    """Relative to the current folder when the file is under it: what users typed and expect."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else os.path.normpath(relative)


def load_config(path: str | None) -> Settings:
    """The config file's settings; the default file is optional, a named one must exist."""
    if path is None:
        if not os.path.exists(DEFAULT_CONFIG):
            return Settings()
        path = DEFAULT_CONFIG
    documents = load_file(path)
    if not documents or documents[0].value is None:
        return Settings()
    data = documents[0].value
    if not isinstance(data, YMap):
        raise InputError(path, 1, "the configuration must be a mapping")
    base = os.path.dirname(path)
    values: dict[str, Any] = {}
    for key, value in data.items():
        kind = _KEYS.get(key)
        line = data.line_of(key)
        if kind is None:
            raise InputError(path, line, f"unknown setting {key!r} (known: {', '.join(sorted(_KEYS))})")
        values[key] = _coerce(kind, value, base, path, line, key)
    if values.get("fail_on", "uncovered") not in FAIL_ON:
        raise InputError(path, data.line_of("fail_on"), f"fail_on must be one of {', '.join(FAIL_ON)}")
    if values.get("scenario", DEFAULT_SCENARIO) not in SCENARIOS:
        raise InputError(path, data.line_of("scenario"), f"scenario must be one of {', '.join(SCENARIOS)}")
    for key in ("lookback", "timeout", "deadline"):
        if key in values and values[key] <= 0:
            raise InputError(path, data.line_of(key), f"{key} must be longer than 0s")
    if values.get("canary_selector"):
        _check_selector(values["canary_selector"], path, data.line_of("canary_selector"))
    for name, tier in values.get("tiers", {}).items():
        if tier not in TIERS:
            raise InputError(path, data.line_of("tiers"), f"tiers: {name!r} must map onto one of {', '.join(TIERS)}, not {tier!r}")
    return Settings(**values)


def _coerce(kind: str, value: object, base: str, path: str, line: int, key: str) -> Any:
    if kind == "paths":
        items = value if isinstance(value, YSeq) else [value]
        if not all(isinstance(item, str) for item in items):
            raise InputError(path, line, f"{key} must be a path or a list of paths")
        return tuple(display_path(os.path.join(base, item)) for item in items)  # type: ignore[arg-type]
    if kind == "endpoint":
        return parse_endpoint(value, key, path, line)
    if kind == "mapping":
        if not isinstance(value, YMap) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise InputError(path, line, f"{key} must be a mapping of names to names")
        return dict(value.items())
    if kind == "settings":  # checked by the command that reads them, which knows the keys
        if not isinstance(value, YMap) or not all(isinstance(v, (str, int, float, YSeq)) for v in value.values()):
            raise InputError(path, line, f"{key} must be a mapping of settings to values")
        return {k: (list(v) if isinstance(v, YSeq) else v) for k, v in value.items()}
    if kind == "list":
        items = value if isinstance(value, YSeq) else [value]
        if not all(isinstance(item, str) for item in items):
            raise InputError(path, line, f"{key} must be a list of strings")
        return tuple(items)  # type: ignore[arg-type]
    if not isinstance(value, str):
        raise InputError(path, line, f"{key} must be a single value")
    if kind == "path":
        return display_path(os.path.join(base, value))
    if kind == "duration":
        try:
            return parse_duration(value)
        except ValueError:
            raise InputError(path, line, f"{key}: {value!r} is not a duration such as 15m") from None
    return value


def with_live_flags(settings: Settings, prometheus: str | None, alertmanager_url: str | None, offline: bool) -> Settings:
    """``--prometheus`` / ``--alertmanager-url`` replace the config's live sources (keeping its
    credentials only for the same server); ``--offline`` drops every live source the config
    file names, while ones given as flags still count."""
    try:
        prom = from_flag(prometheus, "--prometheus", settings.prometheus) if prometheus else settings.prometheus
        am = from_flag(alertmanager_url, "--alertmanager-url", settings.alertmanager_url) if alertmanager_url else settings.alertmanager_url
    except ValueError:
        raise  # the CLI reports it as a usage error
    if offline:
        prom = None if prom is not None and prom.from_config else prom
        am = None if am is not None and am.from_config else am
    return replace(settings, prometheus=prom, alertmanager_url=am, offline=offline)


def merge(settings: Settings, **flags: Any) -> Settings:
    """Flags that were given (not None / not empty) replace the file's values."""
    given = {key: value for key, value in flags.items() if value not in (None, (), [])}
    for key in ("rules", "service_maps"):
        if key in given:
            given[key] = tuple(given[key])
    return replace(settings, **given)
