"""The problems that make coverage weak (DESIGN 5), in one registry.

Each problem has an id (the contract's ``problems`` entries), a one-line summary the reporters
show, a SARIF level, and where its evidence comes from: the files alone (``static``), a running
Prometheus or Alertmanager (``live``), or a drill through the real engine (``drill``). The judge
and the evidence layers add problems by id; reporters read this registry and never hard-code a
problem. A new problem is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["static", "live", "drill"]


@dataclass(frozen=True, slots=True)
class Problem:
    id: str
    summary: str
    sarif_level: Literal["error", "warning", "note"] = "warning"
    source: Source = "static"


_ALL = (
    Problem("blackhole", "routes only to a receiver with no integrations"),
    Problem("unrouted", "matches no route of the tree: only the root's catch-all receiver gets it"),
    Problem("muted", "delivered only inside time intervals"),
    Problem("over_budget", "detects slower than the budget in the judged scenario"),
    Problem("diluted", "does not isolate the subject: its failure is averaged with other series"),
    Problem("filtered", "fires only for the series a join or filter lets through, which the rule set cannot tell"),
    Problem("direction_unclear", "cannot tell which way the expression must move to fire", "note"),
    Problem("silenced", "an active silence matches it", source="live"),
    Problem("drill_silent", "the drill measured it not firing", "error", source="drill"),
    Problem("drill_slow", "the drill measured it firing after the budget", source="drill"),
    Problem("drill_noisy", "the drill measured it firing while healthy", source="drill"),
)

REGISTRY: dict[str, Problem] = {problem.id: problem for problem in _ALL}


def summary(problem_id: str) -> str:
    found = REGISTRY.get(problem_id)
    return found.summary if found else problem_id


def register(problem: Problem) -> None:
    """Add a problem (for a new evidence source); ids are unique."""
    if problem.id in REGISTRY and REGISTRY[problem.id] != problem:
        raise ValueError(f"problem {problem.id!r} is already registered")
    REGISTRY[problem.id] = problem
