"""What screening found, kept for the next run on the same rules (issue 10).

Before judging a failure mode, the judge screens the alerts that read its signal's metric by the
label values their raw reads pin (``CoverageJudge._raw_pins``): a walk of each such alert through
its recordings. On GitLab.com that walk is most of judging a small change (70 % of a
three-mode check). The pins depend on the rules alone, so they are kept in the cache under the
files' key and the code that works them out: the next check, of another change on the same
rules (what CI meets), learns them instead of walking again. An entry that does not fit the
rules (wrong count, a position out of range, a foreign shape) is ignored and rebuilt, never
trusted; two runs at once each write a whole entry (the later wins).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..analysis.coverage import CoverageJudge
from ..cache import Cache, code_fingerprint
from ..config import Settings
from ..gcpause import paused_gc
from ..model import Rule
from .rulesource import derived_entry

SCREENS = "screens"  # the cache's kind for one rule set's pins

Pins = dict[tuple[int, str], dict[str, str]]  # (rule position, what was asked) -> pinned values


@dataclass(frozen=True, slots=True)
class KeptPins:
    rules: int  # how many rules the load held
    pins: Pins


@dataclass(slots=True)
class Screens:
    """Where this run's pins go, and how many it learned (none new: nothing to write)."""

    cache: Cache
    key: str
    learned: int


def recall(settings: Settings, judge: CoverageJudge) -> Screens | None:
    """Teach ``judge`` the pins earlier runs on these very rules worked out; None when the
    rules were not all read with a cache (no key to keep them under)."""
    entry = derived_entry(settings, judge.ruleset.content_key, SCREENS, _code())
    if entry is None:
        return None
    cache, key = entry
    rules = judge.ruleset.rules
    with paused_gc():
        kept = cache.get(SCREENS, key)
    learned = _fitting(kept, rules)
    judge.learn_pins({(rules[position], asked): found for (position, asked), found in learned.items()})
    return Screens(cache, key, len(learned))


def keep(screens: Screens | None, judge: CoverageJudge) -> None:
    """Write what the judge knows now, when it worked out more than it learned."""
    if screens is None or len(judge.pins) <= screens.learned:
        return
    rules = judge.ruleset.rules
    position = {id(rule): index for index, rule in enumerate(rules)}
    pins = {(position[id(rule)], asked): found for (rule, asked), found in judge.pins.items()}
    screens.cache.put(SCREENS, screens.key, KeptPins(len(rules), pins))
    screens.cache.prune(SCREENS)


def _fitting(kept: object, rules: list[Rule]) -> Pins:
    """The entry's pins, when it was made from a load of these rules and is whole."""
    if not isinstance(kept, KeptPins) or kept.rules != len(rules) or not isinstance(kept.pins, dict):
        return {}
    for entry, found in kept.pins.items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], int) and 0 <= entry[0] < len(rules)):
            return {}
        if not isinstance(entry[1], str) or not isinstance(found, dict):
            return {}
    return kept.pins


@functools.lru_cache(maxsize=1)
def _code() -> str:
    from .. import __version__, model, promql, ruleset
    from ..analysis import coverage, matching, reads

    return code_fingerprint([coverage, reads, ruleset, model, promql, matching], __version__)
