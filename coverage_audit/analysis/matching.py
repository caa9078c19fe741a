"""Can two sets of label matchers select the same series?

An alert covers a subject only if its matchers and the subject's (service selector, signal
selector) can hold at once. For each label we look for a witness value that passes every matcher
on it: the equality values, plus example strings drawn from each regex (its alternatives, the
first characters of its classes, short repeats). No witness means "cannot select the same
series" — which can only make us say *uncovered* where a contrived regex would have matched,
never *covered* where nothing can.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from ..conventions import healthy_values, other_outcome_labels, scope_labels
from ..model import LabelMatcher, MatchOp

# A value no real label holds: a regex that accepts it accepts (nearly) anything.
PROBE_VALUE = "zz-coverage-audit-probe-7f3a"
_MAX_EXAMPLES = 64

try:  # the regex parser behind `re`, moved in 3.11
    import re._parser as _sre_parse  # type: ignore[import-not-found]
    from re._constants import (  # type: ignore[import-not-found]
        ANY, AT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN,
    )
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as _sre_parse  # type: ignore[no-redef]
    from sre_constants import (  # type: ignore[no-redef]
        ANY, AT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN,
    )


@lru_cache(maxsize=65536)
def compatible_pair(a: tuple[LabelMatcher, ...], b: tuple[LabelMatcher, ...]) -> bool:
    """:func:`compatible` for two matcher tuples, remembered (the judge asks it for every read of
    every candidate alert, and rule sets repeat the same reads)."""
    return compatible(a, b)


def compatible(*groups: Iterable[LabelMatcher]) -> bool:
    """Is there a label set that passes every matcher of every group?"""
    return all(_witness(tuple(matchers)) is not None for matchers in _by_label(groups).values())


def witness_labels(*groups: Iterable[LabelMatcher], prefer: Mapping[str, Sequence[str]] | None = None) -> dict[str, str] | None:
    """A label set passing every matcher (labels whose witness is "" are left out), or None.

    The one answer to "which labels satisfy these matchers": test series of drafts, and the
    labels that take an alert down a route (``routing``). ``prefer`` names values to try first
    on some labels (an owner's name on a ``team`` label). Labels come in the order their first
    matcher does."""
    labels: dict[str, str] = {}
    for name, matchers in _by_label(groups).items():
        value = _witness(tuple(matchers), tuple(prefer.get(name, ())) if prefer else ())
        if value is None:
            return None
        if value:
            labels[name] = value
    return labels


def _by_label(groups: Iterable[Iterable[LabelMatcher]]) -> dict[str, list[LabelMatcher]]:
    by_label: dict[str, list[LabelMatcher]] = {}
    for group in groups:
        for matcher in group:
            by_label.setdefault(matcher.name, []).append(matcher)
    return by_label


def _witness(matchers: tuple[LabelMatcher, ...], prefer: tuple[str, ...] = ()) -> str | None:
    """A value passing all matchers on one label ("" stands for the label being absent)."""
    for candidate in itertools.chain(prefer, _candidates(matchers)):
        if all(m.matches(candidate) for m in matchers):
            return candidate
    return None


def _candidates(matchers: tuple[LabelMatcher, ...]) -> Iterable[str]:
    equal = [m.value for m in matchers if m.op is MatchOp.EQ]
    if equal:
        return equal[:1]  # one equality decides the value
    pools: list[Iterable[str]] = [regex_examples(m.value) for m in matchers if m.op is MatchOp.RE]
    pools.append(("",))  # then no label at all: a negative matcher alone needs no value
    pools += [(m.value + "x", "x" + m.value) for m in matchers if m.op is MatchOp.NE]
    pools.append((PROBE_VALUE,))
    return itertools.chain.from_iterable(pools)


def outcome_label(name: str) -> bool:
    """A label that carries an outcome (which requests failed), not an identity (whose requests
    they are): a signal's matcher on one of these narrows to the failure; on any other label it
    tells the subject's series apart (``endpoint_id=~"..."``, ``route="/v2/..."``). The
    conventions' outcome labels, and the others they list (``le``, ``reason``, ...)."""
    return bool(healthy_values(name)) or name in other_outcome_labels()


def narrows_like(read: Iterable[LabelMatcher], signal: LabelMatcher) -> bool:
    """Does a read narrow a label the way a failure signal does (``code=~"5.."``)?

    Where conventions tell which values are healthy (``conventions.healthy_values``), the read
    must leave out every healthy value the signal leaves out (``code!~"2..|3.."`` does;
    ``code!="404"`` does not; ``status_code=~"STATUS_CODE_(ERROR|UNSET)"`` keeps the healthy
    UNSET calls, so it counts normal traffic). Elsewhere it must at least narrow the label (not
    just ``=~".*"``)."""
    on_label = [m for m in read if m.name == signal.name]
    healthy = [v for v in healthy_values(signal.name) if not signal.matches(v)]
    if healthy:
        return all(any(not m.matches(v) for m in on_label) for v in healthy)
    return any(not (m.matches(PROBE_VALUE) and m.matches("")) for m in on_label)


def is_specific(matcher: LabelMatcher) -> bool:
    """A positive matcher that picks some values and not just any (``job=~".+"`` is not)."""
    return matcher.op in (MatchOp.EQ, MatchOp.RE) and not matcher.matches(PROBE_VALUE)


def healthy_value(matcher: LabelMatcher) -> str | None:
    """A conventional healthy value this failure matcher rejects (``"200"`` for ``code=~"5.."``)."""
    for value in healthy_values(matcher.name) + ("ok", "success", "200", ""):
        if not matcher.matches(value):
            return value  # "" means: leave the label out
    return None


def requires_value(matcher: LabelMatcher) -> bool:
    """A signal matcher that says which series show the failure (``code=~"5.."``), as opposed
    to one that only excludes some (``reason!="insufficient_funds"``) or one on a scope label
    that only says whose series they are (``span_kind="SPAN_KIND_SERVER"``: like a selector, it
    must be compatible with a read, which need not narrow it)."""
    return matcher.op in (MatchOp.EQ, MatchOp.RE) and not matcher.matches("") and matcher.name not in scope_labels()


# --------------------------------------------------------------------------- regex examples

# The examples are a bounded beam, not an enumeration: each node of the pattern is expanded once
# into at most _BEAM strings, so the work is linear in the pattern whatever its repeats say
# (``[0-9a-f]{40}``, a git SHA, once took 2^40 steps).
_BEAM = 8
_MAX_EXAMPLE_CHARS = 4096  # a witness longer than any real label value is no use
_MAX_DEPTH = 40


@lru_cache(maxsize=4096)
def regex_examples(pattern: str) -> tuple[str, ...]:
    """A few strings the (anchored) pattern accepts — or may accept; callers check them."""
    try:
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return ()
    return tuple(dict.fromkeys(_sequence(list(parsed), 0)))[:_MAX_EXAMPLES]


def _sequence(items: list, depth: int) -> list[str]:
    """Examples of a sequence of regex items: the beam of their concatenations."""
    if depth > _MAX_DEPTH:
        return []
    results = [""]
    for item in items:
        choices = _item(item, depth)
        if not choices:
            return []
        results = _combine(results, choices)
        if not results:
            return []
    return results


def _combine(prefixes: list[str], choices: list[str]) -> list[str]:
    """Up to _BEAM concatenations, varying both sides early (diagonal order), none too long."""
    pairs = sorted(
        ((i, j) for i in range(len(prefixes)) for j in range(len(choices))),
        key=lambda pair: (pair[0] + pair[1], pair[0]),
    )
    combined = []
    for i, j in pairs:
        if len(prefixes[i]) + len(choices[j]) <= _MAX_EXAMPLE_CHARS:
            combined.append(prefixes[i] + choices[j])
            if len(combined) == _BEAM:
                break
    return combined


def _item(item: tuple, depth: int) -> list[str]:
    op, value = item
    if op is LITERAL:
        return [chr(value)]
    if op is ANY:
        return ["0", "a"]  # digits first: status codes are the common case
    if op is IN:
        return _class_examples(value)
    if op is NOT_LITERAL:
        return ["a" if value != ord("a") else "b"]
    if op is BRANCH:
        found: list[str] = []
        for branch in value[1]:
            found.extend(_sequence(list(branch), depth + 1)[:4])
        return list(dict.fromkeys(found))[: 2 * _BEAM]
    if op is SUBPATTERN:
        return _sequence(list(value[-1]), depth + 1)
    if op in (MAX_REPEAT, MIN_REPEAT):
        low, high, inner = value
        examples = _sequence(list(inner), depth + 1)[:3]
        repeated = []
        for count in sorted({low, min(low + 1, high), min(max(low, 2), high)}):
            for example in examples or ([""] if count == 0 else []):
                if len(example) * count <= _MAX_EXAMPLE_CHARS:
                    repeated.append(example * count)
        return list(dict.fromkeys(repeated))
    if op is AT:
        return [""]
    return []  # backreferences, lookarounds: no example from this branch


def _class_examples(members: list) -> list[str]:
    if members and members[0][0] is NEGATE:
        excluded = {chr(v) for op, v in members[1:] if op is LITERAL}
        return [next(c for c in "azAZ09_-" if c not in excluded)]
    found: list[str] = []
    for op, value in members:
        if op is LITERAL:
            found.append(chr(value))
        elif op is RANGE:
            found.append(chr(value[0]))
        elif op is CATEGORY:
            found.extend(("0", "a", " "))
        if len(found) >= _BEAM:
            break
    return found
