"""The steps after judging that let a team live with the gate: waivers, then the baseline.

Both are inputs like any other: a file that cannot be used is an error for that file (exit 2
once the run has completed), and the run goes on without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .. import clock
from ..analysis.baseline import compare
from ..analysis.findings import Finding, WaiverUse, order_findings
from ..analysis.waivers import apply_waivers
from ..config import Settings
from ..loaders.baseline import load_baseline
from ..loaders.waivers import load_waivers
from ..model import Diagnostic, InputError


@dataclass(frozen=True, slots=True)
class Settled:
    findings: tuple[Finding, ...]
    waivers: tuple[WaiverUse, ...]
    baseline: str | None  # the baseline file compared with, if it could be read


def settle(
    findings: Sequence[Finding],
    settings: Settings,
    args: Mapping[str, Any],
    errors: list[Diagnostic],
    every_mode: Iterable[tuple[str, str]] = (),
) -> Settled:
    """``every_mode``: the (subject, failure mode) keys of the whole map, read only when a
    waiver names nothing this run judged (to tell a stale waiver from an untouched one)."""
    waivers = []
    if settings.waivers:
        loaded = load_waivers(settings.waivers)
        errors.extend(loaded.errors)
        waivers = loaded.waivers
    settled, uses = apply_waivers(findings, waivers, clock.today(), every_mode)
    baseline = None
    if args.get("baseline"):
        try:
            loaded_baseline = load_baseline(args["baseline"])
        except InputError as exc:
            errors.append(exc.diagnostic)
        else:
            settled = compare(settled, loaded_baseline)
            baseline = loaded_baseline.file
    # Worst first as the judge orders them, with accepted gaps between the open ones and the covered.
    ordered = sorted(order_findings(settled), key=lambda f: _DISPLAY_RANK[f.status])
    return Settled(tuple(ordered), uses, baseline)


_DISPLAY_RANK = {"uncovered": 0, "weak": 1, "waived": 2, "covered": 3}
