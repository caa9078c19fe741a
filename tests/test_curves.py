"""Remembered curve arithmetic answers what computing it afresh answers (issue 10)."""

from __future__ import annotations

import math
import operator

from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_audit.analysis.curves import Curve

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.sampled_from([0.0, -0.0, math.inf, math.nan])
times = st.floats(min_value=0.0, max_value=1e5, allow_nan=False)


@st.composite
def curves(draw: st.DrawFn) -> Curve:
    healthy = draw(values)
    kind = draw(st.sampled_from(["constant", "step", "ramp"]))
    if kind == "constant":
        return Curve.constant(healthy)
    if kind == "step":
        return Curve.step(healthy, draw(values), draw(times))
    return Curve.ramp(healthy, draw(st.floats(min_value=-10, max_value=10, allow_nan=False)), draw(times))


def _divide(a: float, b: float) -> float:
    return a / b


OPERATIONS = [operator.add, operator.sub, operator.mul, _divide, math.pow]


def _same(a: Curve, b: Curve) -> bool:
    return len(a.points) == len(b.points) and all(
        ta == tb and (va == vb or (math.isnan(va) and math.isnan(vb))) for (ta, va), (tb, vb) in zip(a.points, b.points)
    )


@settings(max_examples=300, deadline=None)
@given(curves(), curves(), st.sampled_from(OPERATIONS), st.booleans())
def test_remembered_combination_equals_a_fresh_one(left: Curve, right: Curve, fn, bends: bool) -> None:  # type: ignore[no-untyped-def]
    fresh = Curve.combine([left, right], fn, bends)
    assert _same(Curve.combined((left, right), fn, bends), fresh)
    assert _same(Curve.combined((left, right), fn, bends), fresh)  # asked again: remembered


@settings(max_examples=200, deadline=None)
@given(curves(), st.sampled_from(OPERATIONS))
def test_a_zero_of_either_sign_gets_an_answer_equal_but_for_the_sign_of_zeros(other: Curve, fn) -> None:  # type: ignore[no-untyped-def]
    positive, negative = Curve.step(0.0, 1.0, 5.0), Curve.step(-0.0, 1.0, 5.0)
    Curve.combined((positive, other), fn)  # remembered first
    assert _same(Curve.combined((negative, other), fn), Curve.combine([negative, other], fn))


def test_a_negative_base_to_a_fractional_power_is_nan_not_a_crash() -> None:
    from coverage_audit.analysis.evaluate import _ARITHMETIC

    result = Curve.combine([Curve.step(-1.0, -8.0, 60.0), Curve.constant(1.5)], _ARITHMETIC["^"])
    assert all(math.isnan(v) for _, v in result.points)


def test_atan2_which_reads_the_sign_of_a_zero_is_never_answered_from_memory() -> None:
    assert Curve.combined((Curve.constant(0.0), Curve.constant(0.0)), math.atan2).healthy == 0.0
    assert Curve.combined((Curve.constant(0.0), Curve.constant(-0.0)), math.atan2).healthy == math.pi


def test_a_shifted_value_keeps_every_field_it_does_not_shift() -> None:
    """``_shifted`` builds the Value field by field (``dataclasses.replace`` was a measurable cost
    on GitLab, which reads everything at ``offset 30s``): a field added to Value must not be
    dropped there."""
    from dataclasses import fields, replace

    from coverage_audit.analysis.curves import Span
    from coverage_audit.analysis.evaluate import Facts, Hist, Value, _shifted

    value = Value(
        Curve.step(1.0, 5.0), Span(((0.0, 60.0),)), Facts(signal=True, near=("x",)), Hist(Curve.step(1.0, 2.0), Curve.step(0.0, 0.5), 0.1, 2.0),
        Curve.step(2.0, 3.0), 300.0, True, ({"job": "a"},), True,
    )
    assert all(getattr(value, f.name) != f.default for f in fields(Value))  # nothing left at its default
    shifted = _shifted(value, 30.0)
    expected = replace(
        value,
        curve=value.curve.shift(30.0),  # type: ignore[union-attr]
        span=value.span.shift(30.0),
        rate=value.rate.shift(30.0),  # type: ignore[union-attr]
        hist=Hist(value.hist.rate.shift(30.0), value.hist.slow.shift(30.0), 0.1, 2.0),  # type: ignore[union-attr]
    )
    assert shifted == expected
