"""The loaded rules as one set: recording rules expanded, each rule's level known.

An alert on ``job:payments_errors:ratio_rate5m`` really watches the raw metrics behind that
recording rule (and behind the ones it uses in turn). Expansion is memoised per recorded name,
so the work is linear in the size of the rule set; cycles are reported, not followed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Union

from .gcpause import paused_gc
from .levels import LevelClassifier, default_levels
from .loaders.rules import RuleLoad
from .model import Diagnostic, LabelMatcher, Level, MatchOp, Rule, Skipped, literal_pattern
from .promql import Selector
from .sharing import SharedObjects, share_forked


@dataclass(slots=True)
class RuleSet:
    rules: list[Rule]
    records: "RecordIndex"
    raw_metrics: dict[Rule, tuple[str, ...]]  # after transitive expansion, sorted
    levels: dict[Rule, Level]
    errors: list[Diagnostic] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0
    classifier: LevelClassifier = field(default_factory=default_levels)
    recorded_metrics: dict[Selector, tuple[str, ...]] = field(default_factory=dict)  # recorded reads -> raw metrics
    # The files' key (``RuleLoad.content_key``: set only when every file was read with a cache):
    # what is worked out from these very rules may be kept under it for the next run.
    content_key: str | None = None

    def metrics_of(self, selector: Selector) -> tuple[str, ...]:
        """The raw metrics a read reaches: its own name, or what the recordings behind it read."""
        found = self.recorded_metrics.get(selector)
        if found is not None:
            return found
        return (selector.metric,) if selector.metric and selector.metric not in self.records else ()

    @property
    def alerts(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.kind == "alert"]


class RecordIndex:
    """Recording rules by the name they record, and by the labels that identify their series.

    Generated rule sets record one name hundreds of times, told apart by static labels
    (``labels: {type: web}``) or by what they select (every selector of the rule pins
    ``job="web"``): ``x{type="api"}`` reads none of the ``type: web`` rules. The index answers
    "which rules can produce the series this selector picks" without a scan.
    """

    def __init__(self, rules: list[Rule]) -> None:
        self.by_name: dict[str, list[Rule]] = {}
        for rule in rules:
            if rule.kind == "record":
                self.by_name.setdefault(rule.name, []).append(rule)
        self._by_label: dict[tuple[str, str], dict[str, list[Rule]]] = {}
        self._memo: dict[Selector, tuple[Rule, ...]] = {}
        # What a selector reads depends on its name and matchers only: ``x[5m]``, ``x[1h]`` and
        # ``x offset 30s`` (GitLab reads at an offset throughout) are one question, asked once.
        self._found: dict[tuple[str | None, tuple[LabelMatcher, ...]], tuple[Rule, ...]] = {}
        self._rules = rules
        self._position = {id(rule): position for position, rule in enumerate(rules)}
        self._identity: dict[int, dict[str, str]] = {}
        self._pins: dict[Selector, dict[str, str]] = {}
        self._profiles: dict[int, _Profile] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def definitions(self, selector: Selector) -> tuple[Rule, ...]:
        found = self._memo.get(selector)
        if found is None:
            key = (selector.metric, selector.matchers)
            found = self._found.get(key)
            if found is None:
                found = self._found[key] = _distinct(self._find(selector))
            self._memo[selector] = found
        return found

    def learn(self, found: dict[Selector, tuple[Rule, ...]]) -> None:
        """Definitions found before (an expansion from the cache)."""
        self._memo.update(found)

    def find_all(self, selectors: list[Selector], workers: int) -> None:
        """Remember the definitions of many selectors at once, found by this process and
        forked workers together (``sharing.share_forked``): the index only reads the rules, so
        the answers are those ``definitions`` gives one by one, and a worker's come back as
        positions in the rule list both processes hold."""
        unique = questions(selectors)
        chunks = [unique[start : start + _FIND_CHUNK] for start in range(0, len(unique), _FIND_CHUNK)]
        if workers >= 2 and len(chunks) >= 2:
            rules = SharedObjects(self._rules)

            def here(index: int) -> None:
                for selector in chunks[index]:
                    self.definitions(selector)

            def remember(index: int, data: bytes) -> None:
                for selector, found in zip(chunks[index], rules.loads(data)):
                    self._found[(selector.metric, selector.matchers)] = found

            share_forked(len(chunks), workers, here, lambda index: rules.dumps([self.definitions(s) for s in chunks[index]]), remember)
        for selector in selectors:
            self.definitions(selector)

    def identity(self, rule: Rule, depth: int = 0) -> dict[str, str]:
        """Label values every series of the recording carries: its static labels, and the
        values all its selectors pin (a rule reading only ``job="web"`` series), through the
        recording rules those read in turn."""
        found = self._identity.get(id(rule))
        if found is None:
            shared = _common(self.pins(s, depth + 1) for s in (rule.query.selectors if rule.query is not None else ()))
            found = {**shared, **rule.labels}
            if depth < _PIN_DEPTH:  # a cut-off answer pins less: keep it out of the memo
                self._identity[id(rule)] = found
        return found

    def pins(self, selector: Selector, depth: int = 0) -> dict[str, str]:
        """Label values every series a selector reads carries: its own equality matchers, and
        what every recording rule it can read pins."""
        found = self._pins.get(selector)
        if found is not None:
            return found
        own = {m.name: m.value for m in selector.matchers if m.op is MatchOp.EQ}
        if selector.metric in self.by_name and depth < _PIN_DEPTH:
            rules = self.definitions(selector)
            if rules:
                own = {**_common(self.identity(r, depth + 1) for r in rules), **own}
        if depth < _PIN_DEPTH:
            self._pins[selector] = own
        return own

    def _find(self, selector: Selector) -> tuple[Rule, ...]:
        rules = self.by_name.get(selector.metric or "", [])
        if not selector.matchers or len(rules) < 2:
            return tuple(r for r in rules if self._accepts(selector, r))
        candidates: list[Rule] | None = None
        for matcher in selector.matchers:  # narrow with the index on equality matchers first
            if matcher.op is MatchOp.EQ and matcher.value:
                table = self._table(selector.metric or "", matcher.name, rules)
                narrowed = table.get(matcher.value, []) + table.get("", [])  # "" : rule lacks the label
                if candidates is None or len(narrowed) < len(candidates):
                    candidates = narrowed
        if candidates is None:
            return tuple(r for r in rules if self._accepts(selector, r))
        accepted = [r for r in candidates if self._accepts(selector, r)]
        return tuple(sorted(accepted, key=lambda r: self._position[id(r)]))

    def _accepts(self, selector: Selector, rule: Rule) -> bool:
        """The selector's matchers accept the recording's identifying labels. A value read off
        the rule's selectors might not survive its aggregation, so it only rules a recording
        out for matchers that need the label (``job="x"``, not ``job!="x"``). Nor can a value
        the rule's every selector refuses (``type="api"`` against ``type=~"websockets"``: GitLab
        records one name per service, told apart by regex matchers)."""
        profile = self._profiles.get(id(rule))
        if profile is None:
            profile = self._profile(rule)
        for matcher in selector.matchers:
            entry = profile.get(matcher.name)
            if entry is None:
                continue
            value, static, on_label = entry
            if value is not None and not matcher.matches(value) and (static or not matcher.matches("")):
                return False
            if on_label and not _satisfiable((matcher, *on_label)):
                return False
        return True

    def _profile(self, rule: Rule) -> "_Profile":
        """What ``_accepts`` asks of a rule, per label, in one lookup: the value its series carry
        (its static labels, and the equalities all its own selectors share), whether that value
        is a static label, and the matchers all its selectors apply to the label (moot where a
        static label sets it). Only this is kept per rule (a large rule set has 40,000)."""
        selectors = rule.query.selectors if rule.query is not None else ()
        identity = {**_common({m.name: m.value for m in s.matchers if m.op is MatchOp.EQ} for s in selectors), **rule.labels}
        common: set[LabelMatcher] | None = None
        for s in selectors:
            common = set(s.matchers) if common is None else common & set(s.matchers)
        constraints: dict[str, tuple[LabelMatcher, ...]] = {}
        for m in common or ():
            if m.name not in rule.labels:
                constraints[m.name] = constraints.get(m.name, ()) + (m,)
        profile = {label: (identity.get(label), label in rule.labels, constraints.get(label, ())) for label in identity.keys() | constraints.keys()}
        found = self._profiles[id(rule)] = profile or _NO_PROFILE
        return found

    def _table(self, name: str, label: str, rules: list[Rule]) -> dict[str, list[Rule]]:
        table = self._by_label.get((name, label))
        if table is None:
            table = self._by_label[(name, label)] = {}
            for rule in rules:
                table.setdefault(self._key_value(rule, label), []).append(rule)
        return table

    def _key_value(self, rule: Rule, label: str) -> str:
        """The one value the rule's series can carry on ``label``, for the index ("": any, or
        none). Besides equalities, a regex that is a plain literal (GitLab's ``type=~"web"``)
        pins one value: a selector asking for another value is refused by ``_accepts`` anyway."""
        profile = self._profiles.get(id(rule))
        entry = (profile if profile is not None else self._profile(rule)).get(label)
        if entry is None:
            return ""
        value, _, on_label = entry
        if value is not None:
            return value
        for matcher in on_label:
            if matcher.op is MatchOp.RE and literal_pattern(matcher.value):
                return matcher.value
        return ""


def questions(selectors: list[Selector]) -> list[Selector]:
    """Each lookup ``find_all`` makes once, those of one recorded name together: each name's
    label tables and its rules' profiles are then built by one process, not by both (the order
    of first appearance spread every name over both: 0.1 s of the corpus's lookups)."""
    unique = {(s.metric, s.matchers): s for s in selectors}
    return sorted(unique.values(), key=lambda s: s.metric or "")


_Profile = dict[str, tuple["str | None", bool, tuple[LabelMatcher, ...]]]
_NO_PROFILE: _Profile = {}  # most rules: one shared empty profile


_FIND_CHUNK = 256  # selectors per chunk: small enough to balance, large enough to pay a round trip
PARALLEL_FROM_SELECTORS = 4096  # below this, forking a worker costs more than it saves


_PIN_DEPTH = 16  # recording rules on recording rules; real sets use 3-4 levels


@lru_cache(maxsize=65536)
def _satisfiable(matchers: tuple[LabelMatcher, ...]) -> bool:
    """Can one label value pass all these matchers (all on the same label)? Remembered: generated
    rule sets ask the same few questions hundreds of thousands of times."""
    from .analysis.matching import compatible_pair  # analysis builds on this module

    return compatible_pair(matchers, ())


def _common(mappings: Iterable[dict[str, str]]) -> dict[str, str]:
    """The entries all mappings share (none when there are no mappings)."""
    shared: dict[str, str] | None = None
    for mapping in mappings:
        shared = dict(mapping) if shared is None else {k: v for k, v in shared.items() if mapping.get(k) == v}
        if not shared:
            break
    return shared or {}


def _distinct(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """One rule per expression: mixins copied into every team's file define the same recording
    rule many times (perhaps with a different static ``team`` label each), and what a selector
    reads through one copy it reads through them all."""
    seen: dict[str, Rule] = {}
    for rule in rules:
        seen.setdefault(_normalised(rule.expr), rule)
    return tuple(seen.values()) if len(seen) < len(rules) else rules


@lru_cache(maxsize=65536)
def _normalised(expr: str) -> str:
    """The expression with its whitespace normalised (remembered: a rule is asked for often)."""
    return " ".join(expr.split())


def build_ruleset(
    load: RuleLoad,
    levels: LevelClassifier | None = None,
    workers: int = 1,
    known: "Expansion | None" = None,
    looked_up: Callable[[], object] | None = None,
    every: bool = True,
) -> RuleSet:
    """The rule set of what was loaded; with ``workers`` > 1, a large one's recording rules are
    looked up by several processes. ``known``: what expanding this very load found before (the
    cache keeps it), used instead of expanding again when it fits the load. ``looked_up()`` is
    told once the lookups are done and only this process's expansion is left (a caller starts
    a child then, on the core the expansion leaves idle).

    ``every=False``: only the rules alerts read are expanded (``read_by_alerts``; what judging
    asks about): ``raw_metrics`` and ``levels`` then hold the alerts and the recording rules
    they reach, and a recording rule nothing reads is left out (40 % of GitLab.com's)."""
    classifier = levels or default_levels()
    records = RecordIndex(load.rules)
    if known is not None and known.fits(load.rules, every):
        rules, metrics = load.rules, known.metrics
        records.learn({selector: tuple(rules[i] for i in found) for selector, found in zip(known.recorded, known.definitions)})
        raw: dict[_Node, tuple[str, ...]] = {rule: metrics[i] for rule, i in zip(rules, known.raw) if i >= 0}
        raw.update((selector, metrics[i]) for selector, i in zip(known.recorded, known.recorded_raw))
        cycles = list(known.cycles)
    else:
        roots = load.rules if every else read_by_alerts(load.rules, records)
        with paused_gc():
            recorded = _recorded_selectors(roots, records) if workers > 1 else []
            if len(recorded) >= PARALLEL_FROM_SELECTORS:
                records.find_all(recorded, workers)
            if looked_up is not None:
                looked_up()
            raw, cycles = _expand(roots, records)
    expanded = load.rules if every else [rule for rule in load.rules if rule in raw]
    return RuleSet(
        rules=list(load.rules),
        records=records,
        raw_metrics={rule: raw[rule] for rule in expanded},
        levels=_levels(expanded, raw, classifier),
        errors=list(load.errors) + cycles,
        skipped=list(load.skipped),
        files=load.files,
        classifier=classifier,
        recorded_metrics={node: metrics for node, metrics in raw.items() if isinstance(node, Selector)},
        content_key=load.content_key,
    )


def read_by_alerts(rules: list[Rule], records: RecordIndex) -> list[Rule]:
    """The rules a check or a report expands: the alerts, the recording rules whose names they
    read, through recordings, by name (more than their matchers may select: the walk from the
    alerts decides), and the recording rules whose names read each other in a cycle (every cycle
    of rules lies on one, and is reported as when everything is expanded)."""
    reads: dict[str, set[str]] = {}  # a recorded name -> the recorded names its rules read
    for rule in rules:
        if rule.kind == "record" and rule.query is not None:
            reads.setdefault(rule.name, set()).update(m for s in rule.query.selectors if (m := s.metric) is not None and m in records)
    wanted: set[str] = set()
    todo = [m for r in rules if r.kind == "alert" and r.query is not None for s in r.query.selectors if (m := s.metric) is not None and m in records]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(reads.get(name, ()))
    wanted |= _on_cycles(reads)
    return [rule for rule in rules if rule.kind == "alert" or rule.name in wanted]


def _on_cycles(reads: dict[str, set[str]]) -> set[str]:
    """The names on a cycle of the name graph (one reading itself included)."""
    import networkx as nx  # a check or report has it loaded already (impact walks)

    graph = nx.DiGraph()
    graph.add_edges_from((name, read) for name, names in reads.items() for read in names)
    looped = {name for name, names in reads.items() if name in names}
    return looped | {name for component in nx.strongly_connected_components(graph) if len(component) > 1 for name in component}


def _levels(rules: list[Rule], raw: dict["_Node", tuple[str, ...]], classifier: LevelClassifier) -> dict[Rule, Level]:
    """Each rule's level, worked out once per list of raw metrics (rules share a few thousand)."""
    known: dict[tuple[str, ...], Level] = {}
    levels: dict[Rule, Level] = {}
    for rule in rules:
        metrics = raw[rule]
        level = known.get(metrics)
        if level is None:
            level = known[metrics] = classifier.level(metrics)
        levels[rule] = level
    return levels


@dataclass(frozen=True, slots=True)
class Expansion:
    """What expanding a load found, by rule position (not the rules: the files' own cache
    entries hold them): what every rule and recorded selector reads in the end, the cycles,
    and which recording rules each recorded selector reads. It is kept after every expansion
    and stands in for it when the same files are loaded again, so it is kept small: each
    distinct list of raw metrics once (rules share a few thousand), positions for the rest."""

    metrics: tuple[tuple[str, ...], ...]  # the distinct lists of raw metrics
    raw: tuple[int, ...]  # each rule's, as a position in ``metrics`` (-1: not expanded)
    cycles: tuple[Diagnostic, ...]
    recorded: tuple[Selector, ...]  # recorded selectors the expansion met
    recorded_raw: tuple[int, ...]  # each one's raw metrics, as a position in ``metrics``
    definitions: tuple[tuple[int, ...], ...]  # each one's recording rules, as rule positions
    complete: bool = True  # every rule expanded (``rules`` needs that; ``every=False`` not)

    def fits(self, rules: list[Rule], every: bool = True) -> bool:
        """Made from a load of this many rules, whole (every position points somewhere: an entry
        that does not is expanded again, never trusted), and complete when ``every`` rule is
        asked for."""
        looked_up = tuple(itertools.chain.from_iterable(self.definitions))  # min and max in C: a check
        return (  # of a large organisation's is asked twice a run (it took 20 ms as a generator)
            len(self.raw) == len(rules)
            and len(self.recorded) == len(self.recorded_raw) == len(self.definitions)
            and -1 <= min(self.raw, default=0) and max(self.raw, default=-1) < len(self.metrics)
            and 0 <= min(self.recorded_raw, default=0) and max(self.recorded_raw, default=-1) < len(self.metrics)
            and 0 <= min(looked_up, default=0) and max(looked_up, default=-1) < len(rules)
            and self.complete == (-1 not in self.raw)
            and (self.complete or not every)
        )


def expansion_of(ruleset: RuleSet, load: RuleLoad) -> Expansion:
    """The expansion of ``ruleset``, built from ``load``, as positions in ``load.rules``."""
    position = {id(rule): index for index, rule in enumerate(load.rules)}
    metrics: dict[tuple[str, ...], int] = {}

    def index(found: tuple[str, ...]) -> int:
        return metrics.setdefault(found, len(metrics))

    expanded = ruleset.raw_metrics
    raw = tuple(index(expanded[rule]) if rule in expanded else -1 for rule in load.rules)
    recorded = tuple(ruleset.recorded_metrics)
    recorded_raw = tuple(index(ruleset.recorded_metrics[selector]) for selector in recorded)  # before ``metrics`` is read
    return Expansion(
        metrics=tuple(metrics),
        raw=raw,
        cycles=tuple(ruleset.errors[len(load.errors):]),
        recorded=recorded,
        recorded_raw=recorded_raw,
        # looked up while expanding: remembered, not looked up again
        definitions=tuple(tuple(position[id(r)] for r in ruleset.records.definitions(selector)) for selector in recorded),
        complete=-1 not in raw,
    )


_Node = Union[Rule, Selector]


def _recorded_selectors(rules: list[Rule], records: RecordIndex) -> list[Selector]:
    """Every selector of the rules that reads a recorded name, once, in order of appearance."""
    found: dict[Selector, None] = {}
    for rule in rules:
        if rule.query is not None:
            for selector in rule.query.selectors:
                if selector.metric in records:
                    found[selector] = None
    return list(found)


def _expand(rules: list[Rule], records: RecordIndex) -> tuple[dict[_Node, tuple[str, ...]], list[Diagnostic]]:
    """Raw metrics behind every rule, over the graph rule -> its selectors -> the recording
    rules they read -> ... (Tarjan's strongly connected components, iterative, so linear).

    Rules that read each other form a component: each of them watches everything the
    component reaches. A component with more than one node is a cycle and is reported once.
    """
    index: dict[_Node, int] = {}
    low: dict[_Node, int] = {}
    own: dict[_Node, set[str]] = {}
    result: dict[_Node, tuple[str, ...]] = {}
    stack: list[_Node] = []
    on_stack: set[_Node] = set()
    cycles: list[Diagnostic] = []

    def enter(node: _Node) -> tuple[_Node, Iterator[_Node | str]]:
        index[node] = low[node] = len(index)
        own[node] = set()
        stack.append(node)
        on_stack.add(node)
        return node, _edges(node, records)

    for root in rules:
        if root in index:
            continue
        selectors = root.query.selectors if root.query is not None else ()
        if not any(s.metric in records for s in selectors):
            # It reads no recording: it is a component of its own that reads its raw names (most
            # rules of a large organisation: the walk's bookkeeping for them was a third of it).
            result[root] = tuple(sorted({s.metric for s in selectors if s.metric}))
            continue
        work = [enter(root)]
        while work:
            node, edges = work[-1]
            for target in edges:
                if isinstance(target, str):
                    own[node].add(target)
                elif target in result:  # finished earlier (its component is complete)
                    own[node].update(result[target])
                elif target in on_stack:  # in the component being walked: a cycle
                    low[node] = min(low[node], index[target])
                else:
                    work.append(enter(target))
                    break
            else:
                work.pop()
                if low[node] == index[node]:
                    component = [stack.pop()]
                    while component[-1] is not node:
                        component.append(stack.pop())
                    on_stack.difference_update(component)
                    reached = tuple(sorted(set().union(*(own.pop(m) for m in component))))
                    for member in component:  # done: what it reads is ``result`` from now on
                        result[member] = reached
                    if len(component) > 1:
                        cycles.append(_cycle(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if node in result:
                        own[parent].update(result[node])
    return result, cycles


def _cycle(component: list[_Node]) -> Diagnostic:
    members = sorted((n for n in component if isinstance(n, Rule)), key=lambda r: (r.file, r.line))
    names = list(dict.fromkeys(rule.name for rule in members))
    first = members[0]
    return Diagnostic(first.file, first.line, f"recording rules form a cycle: {' -> '.join(names + names[:1])}")


def _edges(node: _Node, records: RecordIndex) -> Iterator[_Node | str]:
    """A rule reads raw metrics (names) and recorded selectors; a recorded selector reads the
    rules recording it. Raw selectors are not graph nodes: most reads are raw, and skipping the
    bookkeeping for them halves the walk."""
    if isinstance(node, Rule):
        for selector in node.query.selectors if node.query is not None else ():
            if selector.metric:
                yield selector if selector.metric in records else selector.metric
    else:
        yield from records.definitions(node)
