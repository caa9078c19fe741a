"""What a read of a series is to a failure mode: the failing series, all of that family, the
healthy rest of it, or something the failure does not move (``scenarios.Role``).

The judge's magnitude model and the drill's series synthesis both ask this, so it is answered
here once.
"""

from __future__ import annotations

from typing import Iterable

from ..model import LabelMatcher
from ..promql import Selector
from ..scenarios import Role
from ..conventions import healthy_values, scope_labels
from .matching import compatible_pair, narrows_like, requires_value


def role_of(read: Selector, signals: Iterable[Selector], inverse: Iterable[Selector] = ()) -> Role:
    """The role of ``read`` for a mode whose failing series are ``signals`` (and whose
    ``inverse`` selectors move the other way, as cache misses against hits)."""
    best: Role = "other"
    for signal in signals:  # the closest of the mode's signals decides (several conventions)
        if read.metric == signal.metric:
            role = _against(read.matchers, signal)
            if _RANK[role] < _RANK[best]:
                best = role
    if best != "other":
        return best
    for opposite in inverse:
        if read.metric == opposite.metric and _against(read.matchers, opposite) == "signal":
            return "rest"
    return "other"


def _against(read: tuple[LabelMatcher, ...], signal: Selector) -> Role:
    if not compatible_pair(read, signal.matchers):
        # No series can be both: another side of a call (producer spans against the API's
        # server spans: the failure does not move them), or other outcomes (4xx, NotFound
        # against 5xx: the healthy rest of the traffic).
        scope = tuple(m for m in signal.matchers if m.name in scope_labels())
        return "other" if scope and not compatible_pair(read, scope) else "rest"
    narrowing = [m for m in signal.matchers if requires_value(m)]
    if not narrowing:
        if failing_part(signal.matchers):
            # The signal excludes the healthy outcomes (``grpc_code!~"OK|NotFound"``): a read
            # that excludes them too reads the failures; one that keeps only them, the rest.
            if failing_part(read):
                return "signal"
            return "rest" if healthy_part(read) else "total"
        # The signal is the whole family (a throughput counter, a histogram): a read narrowed
        # to failed outcomes (``code=~"5.."``) is its failing part, anything else is the family.
        return "rest" if failing_part(read) else "signal"
    if all(narrows_like(read, m) for m in narrowing):
        return "signal"
    if any(_excludes(read, m) for m in narrowing):
        return "rest"
    return "total"


_RANK = {"signal": 0, "rest": 1, "total": 2, "other": 3}


def failing_part(read: tuple[LabelMatcher, ...]) -> bool:
    """Does the read keep only failed outcomes of a label whose healthy values conventions
    know (``code=~"5.."``, ``status_code="STATUS_CODE_ERROR"``)?"""
    for label in {m.name for m in read}:
        healthy = healthy_values(label)
        if healthy and all(any(not m.matches(value) for m in read if m.name == label) for value in healthy):
            return True
    return False


def healthy_part(read: tuple[LabelMatcher, ...]) -> bool:
    """Does the read keep only healthy outcomes of some outcome label (``grpc_code="OK"``)?"""
    for label in {m.name for m in read}:
        healthy = healthy_values(label)
        if not healthy:
            continue
        on_label = [m for m in read if m.name == label]
        if not any(m.op.negative for m in on_label) and any(all(m.matches(v) for m in on_label) for v in healthy):
            if not all(m.matches("") for m in on_label):
                return True
    return False


def _excludes(read: tuple[LabelMatcher, ...], signal_matcher: LabelMatcher) -> bool:
    """Does the read leave out the failing values (``code!~"5.."`` against ``code=~"5.."``)?"""
    on_label = [m for m in read if m.name == signal_matcher.name]
    return any(m.op.negative and m.value == signal_matcher.value for m in on_label) or any(
        not m.op.negative and not m.op.regex and signal_matcher.matches(m.value) is False for m in on_label
    )
