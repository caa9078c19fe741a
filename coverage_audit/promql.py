"""The only module that touches the PromQL parser (``promql-parser``, Rust).

It turns an expression into our own small, frozen AST plus the facts the rest of the tool asks
about (selectors with their matchers, ranges and offsets; functions; aggregations; the top-level
comparisons and their thresholds). Nothing else imports ``promql_parser``.

The Rust parser takes time quadratic in the nesting depth, hangs for minutes past a few thousand
levels and kills the whole process (stack overflow) beyond that, so every expression first
passes :func:`check_size`, which counts without parsing.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TypeVar, Union

import promql_parser as _pp

from .model import Compact, LabelMatcher, MatchOp, regex_error, selector_text, shared_matcher

MAX_EXPR_CHARS = 64 * 1024  # real rule expressions stay under 4 KiB
MAX_NESTING = 64  # brackets open at once; real expressions reach 8
MAX_OPERATORS = 256  # binary and unary operators; real expressions reach 80

COMPARISON_OPS = frozenset({">", "<", ">=", "<=", "==", "!="})
SET_OPS = frozenset({"and", "or", "unless"})
_FLIPPED = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
_OPERATOR_CHARS = "+-*/%^<>=!"
_OPERATOR_BYTES = _OPERATOR_CHARS.encode()
_KEYWORDS = ("and", "or", "unless", "atan2")
_KEYWORD_OPERATORS = re.compile(r"\b(?:and|or|unless|atan2)\b")


class PromQLError(ValueError):
    """An expression that cannot be parsed or that the guard refuses."""


# --------------------------------------------------------------------------- our AST


@dataclass(frozen=True, slots=True)
class Selector(Compact):
    """A vector selector; ``range`` is set when it is a range (matrix) selector."""

    metric: str | None  # None when the name is only constrained by a regex (or not at all)
    matchers: tuple[LabelMatcher, ...]  # every matcher except the __name__ equality
    range: float | None = None  # seconds
    offset: float = 0.0  # seconds; positive looks into the past
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:  # selectors are memo keys in rule expansion: hash once
        object.__setattr__(self, "_hash", hash((self.metric, self.matchers, self.range, self.offset)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (_selector, (self.metric, self.matchers, self.range, self.offset))

    def __str__(self) -> str:
        return selector_text(self.metric, self.matchers)


def simplified(selector: Selector) -> Selector:
    """The selector without matchers others imply, for people to read: a repeated matcher, or
    ``type=~"api"`` beside ``type="api"`` (pushing an alert's matchers into recordings makes
    both)."""
    equal = {m.name: m.value for m in selector.matchers if m.op is MatchOp.EQ}
    kept: list[LabelMatcher] = []
    for m in selector.matchers:
        if m in kept:
            continue
        if m.op is not MatchOp.EQ and m.name in equal and m.matches(equal[m.name]):
            continue  # implied by the equality on the same label
        kept.append(m)
    return Selector(selector.metric, tuple(kept), selector.range, selector.offset)


@dataclass(frozen=True, slots=True)
class Number(Compact):
    value: float


@dataclass(frozen=True, slots=True)
class String(Compact):
    value: str


@dataclass(frozen=True, slots=True)
class Call(Compact):
    func: str
    args: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Aggregate(Compact):
    op: str
    expr: "Expr"
    param: "Expr | None" = None
    grouping: tuple[str, ...] = ()
    without: bool = False


@dataclass(frozen=True, slots=True)
class Binary(Compact):
    op: str
    lhs: "Expr"
    rhs: "Expr"
    return_bool: bool = False
    on: tuple[str, ...] | None = None  # on(...) labels; None: no on()
    ignoring: tuple[str, ...] = ()  # ignoring(...) labels
    group: str = ""  # "left" / "right" for group_left / group_right


@dataclass(frozen=True, slots=True)
class Unary(Compact):
    op: str  # "-" (a unary "+" is dropped)
    expr: "Expr"


@dataclass(frozen=True, slots=True)
class Subquery(Compact):
    expr: "Expr"
    range: float
    step: float | None = None
    offset: float = 0.0


Expr = Union[Selector, Number, String, Call, Aggregate, Binary, Unary, Subquery]


@dataclass(frozen=True, slots=True)
class Comparison(Compact):
    """A comparison on the expression's top level (below and/or/unless), threshold on the right."""

    op: str
    threshold: float | None  # None when both sides hold series
    return_bool: bool = False
    negated: bool = False  # on the right of ``unless``: it suppresses rather than fires


@dataclass(frozen=True, slots=True)
class Query(Compact):
    """A parsed expression and the facts read off it."""

    ast: Expr
    selectors: tuple[Selector, ...]
    functions: frozenset[str]
    aggregations: frozenset[str]
    comparisons: tuple[Comparison, ...]
    joins: frozenset[str] = frozenset()  # labels named by on(...) / ignoring(...)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names selected, sorted and unique."""
        return tuple(sorted({s.metric for s in self.selectors if s.metric}))

    @property
    def max_range(self) -> float:
        """The longest range window (range selectors and subqueries), seconds."""
        return max((r for r in _ranges(self.ast)), default=0.0)


# --------------------------------------------------------------------------- guard


def check_size(text: str) -> None:
    """Refuse expressions big or deep enough to hang or crash the parser.

    Totals found with ``str.count`` bound the real nesting and operator counts from above, so
    most expressions pass without a scan; a string-literal-aware scan decides the rest.
    """
    if len(text) > MAX_EXPR_CHARS:
        raise PromQLError(f"expression is longer than {MAX_EXPR_CHARS} characters; refused")
    brackets = text.count("(") + text.count("[") + text.count("{")
    if brackets <= MAX_NESTING and len(text) <= MAX_OPERATORS:
        return  # it cannot hold more operators than characters
    if brackets <= MAX_NESTING:
        # Operator characters are ASCII, and no other character's UTF-8 holds an ASCII byte: the
        # bytes left out by one C pass count them (ten ``str.count`` passes took four times as long).
        data = text.encode("utf-8", "surrogatepass")
        operators = len(data) - len(data.translate(None, _OPERATOR_BYTES))
        # Counting the keywords as substrings over-counts ("sort" holds "or"), which is safe
        # and, unlike the word-boundary regex, nearly free; the regex decides close calls.
        if operators + sum(text.count(word) for word in _KEYWORDS) <= MAX_OPERATORS:
            return
        if operators + len(_KEYWORD_OPERATORS.findall(text)) <= MAX_OPERATORS:
            return
    depth, operators = _scan(text)
    if depth > MAX_NESTING:
        raise PromQLError(f"expression nests deeper than {MAX_NESTING} levels; refused")
    if operators > MAX_OPERATORS:
        raise PromQLError(f"expression has more than {MAX_OPERATORS} operators; refused")


def _scan(text: str) -> tuple[int, int]:
    """Max bracket depth and operator count outside string literals and comments."""
    depth = deepest = operators = 0
    quote: str | None = None
    escaped = comment = False
    word: list[str] = []
    for char in text + " ":
        if comment:
            comment = char != "\n"
            continue
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote != "`":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char.isalnum() or char == "_":
            word.append(char)
            continue
        if word:
            if "".join(word) in ("and", "or", "unless", "atan2"):
                operators += 1
            word.clear()
        if char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
        elif char in _OPERATOR_CHARS:
            operators += 1
        elif char == "#":
            comment = True
    return deepest, operators


# --------------------------------------------------------------------------- parse

_cache: dict[str, Query | PromQLError] = {}


def parse(text: str) -> Query:
    """Parse an expression (a bare number too); PromQLError with the parser's message if bad."""
    hit = _cache.get(text)
    if hit is None:
        try:
            check_size(text)
            hit = _build_query(_pp.parse(text))
        except PromQLError as exc:
            hit = exc
        except (ValueError, TypeError, OverflowError) as exc:  # the parser's syntax errors
            hit = PromQLError(str(exc).strip() or "invalid PromQL")
        _cache[text] = hit
    if isinstance(hit, PromQLError):
        raise hit
    return hit


def parse_selector(text: str) -> Selector:
    """One vector selector such as ``payments_requests_total{status=~"5.."}`` or
    ``{job="payments"}`` (service-map signals and selectors); PromQLError otherwise."""
    if not text.strip():
        raise PromQLError("empty selector")
    stripped = text.strip()
    try:
        query = parse(stripped)
    except PromQLError as error:
        if not (stripped.startswith("{") and stripped.endswith("}") and "__name__" not in stripped):
            raise
        # Matchers alone (a service selector): PromQL refuses a selector that could match every
        # series (``{job=~".*"}``), so parse it with a placeholder name and drop that again. The
        # placeholder never shows: a selector the placeholder does not rescue gets the message
        # of the text as written.
        try:
            query = parse(_PLACEHOLDER + stripped)
        except PromQLError:
            raise error from None
        if not isinstance(query.ast, Selector) or query.ast.metric != _PLACEHOLDER:
            raise PromQLError(f"not a single vector selector: {text!r}") from None
        return Selector(None, query.ast.matchers)
    if not isinstance(query.ast, Selector) or query.ast.range is not None or query.ast.offset:
        raise PromQLError(f"not a single vector selector: {text!r}")
    return query.ast


@functools.lru_cache(maxsize=1)
def parser_version() -> str:
    """The installed parser's version (cache keys: a new parser may parse differently). Read
    off its install record's folder name: ``importlib.metadata`` takes 0.03 s to import, at the
    start of every run, before any work can be shared."""
    package = Path(_pp.__file__).resolve().parent
    records = [p.name for p in package.parent.glob("promql_parser-*.dist-info")]
    if len(records) == 1:
        return "promql-parser " + records[0][len("promql_parser-") : -len(".dist-info")]
    from importlib.metadata import PackageNotFoundError, version  # several, or installed another way

    try:
        return "promql-parser " + version("promql-parser")
    except PackageNotFoundError:
        return "promql-parser unknown"


_PLACEHOLDER = "coverage_audit_placeholder"


def _build_query(node: object) -> Query:
    collector = _Collector()
    ast = collector.convert(node)
    return Query(
        ast=ast,
        selectors=tuple(collector.selectors),
        functions=_share(frozenset(collector.functions)),
        aggregations=_share(frozenset(collector.aggregations)),
        comparisons=tuple(_top_comparisons(ast)),
        joins=frozenset(collector.joins),
    )


_GROUPS = {
    str(_pp.VectorMatchCardinality.ManyToOne): "left",
    str(_pp.VectorMatchCardinality.OneToMany): "right",
}


# Rule sets repeat the same names, selectors and numbers tens of thousands of times, and the
# parser hands each occurrence over as a new object: keeping one of each halves the memory a
# large loaded rule set takes (and pickles share them too). Values here are immutable.
_T = TypeVar("_T")
_shared: dict[object, object] = {}
_numbers: dict[tuple[float, float], "Number"] = {}
_selectors: dict[tuple[str | None, tuple[int, ...], float | None, float], Selector] = {}


def _selector(metric: str | None, matchers: tuple[LabelMatcher, ...], span: float | None, offset: float) -> Selector:
    """The one Selector for these values, parsed or unpickled. Looked up before it is built
    (most selectors are repeats) by its matchers' ids, which hash in C, unlike the matchers:
    the stored selector keeps its matchers alive, so no other object can take their ids."""
    key = (metric, tuple(map(id, matchers)), span, offset)
    found = _selectors.get(key)
    if found is None:
        found = _selectors[key] = Selector(sys.intern(metric) if metric else metric, matchers, span, offset)
    return found


def without_offset(read: Selector) -> Selector:
    """The same read at no offset (the one such Selector: memo keys compare by identity)."""
    return _selector(read.metric, read.matchers, read.range, 0.0) if read.offset else read


def selector(metric: str | None, matchers: tuple[LabelMatcher, ...], span: float | None = None, offset: float = 0.0) -> Selector:
    """The one Selector for these values (for reads made while judging: the same pushed read
    is made again and again, and memo keys then compare by identity)."""
    return _selector(metric, matchers, span, offset)


def _share(value: _T) -> _T:
    return _shared.setdefault(value, value)  # type: ignore[return-value]


def _number(value: float) -> "Number":
    key = (value, math.copysign(1.0, value))  # 0.0 and -0.0 are equal but print differently
    found = _numbers.get(key)
    if found is None:
        found = _numbers[key] = Number(value)
    return found


_MATCH_OPS = {  # the parser's MatchOp is not hashable; its str() is stable
    str(_pp.MatchOp.Equal): MatchOp.EQ,
    str(_pp.MatchOp.NotEqual): MatchOp.NE,
    str(_pp.MatchOp.Re): MatchOp.RE,
    str(_pp.MatchOp.NotRe): MatchOp.NRE,
}


def _seconds(delta: object) -> float:
    return delta.total_seconds() if delta is not None else 0.0  # type: ignore[attr-defined]


class _Collector:
    """Converts the parser's AST into ours in one pass, noting selectors and functions."""

    __slots__ = ("selectors", "functions", "aggregations", "joins")

    def __init__(self) -> None:
        self.selectors: list[Selector] = []
        self.functions: set[str] = set()
        self.aggregations: set[str] = set()
        self.joins: set[str] = set()

    def convert(self, node: object) -> Expr:
        kind = type(node)
        if kind is _pp.ParenExpr:
            return self.convert(node.expr)  # type: ignore[attr-defined]
        if kind is _pp.VectorSelector:
            return self.selector(node, None)
        if kind is _pp.MatrixSelector:
            return self.selector(node.vector_selector, node.range)  # type: ignore[attr-defined]
        if kind is _pp.Call:
            name = sys.intern(node.func.name)  # type: ignore[attr-defined]
            self.functions.add(name)
            return Call(name, tuple([self.convert(arg) for arg in node.args]))  # type: ignore[attr-defined]
        if kind is _pp.BinaryExpr:
            modifier = node.modifier  # type: ignore[attr-defined]
            on: tuple[str, ...] | None = None
            ignoring: tuple[str, ...] = ()
            group = ""
            if modifier is not None:
                matching = modifier.matching
                if matching is not None:
                    if matching.type == _pp.LabelModifierType.Include:
                        on = _share(tuple(map(sys.intern, matching.labels)))
                    else:
                        ignoring = _share(tuple(map(sys.intern, matching.labels)))
                    self.joins.update(matching.labels)
                group = _GROUPS.get(str(modifier.card), "")
            return Binary(
                sys.intern(str(node.op)),  # type: ignore[attr-defined]
                self.convert(node.lhs),  # type: ignore[attr-defined]
                self.convert(node.rhs),  # type: ignore[attr-defined]
                bool(modifier and modifier.return_bool),
                on,
                ignoring,
                group,
            )
        if kind is _pp.AggregateExpr:
            op = sys.intern(str(node.op))  # type: ignore[attr-defined]
            self.aggregations.add(op)
            param = node.param  # type: ignore[attr-defined]
            modifier = node.modifier  # type: ignore[attr-defined]
            return Aggregate(
                op,
                self.convert(node.expr),  # type: ignore[attr-defined]
                self.convert(param) if param is not None else None,
                _share(tuple(map(sys.intern, modifier.labels))) if modifier else (),
                bool(modifier and modifier.type == _pp.AggModifierType.Without),
            )
        if kind is _pp.NumberLiteral:
            return _number(node.val)  # type: ignore[attr-defined]
        if kind is _pp.StringLiteral:
            return String(node.val)  # type: ignore[attr-defined]
        if kind is _pp.UnaryExpr:
            return Unary("-", self.convert(node.expr))  # type: ignore[attr-defined]
        if kind is _pp.SubqueryExpr:
            step = node.step  # type: ignore[attr-defined]
            return Subquery(
                self.convert(node.expr),  # type: ignore[attr-defined]
                _seconds(node.range),  # type: ignore[attr-defined]
                _seconds(step) if step is not None else None,
                _seconds(node.offset),  # type: ignore[attr-defined]
            )
        raise PromQLError(f"unsupported PromQL node {kind.__name__}")

    def selector(self, node: object, window: object | None) -> Expr:
        name: str | None = node.name  # type: ignore[attr-defined]
        offset = node.offset  # type: ignore[attr-defined]
        offset_seconds = offset.total_seconds() if offset is not None else 0.0
        span = window.total_seconds() if window is not None else None  # type: ignore[attr-defined]
        matchers = node.matchers  # type: ignore[attr-defined]  # each access copies: read once
        groups = matchers.or_matchers
        if not groups:  # the common case: one list of matchers
            return self._alternative(name, matchers.matchers, span, offset_seconds)
        result: Expr = self._alternative(name, groups[0], span, offset_seconds)
        for group in groups[1:]:  # {a="x" or b="y"} selects the union
            result = Binary("or", result, self._alternative(name, group, span, offset_seconds))
        return result

    def _alternative(self, name: str | None, group: list[object], span: float | None, offset: float) -> Selector:
        metric = name
        converted = []
        for m in group:
            label, op_text, value = m.name, str(m.op), m.value  # type: ignore[attr-defined]
            if label == "__name__" and op_text == _EQUAL and metric in (None, value):
                metric = value  # {__name__="x"} is the metric x
            else:
                converted.append(_matcher(label, op_text, value))
        # Looked up before it is built: most selectors are repeats. Matchers are interned and
        # kept for the run, so their ids identify them (and hash in C, unlike them).
        selector = _selector(sys.intern(metric) if metric else metric, tuple(converted), span, offset)
        self.selectors.append(selector)
        return selector


_matchers: dict[tuple[str, str, str], LabelMatcher] = {}
_EQUAL = str(_pp.MatchOp.Equal)


def _matcher(label: str, op_text: str, value: str) -> LabelMatcher:
    """Interned: rule sets repeat the same few thousand matchers tens of thousands of times.
    Keyed by the parser's text for the operator: an Enum member hashes in Python, slowly.

    A regex RE2 refuses (``a{1001}``) is refused here, as promtool refuses the rule: the Rust
    parser accepts some of them."""
    key = (label, op_text, value)
    found = _matchers.get(key)
    if found is None:
        op = _MATCH_OPS[op_text]
        if op.regex:
            problem = regex_error(value)
            if problem is not None:
                raise PromQLError(f"invalid regular expression {value!r} for label {label!r}: {problem}")
        found = _matchers[key] = shared_matcher(label, op, value)
    return found


# --------------------------------------------------------------------------- facts


def children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Call):
        return expr.args
    if isinstance(expr, Aggregate):
        return (expr.expr,) if expr.param is None else (expr.param, expr.expr)
    if isinstance(expr, Binary):
        return (expr.lhs, expr.rhs)
    if isinstance(expr, (Unary, Subquery)):
        return (expr.expr,)
    return ()


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node, depth first (iterative: depth is bounded by the guard, but stay flat)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def _ranges(expr: Expr) -> Iterator[float]:
    for node in walk(expr):
        if isinstance(node, Selector) and node.range:
            yield node.range
        elif isinstance(node, Subquery):
            yield node.range


def constant(expr: Expr) -> float | None:
    """The value of a subtree made only of numbers (``0.001 * 14.4``), else None."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Unary):
        inner = constant(expr.expr)
        return -inner if inner is not None else None
    if isinstance(expr, Call) and expr.func == "vector" and expr.args:
        return constant(expr.args[0])
    if isinstance(expr, Binary) and expr.op in _ARITHMETIC:
        lhs, rhs = constant(expr.lhs), constant(expr.rhs)
        if lhs is None or rhs is None:
            return None
        try:
            return _ARITHMETIC[expr.op](lhs, rhs)
        except (ZeroDivisionError, OverflowError, ValueError):
            return math.nan
    return None


_ARITHMETIC = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else math.copysign(math.inf, a) if a else math.nan,
    "%": lambda a, b: math.fmod(a, b) if b else math.nan,
    "^": lambda a, b: a**b,
}


def _top_comparisons(expr: Expr, negated: bool = False) -> Iterator[Comparison]:
    """Comparisons reached from the root through and/or/unless, with the number on the right."""
    if isinstance(expr, Binary):
        if expr.op in SET_OPS:
            yield from _top_comparisons(expr.lhs, negated)
            yield from _top_comparisons(expr.rhs, negated ^ (expr.op == "unless"))
            return
        if expr.op in COMPARISON_OPS:
            left, right = constant(expr.lhs), constant(expr.rhs)
            if left is not None and right is None:
                yield Comparison(_FLIPPED[expr.op], left, expr.return_bool, negated)
            else:
                yield Comparison(expr.op, right, expr.return_bool, negated)
            return
    if isinstance(expr, Aggregate):  # e.g. sum(x > 1): the filter still decides what fires
        yield from _top_comparisons(expr.expr, negated)
