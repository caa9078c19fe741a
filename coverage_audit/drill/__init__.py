"""Proven coverage (DESIGN 5.2): replay each failure through the real Prometheus engine.

``run.verdicts`` picks the alerts each verdict rests on; ``run.drill`` writes their series
(``world``, ``series``) and rule copies (``files``), runs ``promtool test rules`` on them
(``engine``) and returns what it measured; ``verdict.overrule`` lets the measurement overrule
the static model. ``reads`` is the one place that knows how recording rules are resolved.
"""

from __future__ import annotations

from .run import Measured, Options, PromtoolMissing, drill, verdicts
from .verdict import overrule

__all__ = ["Measured", "Options", "PromtoolMissing", "drill", "overrule", "verdicts"]
