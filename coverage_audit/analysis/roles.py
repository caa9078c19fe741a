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
from .matching import narrows_like, requires_value


def role_of(read: Selector, signals: Iterable[Selector], inverse: Iterable[Selector] = ()) -> Role:
    """The role of ``read`` for a mode whose failing series are ``signals`` (and whose
    ``inverse`` selectors move the other way, as cache misses against hits)."""
    for signal in signals:
        if read.metric == signal.metric:
            role = _against(read.matchers, signal)
            if role != "other":
                return role
    for opposite in inverse:
        if read.metric == opposite.metric and _against(read.matchers, opposite) == "signal":
            return "rest"
    return "other"


def _against(read: tuple[LabelMatcher, ...], signal: Selector) -> Role:
    narrowing = [m for m in signal.matchers if requires_value(m)]
    if not narrowing:
        return "signal"  # the signal is the whole family (a throughput counter, a histogram)
    if all(narrows_like(read, m) for m in narrowing):
        return "signal"
    if any(_excludes(read, m) for m in narrowing):
        return "rest"
    return "total"


def _excludes(read: tuple[LabelMatcher, ...], signal_matcher: LabelMatcher) -> bool:
    """Does the read leave out the failing values (``code!~"5.."`` against ``code=~"5.."``)?"""
    on_label = [m for m in read if m.name == signal_matcher.name]
    return any(m.op.negative and m.value == signal_matcher.value for m in on_label) or any(
        not m.op.negative and not m.op.regex and signal_matcher.matches(m.value) is False for m in on_label
    )
