"""Grafana's queries and server-side expressions of one alert rule, as one PromQL expression.

A rule's ``data`` is a small graph: queries (PromQL on a Prometheus-compatible data source) and
expressions over them (``reduce``, ``threshold``, ``math``, ``classic_conditions``), each named by
its refId. ``translate`` follows the condition's references down to the queries and writes the
PromQL that fires on the same series: ``reduce last`` of an instant query is the query,
``reduce mean`` of a range query over 10m is ``avg_over_time((q)[600s:])``, a threshold ``gt
0.05`` is ``> 0.05``. What has no such equivalent raises ``NotJudged`` with the reason; what
Grafana itself would refuse raises ``Invalid`` with its line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterator

from .. import promql
from ..yamlio import YMap, YSeq

EXPRESSION_UIDS = frozenset({"__expr__", "-100"})  # "-100": the uid older Grafana versions used
# Data source types whose queries are PromQL; an unknown or absent type is judged as PromQL
# when its expression parses as PromQL (a LogQL pipeline does not).
PROMQL_TYPES = frozenset({
    "prometheus", "grafana-amazonprometheus-datasource", "grafana-azureprometheus-datasource", "cortex", "mimir", "thanos",
})
_DEFAULT_RANGE = 600.0  # Grafana's default relativeTimeRange.from, seconds
_MAX_MATH = 4096  # characters of a math expression; real ones are a line
_MAX_NODES = 64  # queries and expressions of one rule; real ones have a handful


class NotJudged(Exception):
    """The rule is valid but has no PromQL equivalent: listed, not judged."""


class Invalid(Exception):
    """Grafana itself would refuse the rule: an input error at ``line``."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


# --------------------------------------------------------------------------- the data nodes


@dataclass(frozen=True, slots=True)
class Node:
    ref: str
    line: int
    expression: bool  # a server-side expression (reduce, threshold, math, ...), not a query
    model: YMap
    datasource: str
    window: float  # relativeTimeRange.from - to, seconds
    shift: float  # relativeTimeRange.to, seconds


def nodes_of(item: YMap, where: str) -> dict[str, Node]:
    data = item.get("data")
    if not isinstance(data, YSeq) or not data:
        raise Invalid(f"{where} has no 'data' (queries and expressions)", item.line_of("data"))
    if len(data) > _MAX_NODES:  # references are followed recursively: keep the chains short
        raise Invalid(f"{where} has more than {_MAX_NODES} queries and expressions; refused", item.line_of("data"))
    nodes: dict[str, Node] = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, YMap):
            raise Invalid(f"{where}: a 'data' entry must be a mapping", data.line_of(index))
        ref = entry.get("refId")
        if not isinstance(ref, str) or not ref:
            raise Invalid(f"{where}: a 'data' entry has no refId", entry.line)
        if ref in nodes:
            raise Invalid(f"{where}: refId {ref!r} is repeated", entry.line)
        model = entry.get("model")
        if not isinstance(model, YMap):
            raise Invalid(f"{where}: {ref} has no 'model' mapping", entry.line)
        uid = entry.get("datasourceUid", entry.get("datasourceUID"))
        source = model.get("datasource")
        source_uid = source.get("uid") if isinstance(source, YMap) else None
        expression = uid in EXPRESSION_UIDS or source_uid in EXPRESSION_UIDS
        window, shift = _time_range(entry, where, ref)
        nodes[ref] = Node(ref, entry.line, expression, model, uid if isinstance(uid, str) else "", window, shift)
    return nodes


def _time_range(entry: YMap, where: str, ref: str) -> tuple[float, float]:
    span = entry.get("relativeTimeRange")
    if span is None:
        return _DEFAULT_RANGE, 0.0
    if not isinstance(span, YMap):
        raise Invalid(f"{where}: relativeTimeRange of {ref} must be a mapping", entry.line_of("relativeTimeRange"))
    try:
        start, end = float(span.get("from") or 0), float(span.get("to") or 0)
    except (TypeError, ValueError):
        raise Invalid(f"{where}: relativeTimeRange of {ref} must hold seconds", span.line) from None
    if not (math.isfinite(start) and math.isfinite(end)) or start < end or end < 0:
        raise Invalid(f"{where}: relativeTimeRange of {ref} must have from >= to >= 0", span.line)
    return start - end, end


@dataclass(frozen=True, slots=True)
class _Value:
    text: str  # PromQL, parenthesised where it needs to be
    window: float | None = None  # a range query not reduced yet (seconds); None: one value per series
    condition: bool = False  # a filter that keeps the series where the condition holds


_REDUCERS = {"mean": "avg_over_time", "avg": "avg_over_time", "min": "min_over_time", "max": "max_over_time"}
_COMPARE = {"gt": ">", "lt": "<", "eq": "==", "ne": "!=", "gte": ">=", "lte": "<="}


def translate(nodes: dict[str, Node], target: str, record: bool, where: str) -> str:
    """The PromQL of ``target``: a condition for an alert, a value for a recording rule."""
    return _Translator(nodes, where).translate(target, record)


class _Translator:
    """Each node's PromQL, computed once, following references (cycles refused)."""

    def __init__(self, nodes: dict[str, Node], where: str) -> None:
        self.nodes = nodes
        self.where = where
        self.done: dict[str, _Value] = {}
        self.open: set[str] = set()

    def translate(self, ref: str, record: bool) -> str:
        value = self.value(ref)
        if value.window is not None:
            raise NotJudged(f"{ref} is a range query that is never reduced to one value per series")
        if record:
            if value.condition:
                raise NotJudged(f"a recording rule of a condition ({ref}) has no PromQL equivalent here")
            return value.text
        return value.text if value.condition else f"{value.text} != 0"  # Grafana fires on non-zero

    def value(self, ref: str, line: int = 0) -> _Value:
        node = self.nodes.get(ref)
        if node is None:
            raise Invalid(f"{self.where}: {ref!r} names no query or expression in 'data'", line)
        found = self.done.get(ref)
        if found is not None:
            return found
        if ref in self.open:
            raise Invalid(f"{self.where}: expressions refer to each other in a cycle through {ref}", node.line)
        self.open.add(ref)
        found = self._expression(node) if node.expression else self._query(node)
        self.open.discard(ref)
        self.done[ref] = found
        return found

    def _query(self, node: Node) -> _Value:
        source = node.model.get("datasource")
        kind = source.get("type") if isinstance(source, YMap) else None
        if isinstance(kind, str) and kind not in PROMQL_TYPES:
            raise NotJudged(f"query {node.ref} reads a {kind} data source, not PromQL")
        expr = node.model.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            raise NotJudged(f"query {node.ref} has no PromQL 'expr' (data source {node.datasource or 'unknown'})")
        try:
            promql.parse(expr)
        except promql.PromQLError as exc:
            raise NotJudged(f"query {node.ref} is not PromQL ({exc})") from None
        if node.shift:
            raise NotJudged(f"query {node.ref} ends {node.shift:g}s in the past (relativeTimeRange.to); not translated")
        instant = node.model.get("instant") == "true" or node.model.get("range") == "false"
        if not instant and node.model.get("range") != "true" and node.model.get("queryType") == "instant":
            instant = True
        return _Value(f"({expr.strip()})", None if instant else node.window)

    def _expression(self, node: Node) -> _Value:
        kind = node.model.get("type")
        if kind == "reduce":
            return self._reduce(node)
        if kind == "threshold":
            return self._threshold(node)
        if kind == "math":
            return self._math(node)
        if kind == "classic_conditions":
            return self._classic(node)
        raise NotJudged(f"expression {node.ref} of type {kind!r} has no PromQL equivalent here")

    def _input(self, node: Node) -> _Value:
        ref = node.model.get("expression")
        if not isinstance(ref, str) or not ref:
            raise Invalid(f"{self.where}: expression {node.ref} names no input ('expression')", node.line)
        return self.value(ref.strip().lstrip("$"), node.line)

    def _reduce(self, node: Node) -> _Value:
        reducer = node.model.get("reducer")
        value = self._input(node)
        if value.condition:
            raise NotJudged(f"{node.ref} reduces a condition")
        return _Value(_reduced(value, reducer if isinstance(reducer, str) else "", node.ref))

    def _threshold(self, node: Node) -> _Value:
        value = self._input(node)
        if value.window is not None:
            raise NotJudged(f"threshold {node.ref} applies to a range query that is not reduced")
        if value.condition:
            raise NotJudged(f"threshold {node.ref} applies to a condition")
        conditions = node.model.get("conditions")
        first = conditions[0] if isinstance(conditions, YSeq) and conditions else None
        evaluator = first.get("evaluator") if isinstance(first, YMap) else None
        if not isinstance(evaluator, YMap):
            raise Invalid(f"{self.where}: threshold {node.ref} has no evaluator", node.line)
        kind, params = evaluator.get("type"), self._params(evaluator, node)
        return _Value(_compare(value.text, kind if isinstance(kind, str) else "", params, node.ref, self.where, node.line), condition=True)

    def _params(self, evaluator: YMap, node: Node) -> list[float]:
        params = evaluator.get("params")
        try:
            values = [float(p) for p in params] if isinstance(params, YSeq) else []
        except (TypeError, ValueError):
            raise Invalid(f"{self.where}: {node.ref}: evaluator params must be numbers", evaluator.line) from None
        if not all(math.isfinite(v) for v in values):
            raise NotJudged(f"{node.ref}: a threshold that is not a finite number")
        return values

    def _math(self, node: Node) -> _Value:
        text = node.model.get("expression")
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f"{self.where}: math {node.ref} has no expression", node.line)
        if len(text) > _MAX_MATH:
            raise NotJudged(f"math {node.ref} is longer than {_MAX_MATH} characters")
        return _Math(text, lambda ref: self.value(ref, node.line), node.ref).parse()

    def _classic(self, node: Node) -> _Value:
        """Classic conditions fire when any series of a query, reduced, meets the evaluator,
        and the alert carries no series labels: ``max(R) > T`` says exactly that."""
        conditions = node.model.get("conditions")
        if not isinstance(conditions, YSeq) or not conditions:
            raise Invalid(f"{self.where}: classic condition {node.ref} has no conditions", node.line)
        combined = ""
        for index, condition in enumerate(conditions):
            if not isinstance(condition, YMap):
                raise Invalid(f"{self.where}: classic condition {node.ref}: a condition must be a mapping", node.line)
            query, reducer, evaluator = condition.get("query"), condition.get("reducer"), condition.get("evaluator")
            params = query.get("params") if isinstance(query, YMap) else None
            if not isinstance(params, YSeq) or not params or not isinstance(params[0], str):
                raise Invalid(f"{self.where}: classic condition {node.ref} names no query", condition.line)
            if not isinstance(evaluator, YMap):
                raise Invalid(f"{self.where}: classic condition {node.ref} has no evaluator", condition.line)
            value = self.value(params[0], condition.line)
            if value.condition:
                raise NotJudged(f"classic condition {node.ref} reads a condition")
            kind = reducer.get("type") if isinstance(reducer, YMap) else "last"
            reduced = _reduced(value, {"avg": "mean"}.get(kind, kind) if isinstance(kind, str) else "", node.ref)
            evaluated = _classic_evaluator(reduced, evaluator.get("type"), self._params(evaluator, node), node.ref)
            if index == 0:
                combined = evaluated
            else:
                operator = condition.get("operator")
                join = operator.get("type") if isinstance(operator, YMap) else "and"
                combined = f"({combined}) {'or' if join == 'or' else 'and on ()'} ({evaluated})"
        return _Value(combined, condition=True)


def _reduced(value: _Value, reducer: str, ref: str) -> str:
    """One value per series from a query: an instant query already is one; a range query's
    points reduce over its window (a subquery at the rule's evaluation interval)."""
    if value.window is None:
        if reducer in ("last", "mean", "avg", "min", "max", "sum", "median"):
            return value.text  # one point per series: every reducer returns it
        raise NotJudged(f"{ref}: reducer {reducer!r} of an instant query has no PromQL equivalent")
    if reducer == "last":
        return value.text  # the last point of the range is the value at the evaluation time
    window = f"[{value.window:g}s:]"
    if reducer in _REDUCERS:
        return f"{_REDUCERS[reducer]}({value.text}{window})"
    if reducer == "median":
        return f"quantile_over_time(0.5, {value.text}{window})"
    raise NotJudged(f"{ref}: reducer {reducer!r} over a range query depends on its step; not translated")


def _compare(text: str, kind: str, params: list[float], ref: str, where: str, line: int) -> str:
    need = 2 if kind.endswith("range") or kind.endswith("range_included") else 1
    if len(params) < need:
        raise Invalid(f"{where}: threshold {ref} ({kind}) needs {need} parameter(s)", line)
    if kind in _COMPARE:
        return f"{text} {_COMPARE[kind]} {_number(params[0])}"
    low, high = sorted(params[:2])
    if kind == "within_range":
        return f"{text} > {_number(low)} < {_number(high)}"
    if kind == "within_range_included":
        return f"{text} >= {_number(low)} <= {_number(high)}"
    if kind == "outside_range":
        return f"{text} < {_number(low)} or {text} > {_number(high)}"
    if kind == "outside_range_included":
        return f"{text} <= {_number(low)} or {text} >= {_number(high)}"
    raise Invalid(f"{where}: threshold {ref}: unknown evaluator type {kind!r}", line)


def _classic_evaluator(reduced: str, kind: object, params: list[float], ref: str) -> str:
    if kind == "no_value":
        return f"absent({reduced})"
    if kind == "gt" and params:
        return f"max({reduced}) > {_number(params[0])}"
    if kind == "lt" and params:
        return f"min({reduced}) < {_number(params[0])}"
    if kind in ("within_range", "outside_range") and len(params) >= 2:
        low, high = sorted(params[:2])
        inner = f"{reduced} > {_number(low)} < {_number(high)}" if kind == "within_range" else f"{reduced} < {_number(low)} or {reduced} > {_number(high)}"
        return f"count({inner}) > 0"
    raise NotJudged(f"classic condition {ref}: evaluator {kind!r} with {len(params)} parameter(s) is not translated")


def _number(value: float) -> str:
    return repr(value) if value != int(value) or abs(value) >= 1e15 else str(int(value))


def alerting_on_no_data(condition: str, query: promql.Query, nodes: dict[str, Node]) -> tuple[str, promql.Query]:
    """``noDataState: Alerting`` fires when the query returns nothing: ``or absent(query)``,
    for a rule with one PromQL query (with several, when Grafana calls it "no data" is subtler;
    the rule is then judged on its condition alone)."""
    queries = [n for n in nodes.values() if not n.expression]
    expr = queries[0].model.get("expr") if len(queries) == 1 else None
    if not isinstance(expr, str):
        return condition, query
    text = f"({condition}) or on () absent({expr.strip()})"
    try:
        return text, promql.parse(text)
    except promql.PromQLError:  # absent() needs a vector: a scalar query keeps its condition
        return condition, query


def summary(nodes: dict[str, Node], target: str) -> str:
    """What the rule does, for the inventory of a rule that is not judged."""
    parts = []
    for node in nodes.values():
        if node.expression:
            parts.append(f"{node.ref}: {node.model.get('type')}({node.model.get('expression') or ''})")
        else:
            expr = node.model.get("expr") or node.model.get("rawSql") or node.model.get("query") or ""
            parts.append(f"{node.ref}: {node.datasource or 'query'} {' '.join(str(expr).split())[:200]}")
    return "; ".join(parts) + f"; condition {target}"


# --------------------------------------------------------------------------- math expressions


_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"|\$\{(?P<braced>[^}]+)\}|\$(?P<ref>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||==|!=|>=|<=|[-+*/%<>()!,]))"
)
_FUNCTIONS = {"abs": "abs", "ceil": "ceil", "floor": "floor", "round": "round", "log": "ln"}
_MAX_DEPTH = 32


class _Math:
    """Grafana's math expressions, translated to PromQL: references, numbers, + - * / %,
    comparisons, && and ||, abs/ceil/floor/round/log. Comparisons yield 0 or 1 in Grafana and
    filter in PromQL; both fire on the same series, so a comparison is translated only where
    its 0/1 value is not used in arithmetic."""

    def __init__(self, text: str, resolve: Callable[[str], _Value], ref: str) -> None:
        self.tokens = list(self._tokens(text, ref))
        self.at = 0
        self.resolve = resolve
        self.ref = ref
        self.depth = 0

    @staticmethod
    def _tokens(text: str, ref: str) -> Iterator[tuple[str, str]]:
        at = 0
        while at < len(text):
            match = _TOKEN.match(text, at)
            if match is None or match.end() == at:
                if text[at:].strip() == "":
                    return
                raise NotJudged(f"math {ref}: cannot read {text[at:at + 20]!r}")
            kind = match.lastgroup or ""
            yield ("ref" if kind == "braced" else kind), match.group(kind)
            at = match.end()

    def parse(self) -> _Value:
        value = self._or()
        if self.at != len(self.tokens):
            raise NotJudged(f"math {self.ref}: unexpected {self.tokens[self.at][1]!r}")
        return value

    def _deeper(self) -> None:
        """Parentheses, functions and signs nest the recursive descent: bound it."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise NotJudged(f"math {self.ref}: nested deeper than {_MAX_DEPTH} levels")

    def _peek(self) -> str:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else ""

    def _take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise NotJudged(f"math {self.ref}: the expression ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def _or(self) -> _Value:
        left = self._and()
        while self._peek() == "||":
            self._take()
            left = _Value(f"({_truth(left)}) or ({_truth(self._and())})", condition=True)
        return left

    def _and(self) -> _Value:
        left = self._comparison()
        while self._peek() == "&&":
            self._take()
            left = _Value(f"({_truth(left)}) and ({_truth(self._comparison())})", condition=True)
        return left

    def _comparison(self) -> _Value:
        left = self._sum()
        if self._peek() in (">", "<", ">=", "<=", "==", "!="):
            op = self._take()[1]
            right = self._sum()
            if left.window is None and right.window is None and _constant(left) and _constant(right):
                raise NotJudged(f"math {self.ref}: a comparison of two numbers")
            return _Value(f"{_operand(left, self.ref)} {op} {_operand(right, self.ref)}", condition=True)
        return left

    def _sum(self) -> _Value:
        left = self._product()
        while self._peek() in ("+", "-"):
            op = self._take()[1]
            left = _Value(f"{_operand(left, self.ref)} {op} {_operand(self._product(), self.ref)}")
        return left

    def _product(self) -> _Value:
        left = self._unary()
        while self._peek() in ("*", "/", "%"):
            op = self._take()[1]
            left = _Value(f"{_operand(left, self.ref)} {op} {_operand(self._unary(), self.ref)}")
        return left

    def _unary(self) -> _Value:
        if self._peek() == "-":
            self._take()
            self._deeper()
            value = _Value(f"-{_operand(self._unary(), self.ref)}")
            self.depth -= 1
            return value
        if self._peek() == "!":
            raise NotJudged(f"math {self.ref}: '!' is not translated")
        return self._primary()

    def _primary(self) -> _Value:
        kind, text = self._take()
        if kind == "number":
            return _Value(_number(float(text)))
        if kind == "ref":
            value = self.resolve(text.strip())
            if value.window is not None:
                raise NotJudged(f"math {self.ref}: ${text} is a range query that is not reduced")
            return value
        if text == "(" or (kind == "name" and text in _FUNCTIONS):
            self._deeper()
            if kind == "name" and self._take()[1] != "(":
                raise NotJudged(f"math {self.ref}: {text} needs its argument in parentheses")
            inner = self._or()
            if self._take()[1] != ")":
                raise NotJudged(f"math {self.ref}: a parenthesis is not closed")
            self.depth -= 1
            if kind == "name":
                return _Value(f"{_FUNCTIONS[text]}({_operand(inner, self.ref)})")
            return _Value(f"({inner.text})", condition=inner.condition)
        raise NotJudged(f"math {self.ref}: {text!r} is not translated")


def _constant(value: _Value) -> bool:
    try:
        float(value.text.strip("()"))
    except ValueError:
        return False
    return True


def _operand(value: _Value, ref: str) -> str:
    if value.condition:
        raise NotJudged(f"math {ref}: the 0/1 value of a comparison is used in arithmetic")
    return value.text


def _truth(value: _Value) -> str:
    """A condition as it is; a value is true where it is not zero."""
    return value.text if value.condition else f"{value.text} != 0"
