"""Alertmanager configuration -> ``AlertmanagerConfig``, validated the way Alertmanager 0.25 does.

Accepted inputs:

* a plain Alertmanager configuration file;
* a Kubernetes ``Secret`` holding it as text, under ``stringData`` or base64 ``data``, with the key
  ``alertmanager.yaml`` / ``alertmanager.yml`` (or the Secret's only ``*.yaml`` / ``*.yml`` key).

The routing tree is resolved while loading: every ``Route`` carries the receiver, grouping and
timers it really uses, inherited from its parents exactly as ``dispatch.NewRoute`` does. Anything
Alertmanager would refuse and that changes where alerts go (unknown keys, undefined receivers or
time intervals, bad matchers, regexes or durations) is an ``InputError`` with file and line, so a
typo cannot silently turn into "this alert routes to the default receiver". Receiver settings and
``global`` are not validated: only which integrations a receiver has matters here, and newer
integrations than this Alertmanager version knows must not be refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from ..durations import parse_duration
from ..model import (
    AlertmanagerConfig,
    InhibitRule,
    InputError,
    LabelMatcher,
    MatchOp,
    Receiver,
    Route,
    regex_error,
)
from ..yamlio import YMap, YSeq, decode, load_documents, read_text

DEFAULT_GROUP_WAIT = 30.0  # dispatch.DefaultRouteOpts
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
GROUP_BY_ALL = "..."
SECRET_CONFIG_KEYS = ("alertmanager.yaml", "alertmanager.yml")

# Alertmanager unmarshals strictly: an unknown key is an error. For routes this matters most, as a
# misspelt ``matchers`` would otherwise make a route catch every alert.
_TOP_KEYS = frozenset(
    {"global", "route", "receivers", "inhibit_rules", "templates", "mute_time_intervals",
     "time_intervals", "tracing"}
)
_ROUTE_KEYS = frozenset(
    {"receiver", "group_by", "match", "match_re", "matchers", "mute_time_intervals",
     "active_time_intervals", "continue", "routes", "group_wait", "group_interval",
     "repeat_interval", "labels"}  # route labels: Alertmanager 0.29+, templating only
)
_INHIBIT_KEYS = frozenset(
    {"name", "source_match", "source_match_re", "source_matchers", "target_match",
     "target_match_re", "target_matchers", "equal"}
)
_TIME_INTERVAL_KEYS = frozenset({"name", "time_intervals"})
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # model.LabelNameRE
# gopkg.in/yaml.v2 booleans (YAML 1.1); quoted spellings cannot be told apart here, a tolerated gap
_TRUE = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_FALSE = frozenset({"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})

# --------------------------------------------------------------------------- matcher syntax
# A port of pkg/labels/parse.go (the classic parser that Alertmanager 0.25 uses for ``matchers``).

_GO_SPACE = "[\t\n\f\r ]"  # Go's \s (ASCII only, no \v), unlike Python's
_MATCHER = re.compile(
    rf"{_GO_SPACE}*([a-zA-Z_:][a-zA-Z0-9_:]*){_GO_SPACE}*(=~|=|!=|!~){_GO_SPACE}*(.*?){_GO_SPACE}*",
    re.DOTALL,
)
# strings.TrimSpace trims Unicode White_Space; Python's str.strip() would also trim \x1c-\x1f
_GO_TRIM = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_OPS = {op.value: op for op in MatchOp}


def parse_matchers(text: str) -> list[LabelMatcher]:
    """Matchers in one string: ``a="b", c=~"d|e"``, optionally in braces; ValueError if invalid.

    Commas inside double quotes do not separate; a trailing comma is allowed; an empty string
    (or ``{}``) holds no matcher.
    """
    text = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = escaped = False
    for char in text:
        if char == ",":
            if not inside_quotes:
                tokens.append("".join(token))
                token = []
                continue
        elif char == '"':
            if escaped:
                escaped = False
            else:
                inside_quotes = not inside_quotes
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    last = "".join(token).strip(_GO_TRIM)
    if last:
        tokens.append(last)
    return [parse_matcher(item) for item in tokens]


def parse_matcher(text: str) -> LabelMatcher:
    """One matcher such as ``severity =~ "warning|critical"``; ValueError if invalid."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise ValueError(f"bad matcher format: {text}")
    name, op, raw = found.groups()
    value = _unescape_matcher_value(raw)
    return new_matcher(name, _OPS[op], value)


def _unescape_matcher_value(raw: str) -> str:
    """OpenMetrics escapes (\\" \\n \\\\); a stray backslash stays literal, as Alertmanager does."""
    expect_quote = raw.startswith('"')
    if expect_quote:
        raw = raw[1:]
    _require_utf8(raw)
    out: list[str] = []
    escaped = False
    last = len(raw) - 1
    for index, char in enumerate(raw):
        if escaped:
            escaped = False
            out.append("\n" if char == "n" else char if char in '"\\' else "\\" + char)
        elif char == "\\":
            if index < last:
                escaped = True
            else:
                out.append("\\")
        elif char == '"':
            if not expect_quote or index < last:
                raise ValueError(f"matcher value contains unescaped double quote: {raw}")
            expect_quote = False
        else:
            out.append(char)
    if expect_quote:
        raise ValueError(f"matcher value contains unescaped double quote: {raw}")
    return "".join(out)


def new_matcher(name: str, op: MatchOp, value: str) -> LabelMatcher:
    """A matcher, with its regex compiled now so that an invalid one fails at load time."""
    if op.regex:
        _check_regex(value)
    return LabelMatcher(name, op, value)


def _check_regex(pattern: str) -> None:
    _require_utf8(pattern)
    reason = regex_error(pattern)  # also warms the shared cache used when matching
    if reason is not None:
        raise ValueError(f"error parsing regexp: {reason}: `^(?:{pattern})$`")


def _require_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a YAML escape
        raise ValueError(f"not valid UTF-8: {text!r}") from None


# --------------------------------------------------------------------------- entry points


def load_alertmanager(path: str) -> AlertmanagerConfig:
    """Read an Alertmanager configuration (plain, or inside a Kubernetes Secret)."""
    return load_alertmanager_text(read_text(path), str(path))


def load_alertmanager_text(text: str, name: str) -> AlertmanagerConfig:
    """Like ``load_alertmanager``, from text already read; ``name`` is used in messages."""
    documents = load_documents(text, name)
    if not documents:
        raise InputError(name, 1, "empty file: no route provided in config")
    for document in documents:
        value = document.value
        if isinstance(value, YMap) and _is_secret(value):
            key = _secret_config_key(value)
            if key is not None:
                return _load_from_secret(value, key, text, name)
    first = documents[0].value
    if not isinstance(first, YMap):
        kind = "a list" if isinstance(first, YSeq) else "a string" if isinstance(first, str) else "empty"
        message = f"an Alertmanager configuration must be a mapping, not {kind}"
        raise InputError(name, documents[0].line, message)
    if _is_secret(first):
        raise InputError(name, first.line, f"Secret holds no {' or '.join(SECRET_CONFIG_KEYS)} key")
    if "kind" in first and "apiVersion" in first:
        message = f"a Kubernetes {first.get('kind')!s} is not an Alertmanager configuration"
        raise InputError(name, first.line, message)
    return _build_config(first, name)


def is_alertmanager_config(value: object) -> bool:
    """Does this YAML value look like an Alertmanager configuration (or a Secret holding one)?"""
    if not isinstance(value, Mapping):
        return False
    if value.get("kind") == "Secret":
        key = _secret_config_key(value)
        if key is None:
            return False
        if key[1] in SECRET_CONFIG_KEYS:
            return True  # named for it: treat it as one even if broken, so its error is reported
        try:
            text = _secret_text(value, key, "<secret>")
            documents = load_documents(text, "<secret>")
        except InputError:
            return False
        inner = documents[0].value if documents else None
        return not _is_secret(inner) and is_alertmanager_config(inner)
    if "kind" in value and "apiVersion" in value:
        return False
    return "route" in value or "receivers" in value


# --------------------------------------------------------------------------- Kubernetes Secret


def _is_secret(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("kind") == "Secret"


def _secret_config_key(secret: Mapping[str, object]) -> tuple[str, str] | None:
    """(field, key) of the config in a Secret: stringData wins over data, as in Kubernetes."""
    fields = [(field, secret.get(field)) for field in ("stringData", "data")]
    maps = [(field, items) for field, items in fields if isinstance(items, Mapping)]
    for wanted in SECRET_CONFIG_KEYS:
        for field, items in maps:
            if wanted in items:
                return field, wanted
    yaml_keys = {key for _, items in maps for key in items if str(key).endswith((".yaml", ".yml"))}
    if len(yaml_keys) == 1:
        only = yaml_keys.pop()
        return next((field, only) for field, items in maps if only in items)
    return None


def _secret_text(secret: Mapping[str, object], key: tuple[str, str], name: str) -> str:
    field, item = key
    holder = secret[field]
    assert isinstance(holder, Mapping)
    value = holder[item]
    line = holder.line_of(item) if isinstance(holder, YMap) else 1
    if not isinstance(value, str):
        raise InputError(name, line, f"{field}[{item!r}] must be a string")
    if field == "stringData":
        return value
    try:  # Kubernetes writes standard base64; tolerate the line breaks of wrapped output
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(name, line, f"data[{item!r}] is not valid base64") from None
    try:
        return decode(data, name)
    except InputError as exc:
        raise InputError(name, line, f"data[{item!r}]: {exc.diagnostic.message}") from None


def _load_from_secret(secret: YMap, key: tuple[str, str], text: str, name: str) -> AlertmanagerConfig:
    """Parse the embedded config; map error lines back into the Secret file where possible."""
    field, item = key
    holder = secret[field]
    key_line = holder.line_of(item)
    offset = key_line if field == "stringData" and _is_literal_block(text, key_line) else None
    embedded = _secret_text(secret, key, name)
    try:
        config = _build_config_text(embedded, name)
    except InputError as exc:
        inner = exc.diagnostic
        where = f'{field}["{item}"]'
        if offset is not None and inner.line > 0:
            raise InputError(name, offset + inner.line, f"{inner.message} (in {where})") from None
        raise InputError(name, key_line, f"{inner.message} (line {inner.line} of {where})") from None
    return _relocate(config, lambda line: line + offset if offset is not None else key_line)


def _relocate(config: AlertmanagerConfig, where: Callable[[int], int]) -> AlertmanagerConfig:
    """The same configuration with every line number mapped from the embedded text to the file."""

    def move(node: Route) -> Route:
        return replace(node, line=where(node.line), routes=tuple(move(child) for child in node.routes))

    receivers = {name: replace(r, line=where(r.line)) for name, r in config.receivers.items()}
    rules = tuple(replace(rule, line=where(rule.line)) for rule in config.inhibit_rules)
    return replace(config, route=move(config.route), receivers=receivers, inhibit_rules=rules)


def _is_literal_block(text: str, key_line: int) -> bool:
    """Is the value on this line a literal block scalar (``key: |``), whose lines map 1:1?"""
    lines = text.splitlines()  # the same breaks as libyaml's, for any text it accepted
    if not 0 < key_line <= len(lines):
        return False
    return re.search(r":[ \t]+\|[-+0-9]*[ \t]*(#.*)?$", lines[key_line - 1]) is not None


def _build_config_text(text: str, name: str) -> AlertmanagerConfig:
    documents = load_documents(text, name)
    if not documents:
        raise InputError(name, 1, "empty configuration: no route provided in config")
    value = documents[0].value
    if not isinstance(value, YMap):
        raise InputError(name, documents[0].line, "an Alertmanager configuration must be a mapping")
    return _build_config(value, name)


# --------------------------------------------------------------------------- the configuration


@dataclass(frozen=True, slots=True)
class _Opts:
    """The settings a route passes down to its children (dispatch.RouteOpts)."""

    receiver: str
    group_by: tuple[str, ...]
    group_by_all: bool
    group_wait: float
    group_interval: float
    repeat_interval: float


_ROOT_OPTS = _Opts("", (), False, DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL)


@dataclass(frozen=True, slots=True)
class _Context:
    file: str
    receivers: Mapping[str, Receiver]
    time_intervals: Mapping[str, object]


def _build_config(doc: YMap, file: str) -> AlertmanagerConfig:
    _check_keys(doc, _TOP_KEYS, "the configuration", file)
    _expect_mapping_or_none(doc, "global", file)
    _string_list(doc, "templates", file)
    receivers = _build_receivers(doc, file)
    time_intervals = _build_time_intervals(doc, file)
    inhibit_rules = _build_inhibit_rules(doc, file)
    root = doc.get("route")
    if root is None:
        line = doc.line_of("route") if "route" in doc else doc.line
        raise InputError(file, line, "no route provided in config")
    context = _Context(file, receivers, time_intervals)
    route = _build_root(root, doc.line_of("route"), context)
    return AlertmanagerConfig(file, route, receivers, inhibit_rules, time_intervals)


def _check_keys(node: YMap, allowed: frozenset[str], where: str, file: str) -> None:
    for key in node:
        if key not in allowed:
            raise InputError(file, node.line_of(key), f"unknown key {key!r} in {where}")


# --------------------------------------------------------------------------- receivers


def _build_receivers(doc: YMap, file: str) -> dict[str, Receiver]:
    receivers: dict[str, Receiver] = {}
    items = _sequence(doc, "receivers", file)
    for index, item in enumerate(items):
        line = items.line_of(index)
        receiver = _build_receiver(item, line, file)
        if receiver.name in receivers:
            raise InputError(file, line, f"notification config name {receiver.name!r} is not unique")
        receivers[receiver.name] = receiver
    return receivers


def _build_receiver(item: object, line: int, file: str) -> Receiver:
    if not isinstance(item, YMap):
        raise InputError(file, line, "a receiver must be a mapping")
    integrations: list[str] = []
    for key, value in item.items():
        if key == "name":
            continue
        if not key.endswith("_configs"):
            raise InputError(file, item.line_of(key), f"unknown key {key!r} in receiver")
        if value is not None and not isinstance(value, YSeq):
            raise InputError(file, item.line_of(key), f"{key} must be a list")
        if value:  # an empty list sends nothing
            integrations.append(key.removesuffix("_configs"))
    name = _string(item, "name", file)
    if not name:
        raise InputError(file, item.line, "missing name in receiver")
    return Receiver(name, tuple(dict.fromkeys(integrations)), item.line)


# --------------------------------------------------------------------------- time intervals


def _build_time_intervals(doc: YMap, file: str) -> dict[str, object]:
    """Names -> raw definitions, from ``time_intervals`` and the legacy ``mute_time_intervals``."""
    found: dict[str, object] = {}
    for key in ("mute_time_intervals", "time_intervals"):
        items = _sequence(doc, key, file)
        for index, item in enumerate(items):
            line = items.line_of(index)
            if not isinstance(item, YMap):
                raise InputError(file, line, f"an entry of {key} must be a mapping")
            _check_keys(item, _TIME_INTERVAL_KEYS, f"an entry of {key}", file)
            name = _string(item, "name", file)
            if not name:
                raise InputError(file, line, f"missing name in {key.removesuffix('s').replace('_', ' ')}")
            if name in found:
                raise InputError(file, line, f"time interval {name!r} is not unique")
            found[name] = _sequence(item, "time_intervals", file)
    return found


# --------------------------------------------------------------------------- inhibit rules


def _build_inhibit_rules(doc: YMap, file: str) -> tuple[InhibitRule, ...]:
    items = _sequence(doc, "inhibit_rules", file)
    rules = []
    for index, item in enumerate(items):
        if not isinstance(item, YMap):
            raise InputError(file, items.line_of(index), "an inhibit rule must be a mapping")
        _check_keys(item, _INHIBIT_KEYS, "an inhibit rule", file)
        _string(item, "name", file)
        source = _matchers_of(item, "source_match", "source_match_re", "source_matchers", file)
        target = _matchers_of(item, "target_match", "target_match_re", "target_matchers", file)
        equal = _label_names(item, "equal", file)
        rules.append(InhibitRule(source, target, equal, item.line))
    return tuple(rules)


# --------------------------------------------------------------------------- routes


def _build_root(node: object, line: int, context: _Context) -> Route:
    file = context.file
    if not isinstance(node, YMap):
        raise InputError(file, line, "route must be a mapping")
    if not _string(node, "receiver", file):
        raise InputError(file, node.line, "root route must specify a default receiver")
    if _bool(node, "continue", file):
        raise InputError(file, node.line_of("continue"), "cannot have continue in root route")
    route = _build_route(node, line, _ROOT_OPTS, (), context)
    route = replace(route, line=line)  # the `route:` key, not the first key under it
    if route.matchers:
        key = next(k for k in ("match", "match_re", "matchers") if node.get(k))
        raise InputError(file, node.line_of(key), "root route must not have any matchers")
    for key in ("mute_time_intervals", "active_time_intervals"):
        if node.get(key):
            kind = key.removesuffix("s").replace("_", " ")
            raise InputError(file, node.line_of(key), f"root route must not have any {kind}s")
    return route


def _build_route(node: object, line: int, parent: _Opts, path: tuple[int, ...], context: _Context) -> Route:
    """One route and its subtree, with settings inherited as dispatch.NewRoute does."""
    file = context.file
    if not isinstance(node, YMap):
        raise InputError(file, line, "a route must be a mapping")
    _check_keys(node, _ROUTE_KEYS, "route", file)
    _expect_mapping_or_none(node, "labels", file)
    matchers = _matchers_of(node, "match", "match_re", "matchers", file)
    opts = _route_opts(node, parent, context)
    mute = _time_interval_refs(node, "mute_time_intervals", context)
    active = _time_interval_refs(node, "active_time_intervals", context)
    children = _sequence(node, "routes", file)
    routes = tuple(
        _build_route(child, children.line_of(index), opts, path + (index,), context)
        for index, child in enumerate(children)
    )
    group_by = (GROUP_BY_ALL,) if opts.group_by_all else (opts.group_by or None)
    return Route(
        receiver=opts.receiver,
        matchers=matchers,
        continue_=_bool(node, "continue", file),
        group_by=group_by,
        group_wait=opts.group_wait,
        group_interval=opts.group_interval,
        repeat_interval=opts.repeat_interval,
        mute_time_intervals=mute,  # not inherited: NewRoute copies them from this route only
        active_time_intervals=active,
        routes=routes,
        line=node.line,
        path=path,
    )


def _route_opts(node: YMap, parent: _Opts, context: _Context) -> _Opts:
    file = context.file
    receiver = _string(node, "receiver", file)
    if receiver and receiver not in context.receivers:
        raise InputError(file, node.line_of("receiver"), f"undefined receiver {receiver!r} used in route")
    labels, by_all = _group_by(node, file)
    if labels:  # a list of labels replaces the parent's and turns "..." off
        group_by, group_by_all = labels, False
    else:  # [] or absent inherits; ["..."] adds "all" on top of what is inherited
        group_by, group_by_all = parent.group_by, parent.group_by_all or by_all
    wait = _duration(node, "group_wait", file, allow_zero=True)
    interval = _duration(node, "group_interval", file, allow_zero=False)
    repeat = _duration(node, "repeat_interval", file, allow_zero=False)
    return _Opts(
        receiver=receiver or parent.receiver,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=parent.group_wait if wait is None else wait,
        group_interval=parent.group_interval if interval is None else interval,
        repeat_interval=parent.repeat_interval if repeat is None else repeat,
    )


def _group_by(node: YMap, file: str) -> tuple[tuple[str, ...], bool]:
    """(label names, group by all) as config.Route.UnmarshalYAML reads ``group_by``."""
    items = _sequence(node, "group_by", file)
    labels: list[str] = []
    by_all = False
    for index, item in enumerate(items):
        line = items.line_of(index)
        label = _scalar_text(item, file, line, "group_by")
        if label == GROUP_BY_ALL:
            by_all = True
        elif not _LABEL_NAME.fullmatch(label):
            raise InputError(file, line, f"invalid label name {label!r} in group_by list")
        elif label in labels:
            raise InputError(file, line, f"duplicated label {label!r} in group_by")
        else:
            labels.append(label)
    if labels and by_all:
        message = "cannot have wildcard group_by (`...`) and other labels at the same time"
        raise InputError(file, node.line_of("group_by"), message)
    return tuple(labels), by_all


def _time_interval_refs(node: YMap, key: str, context: _Context) -> tuple[str, ...]:
    names = _string_list(node, key, context.file)
    for name in names:
        if name not in context.time_intervals:
            message = f"undefined time interval {name!r} used in route"
            raise InputError(context.file, node.line_of(key), message)
    return names


# --------------------------------------------------------------------------- matchers in YAML


def _matchers_of(
    node: YMap, match_key: str, re_key: str, list_key: str, file: str
) -> tuple[LabelMatcher, ...]:
    """Legacy equality and regex maps plus ``matchers`` strings, as one tuple (order kept)."""
    found: list[LabelMatcher] = []
    for name, value, line in _label_map(node, match_key, file):
        found.append(LabelMatcher(name, MatchOp.EQ, _scalar_text(value, file, line, match_key)))
    for name, value, line in _label_map(node, re_key, file):
        if value is None:
            raise InputError(file, line, f"invalid regexp value for {name!r}")
        found.append(_matcher_or_error(name, MatchOp.RE, _scalar_text(value, file, line, re_key), file, line))
    items = _sequence(node, list_key, file)
    for index, item in enumerate(items):
        line = items.line_of(index)
        text = "" if item is None else _scalar_text(item, file, line, list_key)
        try:
            found.extend(parse_matchers(text))
        except ValueError as exc:
            raise InputError(file, line, str(exc)) from None
    return tuple(found)


def _label_map(node: YMap, key: str, file: str) -> list[tuple[str, object, int]]:
    value = node.get(key)
    if value is None:
        return []
    if not isinstance(value, YMap):
        raise InputError(file, node.line_of(key), f"{key} must be a mapping of label names to values")
    entries = []
    for name, item in value.items():
        line = value.line_of(name)
        if not _LABEL_NAME.fullmatch(name):
            raise InputError(file, line, f"invalid label name {name!r}")
        entries.append((name, item, line))
    return entries


def _matcher_or_error(name: str, op: MatchOp, value: str, file: str, line: int) -> LabelMatcher:
    try:
        return new_matcher(name, op, value)
    except ValueError as exc:
        raise InputError(file, line, str(exc)) from None


def _label_names(node: YMap, key: str, file: str) -> tuple[str, ...]:
    names = _string_list(node, key, file)
    for index, name in enumerate(names):
        if not _LABEL_NAME.fullmatch(name):
            line = node[key].line_of(index)
            raise InputError(file, line, f"{name!r} is not a valid label name")
    return names


# --------------------------------------------------------------------------- scalar coercion
# Every scalar arrives as the text the author wrote; coerce per field as gopkg.in/yaml.v2 would.


def _scalar_text(value: object, file: str, line: int, what: str) -> str:
    if value is None:
        return ""  # yaml.v2 decodes null into a string field as ""
    if isinstance(value, str):
        return value
    raise InputError(file, getattr(value, "line", line), f"{what}: expected a string, not {_show(value)}")


def _string(node: YMap, key: str, file: str) -> str:
    return _scalar_text(node.get(key), file, node.line_of(key), key)


def _bool(node: YMap, key: str, file: str) -> bool:
    value = node.get(key)
    if value is None:
        return False
    if not isinstance(value, str):
        raise InputError(file, node.line_of(key), f"{key}: expected true or false, not {_show(value)}")
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(file, node.line_of(key), f"{key}: expected true or false, not {_show(value)}")


def _duration(node: YMap, key: str, file: str, allow_zero: bool) -> float | None:
    value = node.get(key)
    if value is None:
        return None
    text = _scalar_text(value, file, node.line_of(key), key)
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise InputError(file, node.line_of(key), f'{key}: not a valid duration string: "{text}"') from None
    if seconds == 0 and not allow_zero:
        raise InputError(file, node.line_of(key), f"{key} cannot be zero")
    return seconds


def _sequence(node: YMap, key: str, file: str) -> YSeq:
    value = node.get(key)
    if value is None:
        return YSeq(line=node.line)
    if not isinstance(value, YSeq):
        raise InputError(file, node.line_of(key), f"{key} must be a list, not {_show(value)}")
    return value


def _string_list(node: YMap, key: str, file: str) -> tuple[str, ...]:
    items = _sequence(node, key, file)
    return tuple(_scalar_text(item, file, items.line_of(index), key) for index, item in enumerate(items))


def _expect_mapping_or_none(node: YMap, key: str, file: str) -> None:
    value = node.get(key)
    if value is not None and not isinstance(value, YMap):
        raise InputError(file, node.line_of(key), f"{key} must be a mapping, not {_show(value)}")


def _show(value: object) -> str:
    if isinstance(value, YSeq):
        return "a list"
    if isinstance(value, YMap):
        return "a mapping"
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")
