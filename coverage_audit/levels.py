"""Application or infrastructure: which level an alert works at, judged by the metrics it watches.

The list of infrastructure metric families is data (``data/levels.yaml``), so a team can extend
it in its configuration without code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

import yaml

from .model import Level


@dataclass(frozen=True, slots=True)
class LevelClassifier:
    names: frozenset[str]
    prefixes: tuple[str, ...]
    application_prefixes: tuple[str, ...]

    def is_infrastructure(self, metric: str) -> bool:
        parts = metric.split(":") if ":" in metric else (metric,)
        return any(self._infra_part(part) for part in parts if part)

    def _infra_part(self, name: str) -> bool:
        if name.startswith(self.application_prefixes):
            return False
        return name in self.names or name.startswith(self.prefixes)

    def prefix_of(self, metric: str) -> str:
        """The infrastructure name or prefix a metric belongs to ("" if none)."""
        if metric in self.names:
            return metric
        return next((p for p in self.prefixes if metric.startswith(p)), "")

    def application_for(self, metric: str, owned: tuple[str, ...]) -> bool:
        """Is a read of ``metric`` application-level for a subject whose kind owns ``owned``?"""
        if not self.is_infrastructure(metric):
            return True
        return metric not in self.names and any(metric.startswith(p) for p in owned if p)

    def always_infrastructure(self, metric: str) -> bool:
        """Metrics that never show an application's failure, whatever the subject declares
        (``up``, ``ALERTS``, scrape metadata). Prefixes are infrastructure only for others: a
        data store's own exporter metrics are that data store's application signals."""
        return metric in self.names

    def level(self, metrics: Iterable[str]) -> Level:
        """Infrastructure when every metric is (an expression with no metric, like the
        ``vector(1)`` watchdog, watches no application either); application otherwise."""
        return "application" if any(not self.is_infrastructure(m) for m in metrics) else "infrastructure"

    def extended(self, names: Iterable[str] = (), prefixes: Iterable[str] = (), application_prefixes: Iterable[str] = ()) -> "LevelClassifier":
        return LevelClassifier(
            self.names | frozenset(names),
            self.prefixes + tuple(prefixes),
            self.application_prefixes + tuple(application_prefixes),
        )


@lru_cache(maxsize=1)
def default_levels() -> LevelClassifier:
    text = resources.files("coverage_audit").joinpath("data/levels.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    return LevelClassifier(
        frozenset(data.get("names", ())),
        tuple(data.get("prefixes", ())),
        tuple(data.get("application_prefixes", ())),
    )
