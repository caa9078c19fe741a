"""Prometheus alerting and recording rules, from every format teams keep them in.

* plain Prometheus rule files (``groups: [...]``), which Thanos, Mimir and Cortex rulers read too
  (with extra keys such as ``partial_response_strategy`` or ``source_tenants``);
* Kubernetes ``PrometheusRule`` objects (rules under ``spec.groups``), several per file, and
  ``kind: List`` wrappers holding them;
* Grafana-managed alert rules in Grafana's provisioning files (``apiVersion: 1``), which
  ``grafana`` translates.

A folder is walked for ``*.yml`` / ``*.yaml``. YAML that is not a rule file (Alertmanager configs,
promtool test files, other manifests) is skipped and counted. A file that is not valid YAML, or a
rule that is malformed, becomes a Diagnostic with file and line, and loading goes on.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from .. import background, promql
from . import grafana
from ..cache import Cache, code_fingerprint, make_key
from ..durations import parse_duration
from ..gcpause import paused_gc
from ..sharing import share_forked, worker_count
from ..model import Diagnostic, InputError, Rule, RuleKind, Skipped, shared_mapping
from ..yamlio import YMap, YSeq, decode, load_documents, read_bytes, unknown_keys
from .discovery import YAML_SUFFIXES, find_files

PARALLEL_FROM_FILES = 48  # below this, starting worker processes costs more than it saves

_GROUP_KEYS = frozenset({"name", "interval", "query_offset", "limit", "rules", "labels"})
_THANOS_GROUP_KEYS = frozenset({"partial_response_strategy"})
_MIMIR_GROUP_KEYS = frozenset(
    {"source_tenants", "evaluation_delay", "align_evaluation_time_with_interval"}
)
_ANY_GROUP_KEYS = _GROUP_KEYS | _THANOS_GROUP_KEYS | _MIMIR_GROUP_KEYS
_RULE_KEYS = frozenset({"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"})
# Prometheus 3 accepts any UTF-8 metric and label name; a name that carries selector syntax
# (``x{a="b"}``) is still refused, as promtool refuses it.
_BAD_NAME_CHARS = re.compile(r'[{}"\n\r]')


@dataclass(slots=True)
class RuleLoad:
    """Everything read from the rule inputs: rules, what went wrong, and what was not rules."""

    rules: list[Rule] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    rule_files: list[str] = field(default_factory=list)  # files that are rule files (even empty)
    files: int = 0  # files read
    # With a cache: one key for every file read (each file's cache key, in order) and every
    # path that was missing, for an entry built from the whole load (say, the expanded rule
    # set, keyed by this and the settings); None without a cache or when a file was unreadable.
    content_key: str | None = None

    def extend(self, other: "RuleLoad") -> None:
        self.rules.extend(other.rules)
        self.errors.extend(other.errors)
        self.skipped.extend(other.skipped)
        self.rule_files.extend(other.rule_files)
        self.files += other.files


# --------------------------------------------------------------------------- discovery


def discover(paths: Iterable[str], suffixes: tuple[str, ...] = YAML_SUFFIXES) -> list[str]:
    """Files named directly, and the YAML files under named folders (sorted, hidden skipped)."""
    return find_files(paths, suffixes).files


# --------------------------------------------------------------------------- loading


def load_rules(
    paths: Sequence[str], jobs: int | None = None, cache: Cache | None = None, meanwhile: Callable[[], object] | None = None
) -> RuleLoad:
    """Load every rule file under ``paths``; files that do not exist are errors, not crashes.

    Large sets are loaded by ``jobs`` processes (default: one per CPU), this one included. With
    a ``cache``, a file whose bytes were parsed before (by this version of the code) is not
    parsed again; what is loaded is the same either way. ``meanwhile()``, the caller's other
    work, is done here once, while worker processes start parsing (first, when there are none)."""
    result = RuleLoad()
    found = find_files(paths)
    files = found.files
    result.errors.extend(found.errors)
    workers = worker_count(jobs)
    with paused_gc():
        loaded = _load_files(files, workers, cache, meanwhile)
    for load, _ in loaded:
        result.extend(load)
    keys = [key for _, key in loaded]
    if cache is not None and None not in keys:
        parts = [f"unreadable\0{error}" for error in found.errors] + [f"{path}\0{key}" for path, key in zip(files, keys)]
        result.content_key = make_key(*parts)
    return result


Keyed = tuple["RuleLoad", "str | None"]  # a file's load and its cache key (None: no cache, or unreadable)


def _load_files(files: list[str], workers: int, cache: Cache | None, meanwhile: Callable[[], object] | None) -> list[Keyed]:
    """Each file's load, in the order of ``files``: cached ones from the cache, the others
    parsed (by several processes when there are many) and stored for the next run."""
    loads: dict[str, Keyed] = {}
    todo = files
    if cache is not None and cache.holds(RULE_FILES):  # else each file is read and keyed once, by its parser
        todo = []
        for path in files:
            hit = _cached(path, cache)
            if hit is None:
                todo.append(path)
            else:
                loads[path] = hit
    if workers > 1 and len(todo) >= PARALLEL_FROM_FILES:
        parsed = _load_in_parallel(todo, workers, cache, meanwhile)
    else:
        if meanwhile is not None:
            meanwhile()
        parsed = [_load_and_store(path, cache) for path in todo]
    loads.update(zip(todo, parsed))
    return [loads[path] for path in files]


def _cached(path: str, cache: Cache) -> Keyed | None:
    try:
        data = read_bytes(path)
    except InputError:
        return None  # parsed (and reported) the usual way
    key = file_key(path, data)
    hit = cache.get(RULE_FILES, key)
    return (hit, key) if isinstance(hit, RuleLoad) else None


def _load_and_store(path: str, cache: Cache | None) -> Keyed:
    """One file, stored in the cache under the key of the very bytes that were parsed."""
    load, key = _load_keyed(path, cache is not None)
    if cache is not None and key is not None:
        cache.put(RULE_FILES, key, load)
    return load, key


def _load_keyed(path: str, keyed: bool) -> Keyed:
    """One file's load, with its cache key when ``keyed``; an unreadable file has no bytes to
    key (None) and is not stored."""
    try:
        data = read_bytes(path)
    except InputError as exc:
        return RuleLoad(errors=[exc.diagnostic], files=1), None
    return parse_rule_file(path, data), file_key(path, data) if keyed else None


Chunk = tuple[list[bytes], list["str | None"]]  # each file's load pickled, and its cache key


def _load_chunk(files: list[str], keyed: bool) -> Chunk:
    """A worker's chunk, pickled per file: those bytes are both what the parent receives
    (wrapped, not pickled again) and the cache entries."""
    blobs, keys = [], []
    for path in files:
        load, key = _load_keyed(path, keyed)
        blobs.append(pickle.dumps(load, pickle.HIGHEST_PROTOCOL))  # an unreadable file's too: its error
        keys.append(key)
    return blobs, keys


CHUNKS_PER_PROCESS = 32  # finer chunks balance better (the last one leaves the other process idle); each costs a round trip


def _load_in_parallel(files: list[str], workers: int, cache: Cache | None, meanwhile: Callable[[], object] | None) -> list[Keyed]:
    """Files are independent: contiguous chunks of them are shared with forked workers
    (``sharing.share_forked``), and put back in order, so the result equals a serial load."""
    chunks = _split_by_size(files, [1.0] * (workers * CHUNKS_PER_PROCESS))  # one: done here
    unwritten: list[tuple[str, bytes]] = []  # a worker's entries, written once it has sent its last chunk

    def collect(index: int, data: bytes) -> list[Keyed]:
        """Unpickle a worker's chunk (while this process still has chunks of its own to parse)."""
        blobs, keys = pickle.loads(data)
        return [(pickle.loads(blob), key) for blob, key in zip(blobs, keys)]

    def here(index: int) -> list[Keyed]:
        """Parse a chunk here; its entries are pickled and written later, by a forked child
        (``background``), while this process expands and judges."""
        loads = [_load_keyed(path, cache is not None) for path in chunks[index]]
        if cache is not None:
            background.later(functools.partial(_store, cache, [(key, load) for load, key in loads if key is not None]))
        return loads

    def there(index: int) -> bytes:
        """A worker's chunk. Its entries wait until the worker has parsed its last chunk: writing
        them here held the parse up (making ~450 files: 0.1-0.3 s of GitLab.com's)."""
        blobs, keys = _load_chunk(chunks[index], cache is not None)
        unwritten.extend((key, blob) for key, blob in zip(keys, blobs) if key is not None)
        return pickle.dumps((blobs, keys), pickle.HIGHEST_PROTOCOL)

    def linger() -> None:
        """The worker's entries; a failed write is told from here (``Cache.tell``), as this
        process has told its own warnings by then."""
        assert cache is not None
        for key, blob in unwritten:
            cache.put_bytes(RULE_FILES, key, blob)
        if cache.warnings and cache.tell is not None:
            cache.tell(cache.warnings[0])

    loads = share_forked(len(chunks), workers, here, there, collect, meanwhile=meanwhile, linger=linger if cache is not None else None)
    return [load for chunk in loads for load in chunk]


def _store(cache: Cache, loads: list[tuple[str, RuleLoad]]) -> None:
    for key, load in loads:
        cache.put(RULE_FILES, key, load)


def _split_by_size(files: list[str], weights: list[float]) -> list[list[str]]:
    """Contiguous shares whose byte sizes follow ``weights`` (fewer when files run out)."""
    sizes = [_size(path) for path in files]
    targets = [sum(sizes) * w / sum(weights) for w in weights]
    shares: list[list[str]] = [[]]
    filled = 0.0
    for path, size in zip(files, sizes):
        if filled >= targets[len(shares) - 1] and len(shares) < len(weights):
            shares.append([])
            filled = 0.0
        shares[-1].append(path)
        filled += size
    return shares


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:  # gone since discovery: its read reports it
        return 0


# --------------------------------------------------------------------------- the cache

RULE_FILES = "rule-files"  # the cache's kind for one file's RuleLoad


def file_key(path: str, data: bytes) -> str:
    """The cache key of one rule file: the code that parses it, its path (rules and
    diagnostics carry it) and its bytes."""
    return make_key(_fingerprint(), path, data)


@functools.lru_cache(maxsize=1)
def _fingerprint() -> str:
    from .. import __version__, durations, model, yamlio
    from . import discovery, grafana_expressions

    return code_fingerprint(
        [sys.modules[__name__], yamlio, promql, model, durations, grafana, grafana_expressions, discovery],
        __version__, promql.parser_version(), yamlio.YAML_VERSION,
    )


# --------------------------------------------------------------------------- one file


def load_rule_file(path: str) -> RuleLoad:
    """One file: its rules, or why not. Never raises for bad content."""
    try:
        data = read_bytes(path)
    except InputError as exc:
        return RuleLoad(errors=[exc.diagnostic], files=1)
    return parse_rule_file(path, data)


def parse_rule_file(path: str, data: bytes) -> RuleLoad:
    """The rules in a file's bytes, or why there are none. Never raises for bad content."""
    result = RuleLoad(files=1)
    try:
        documents = load_documents(decode(data, path), path)
    except InputError as exc:
        result.errors.append(exc.diagnostic)
        return result
    reasons = []
    for document in documents:
        reason = _load_document(document.value, path, result)
        if reason:
            reasons.append(reason)
    if not documents:
        result.skipped.append(Skipped(path, "empty file"))
    elif len(reasons) == len(documents):
        result.skipped.append(Skipped(path, reasons[0]))
    else:
        result.rule_files.append(path)
    return result


def _load_document(value: object, path: str, out: RuleLoad) -> str | None:
    """Load a document's rules into ``out``; return why it holds no rules, if it does not."""
    if not isinstance(value, YMap):
        return "not a rule file (the document is not a mapping)"
    if grafana.is_provisioning(value):
        reason = grafana.provisioning_reason(value)
        if reason is None:
            rules, errors = grafana.load_provisioning(value, path)
            out.rules.extend(rules)
            out.errors.extend(errors)
        return reason
    if "groups" in value:
        source = "mimir" if "namespace" in value else "prometheus"
        _unknown_keys(value, ("groups", "namespace"), "a rule file", path, out, "top-level key")
        load_groups(value["groups"], value.line_of("groups"), path, source, out)
        return None
    kind = value.get("kind")
    if kind == "PrometheusRule":
        spec = value.get("spec")
        if not isinstance(spec, YMap):
            _error(out, path, value.line, "PrometheusRule without a 'spec' mapping")
            return None
        load_groups(spec.get("groups"), spec.line_of("groups"), path, "prometheusrule", out)
        return None
    if kind in ("List", "PrometheusRuleList") and isinstance(value.get("items"), YSeq):
        held = [_load_document(item, path, out) for item in value["items"]]
        return None if any(reason is None for reason in held) else "a List without PrometheusRule items"
    if "rule_files" in value or "tests" in value:
        return "promtool unit-test file"
    if "route" in value or "receivers" in value:
        return "Alertmanager configuration"
    if isinstance(kind, str):
        return f"Kubernetes {kind}, not a PrometheusRule"
    return "not a rule file (no 'groups')"


def load_groups(groups: object, line: int, path: str, source: str, out: RuleLoad) -> None:
    """A rule file's ``groups`` list (or a Mimir/Cortex ruler namespace's) into ``out``."""
    if groups is None:
        return
    if not isinstance(groups, YSeq):
        _error(out, path, line, "'groups' must be a list")
        return
    seen: dict[str, int] = {}
    for index, group in enumerate(groups):
        if not isinstance(group, YMap):
            _error(out, path, groups.line_of(index), "a group must be a mapping")
            continue
        name = group.get("name")
        if not isinstance(name, str) or not name:
            _error(out, path, group.line, "group has no name")
            name = ""
        elif name in seen:
            _error(out, path, group.line, f"group name {name!r} is repeated in the same file (first at line {seen[name]})")
        else:
            seen[name] = group.line
        group_source = source
        for key in group:
            if key in _THANOS_GROUP_KEYS:
                group_source = "thanos"
            elif key in _MIMIR_GROUP_KEYS:
                group_source = "mimir"
        _unknown_keys(group, _ANY_GROUP_KEYS, f"group {name!r}", path, out)
        interval = _duration(group, "interval", path, out)
        offset = _duration(group, "query_offset", path, out) or _duration(group, "evaluation_delay", path, out)
        rules = group.get("rules")
        if rules is None:
            continue
        if not isinstance(rules, YSeq):
            _error(out, path, group.line_of("rules"), f"'rules' of group {name!r} must be a list")
            continue
        for position, item in enumerate(rules):
            if not isinstance(item, YMap):
                _error(out, path, rules.line_of(position), "a rule must be a mapping")
                continue
            rule = _load_rule(item, name, path, group_source, interval, offset or 0.0, out)
            if rule is not None:
                out.rules.append(rule)


def _load_rule(
    item: YMap, group: str, path: str, source: str, interval: float | None, offset: float, out: RuleLoad
) -> Rule | None:
    alert, record = item.get("alert"), item.get("record")
    if (alert is None) == (record is None):
        message = "a rule needs exactly one of 'alert' and 'record'"
        _error(out, path, item.line, message if alert is None else message + ", not both")
        return None
    kind: RuleKind = "alert" if alert is not None else "record"
    name = alert if alert is not None else record
    if not isinstance(name, str) or not name.strip():
        _error(out, path, item.line, f"'{kind}' must be a non-empty string")
        return None
    expr = item.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        _error(out, path, item.line, f"{kind} {name!r} has no 'expr'")
        return None
    _unknown_keys(item, _RULE_KEYS, f"{kind} {name!r}", path, out)
    if kind == "record":
        if _BAD_NAME_CHARS.search(name):
            _error(out, path, item.line_of("record"), f"invalid recording rule name {name!r}")
        for key in ("for", "keep_firing_for", "annotations"):
            if key in item:
                _error(out, path, item.line_of(key), f"'{key}' is not allowed on recording rule {name!r}")
    return build_rule(
        kind,
        name,
        expr,
        group=group,
        file=path,
        line=item.line,
        source=source,
        interval=interval,
        query_offset=offset,
        for_seconds=_duration(item, "for", path, out) or 0.0,
        keep_firing_for=_duration(item, "keep_firing_for", path, out) or 0.0,
        labels=_string_map(item, "labels", path, out, check_names=True),
        annotations=_string_map(item, "annotations", path, out, check_names=False),
        errors=out.errors,
        expr_line=lambda: item.line_of("expr"),  # indexing the rule's keys costs: errors only
    )


def build_rule(
    kind: RuleKind,
    name: str,
    expr: str,
    *,
    group: str,
    file: str,
    line: int,
    source: str,
    interval: float | None,
    query_offset: float,
    for_seconds: float,
    keep_firing_for: float,
    labels: dict[str, str],
    annotations: dict[str, str],
    errors: list[Diagnostic],
    expr_line: int | Callable[[], int],
) -> Rule:
    """A rule from fields already read and checked, wherever they came from (a rule file, a
    Prometheus rules API): its expression is parsed here, once, and a parse error is reported
    at ``expr_line`` while the rule is kept (unparsed) for the inventory."""
    try:
        query = promql.parse(expr)
        parse_error = None
    except promql.PromQLError as exc:
        query, parse_error = None, str(exc)
        line = expr_line() if callable(expr_line) else expr_line
        errors.append(Diagnostic(file, line, f"{kind} {name!r}: could not parse expr: {parse_error}"))
    return Rule(
        kind=kind,
        name=sys.intern(name),
        expr=sys.intern(expr),  # copies of a rule share it, as they share the parsed query
        group=group,
        file=file,
        line=line,
        source=source,
        interval=interval,
        query_offset=query_offset,
        for_seconds=for_seconds,
        keep_firing_for=keep_firing_for,
        labels=labels,
        annotations=annotations,
        query=query,
        parse_error=parse_error,
    )


def valid_label_name(name: str) -> bool:
    """Prometheus 3 accepts any UTF-8 label name except one carrying selector syntax."""
    return bool(name) and not _BAD_NAME_CHARS.search(name)


# --------------------------------------------------------------------------- fields


def _error(out: RuleLoad, path: str, line: int, message: str) -> None:
    out.errors.append(Diagnostic(path, line, message))


def _unknown_keys(mapping: YMap, known: frozenset[str] | tuple[str, ...], what: str, path: str, out: RuleLoad, noun: str = "key") -> None:
    """A few unknown keys by name, the rest as a count: 60,000 of them are one file's mistake."""
    shown, more = unknown_keys(mapping, known)
    for key in shown:
        _error(out, path, mapping.line_of(key), f"unknown {noun} {key!r} in {what}")
    if more:
        _error(out, path, mapping.line, f"{more} more unknown {noun}s in {what}")


def _duration(mapping: YMap, key: str, path: str, out: RuleLoad) -> float | None:
    text = mapping.get(key)
    if text is None:
        return None
    if isinstance(text, str):
        try:
            return parse_duration(text)
        except ValueError:
            pass
    _error(out, path, mapping.line_of(key), f"'{key}' is not a valid duration: {text!r}")
    return None


def _string_map(item: YMap, key: str, path: str, out: RuleLoad, check_names: bool) -> dict[str, str]:
    value = item.get(key)
    if value is None:
        return shared_mapping({})
    if not isinstance(value, YMap):
        _error(out, path, item.line_of(key), f"'{key}' must be a mapping of strings")
        return shared_mapping({})
    result = {}
    for name, text in value.items():
        if check_names and (not name or _BAD_NAME_CHARS.search(name)):
            _error(out, path, value.line_of(name), f"invalid label name {name!r}")
        if text is None:
            text = ""
        if not isinstance(text, str):
            _error(out, path, value.line_of(name), f"{key[:-1]} {name!r} must be a string")
            continue
        result[sys.intern(name)] = sys.intern(text)  # the same few labels on thousands of rules
    # A few thousand distinct label and annotation sets between tens of thousands of rules (a
    # mixin's recording rules all carry the same labels, most rules no annotations): one each.
    return shared_mapping(result)
