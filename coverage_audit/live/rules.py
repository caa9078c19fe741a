"""Rule sources behind one protocol: rule files, a Prometheus-compatible rules API (Prometheus,
Thanos Query/Ruler, Mimir, Cortex), and the Mimir/Cortex ruler configuration API.

Each source says whether it needs a live server, so ``--offline`` is one filter. Every source
yields the same ``model.Rule`` objects, built by the file loader's ``build_rule``; the rules of
all sources are merged so that a rule present in a file and on a server is one rule, with the
file's location.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Hashable, Protocol, Sequence

from ..loaders.rules import RuleLoad, build_rule, load_groups, load_rules, valid_label_name
from ..model import Diagnostic, InputError, Rule, RuleKind
from ..promql import Aggregate, Binary, Call, Expr, Selector, Subquery, Unary
from ..yamlio import YMap, load_documents
from .prometheus import PrometheusClient
from .transport import LiveError


class RuleSource(Protocol):
    """Where rules come from. ``live``: it needs a running server (``--offline`` skips the live
    sources the config file names); ``from_config``: named in the config file, not by a flag."""

    name: str
    live: bool
    from_config: bool

    def load(self) -> RuleLoad: ...


@dataclass
class FileRules:
    paths: Sequence[str]
    jobs: int | None = None
    name: str = "rule files"
    live: bool = False
    from_config: bool = False

    def load(self) -> RuleLoad:
        return load_rules(self.paths, jobs=self.jobs)


@dataclass
class PrometheusRules:
    """``/api/v1/rules`` (JSON), as Prometheus, Thanos, Mimir and Cortex serve it."""

    client: PrometheusClient
    from_config: bool = False
    live: bool = True
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.client.url + "/api/v1/rules"

    def load(self) -> RuleLoad:
        out = RuleLoad()
        try:
            groups = self.client.rule_groups()
        except LiveError as exc:
            out.errors.append(exc.diagnostic)
            return out
        rules_from_api(groups, self.name, out)
        return out


@dataclass
class RulerRules:
    """The Mimir/Cortex ruler configuration API: ``{namespace: [group, ...]}`` as YAML, the rule
    groups exactly as written (``for:`` durations, labels, ``source_tenants``)."""

    client: PrometheusClient
    api: str  # mimir_ruler | cortex_ruler
    from_config: bool = False
    live: bool = True
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.client.url + ("/config/v1/rules" if self.api == "mimir_ruler" else "/api/v1/rules")

    def load(self) -> RuleLoad:
        out = RuleLoad()
        try:
            url, text = self.client.ruler_config(self.api)
        except LiveError as exc:
            out.errors.append(exc.diagnostic)
            return out
        self.name = url
        rules_from_ruler_yaml(text, url, out)
        return out


def active(sources: Sequence[RuleSource], offline: bool) -> list[RuleSource]:
    """``--offline``: every live source the config file names is left out (flags still count)."""
    return [s for s in sources if not (offline and s.live and s.from_config)]


# --------------------------------------------------------------------------- API answers


def rules_from_api(groups: list[Any], url: str, out: RuleLoad) -> None:
    """Prometheus ``/api/v1/rules`` groups into ``out``: each rule is built by the same code
    as a file's, its location the URL (line 0) and its group the served group's name. A
    malformed entry is one error naming the group, and the rest still loads."""
    out.rule_files.append(url)
    for position, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str) or not isinstance(group.get("rules"), list):
            out.errors.append(Diagnostic(url, 0, f"group #{position + 1} has no name or no rules list; left out"))
            continue
        name = group["name"]
        interval = _seconds(group.get("interval"))
        # Thanos marks its groups with a partial response strategy (ABORT or WARN).
        source = "thanos" if "partialResponseStrategy" in group else "prometheus-api"
        offset = _seconds(group.get("queryOffset")) or 0.0
        for item in group["rules"]:
            rule = _api_rule(item, name, url, source, interval or None, offset, out)
            if rule is not None:
                out.rules.append(rule)


def _api_rule(item: Any, group: str, url: str, source: str, interval: float | None, offset: float, out: RuleLoad) -> Rule | None:
    where = f"group {group!r}"
    if not isinstance(item, dict):
        out.errors.append(Diagnostic(url, 0, f"{where}: a rule that is not an object; left out"))
        return None
    kind: RuleKind | None = {"alerting": "alert", "recording": "record"}.get(str(item.get("type")))  # type: ignore[assignment]
    name, expr = item.get("name"), item.get("query")
    if kind is None or not isinstance(name, str) or not name or not isinstance(expr, str) or not expr.strip():
        out.errors.append(Diagnostic(url, 0, f"{where}: a rule without a type, name or query; left out"))
        return None
    labels = _string_map(item.get("labels"), f"{where}, {kind} {name!r}: labels", url, out, check_names=True)
    annotations = _string_map(item.get("annotations"), f"{where}, {kind} {name!r}: annotations", url, out, check_names=False)
    return build_rule(
        kind,
        name,
        expr,
        group=group,
        file=url,
        line=0,
        source=source,
        interval=interval,
        query_offset=offset,
        for_seconds=_seconds(item.get("duration")) or 0.0,
        keep_firing_for=_seconds(item.get("keepFiringFor")) or 0.0,
        labels=labels,
        annotations=annotations,
        errors=out.errors,
        expr_line=0,
    )


def rules_from_ruler_yaml(text: str, url: str, out: RuleLoad) -> None:
    """The ruler configuration API's YAML: a mapping of namespace to a list of groups, each a
    rule file's group. Each namespace's rules carry the namespace's own URL as their file."""
    try:
        documents = load_documents(text, url)
    except InputError as exc:
        out.errors.append(exc.diagnostic)
        return
    for document in documents:
        value = document.value
        if value is None:
            continue
        if not isinstance(value, YMap):
            out.errors.append(Diagnostic(url, document.line, "expected a mapping of namespace to rule groups"))
            continue
        for namespace, groups in value.items():
            location = f"{url}/{namespace}"
            out.rule_files.append(location)
            part = RuleLoad()
            load_groups(groups, value.line_of(namespace), location, "mimir", part)
            out.extend(part)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return float(value)


def _string_map(value: object, what: str, url: str, out: RuleLoad, check_names: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        out.errors.append(Diagnostic(url, 0, f"{what} must be an object of strings"))
        return {}
    result: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(text, str) or (check_names and not valid_label_name(str(key))):
            out.errors.append(Diagnostic(url, 0, f"{what}: {str(key)[:60]!r} is not a valid string entry; left out"))
            continue
        result[str(key)] = text
    return result


# --------------------------------------------------------------------------- merging


@dataclass
class MergedRules:
    load: RuleLoad
    differing: list[str]  # the same alert or recording, defined differently on a server


def merge(loads: Sequence[tuple[RuleSource, RuleLoad]]) -> MergedRules:
    """One rule set from every source, files first. A rule that another source already gave
    (same kind, group, name, expression — compared parsed, since servers print expressions in
    their own canonical form — and labels) is dropped; the first (a file's) keeps its file:line.
    Labels a server adds to every one of its rules (Thanos Query's external labels) are left out
    of the comparison."""
    result = RuleLoad()
    seen: set[Hashable] = set()
    by_name: dict[tuple[str, str, str], Rule] = {}
    differing: list[str] = []
    for source, load in loads:
        external = _shared_labels(load.rules) if source.live else frozenset()
        kept = []
        for rule in load.rules:
            key = _key(rule, frozenset())
            # Thanos Query adds its external labels to every rule it serves: the rule in the
            # file, without them, is still the same rule.
            if key in seen or (external and _key(rule, external) in seen):
                continue
            seen.add(key)
            kept.append(rule)
            first = by_name.setdefault((rule.kind, rule.group, rule.name), rule)
            if first is not rule and source.live:
                differing.append(
                    f"{rule.kind} {rule.name!r} in group {rule.group!r} differs between {first.location} and {source.name}"
                )
        result.rules.extend(kept)
        result.errors.extend(load.errors)
        result.skipped.extend(load.skipped)
        result.rule_files.extend(load.rule_files)
        result.files += load.files
    return MergedRules(result, differing)


def _key(rule: Rule, external: frozenset[tuple[str, str]]) -> Hashable:
    expression: Hashable = canonical(rule.query.ast) if rule.query is not None else " ".join(rule.expr.split())
    labels = frozenset(item for item in rule.labels.items() if item not in external)
    return (rule.kind, rule.group, rule.name, expression, labels)


def _shared_labels(rules: list[Rule]) -> frozenset[tuple[str, str]]:
    """Label pairs every rule of a server carries (two rules or more): external labels."""
    if len(rules) < 2:
        return frozenset()
    shared = set(rules[0].labels.items())
    for rule in rules[1:]:
        shared &= set(rule.labels.items())
        if not shared:
            break
    return frozenset(shared)


def canonical(expr: Expr) -> Expr:
    """An expression as servers print it back: parentheses and spacing are already gone from the
    parsed form; Prometheus also sorts a selector's matchers by label name."""
    if isinstance(expr, Selector):
        return Selector(expr.metric, tuple(sorted(expr.matchers, key=lambda m: (m.name, m.op.value, m.value))), expr.range, expr.offset)
    if isinstance(expr, Binary):
        return replace(expr, lhs=canonical(expr.lhs), rhs=canonical(expr.rhs))
    if isinstance(expr, Call):
        return replace(expr, args=tuple(canonical(a) for a in expr.args))
    if isinstance(expr, Aggregate):
        return replace(expr, expr=canonical(expr.expr), param=canonical(expr.param) if expr.param is not None else None)
    if isinstance(expr, (Unary, Subquery)):
        return replace(expr, expr=canonical(expr.expr))
    return expr
