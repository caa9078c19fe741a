"""The drill's sampling and watching parameters (``data/drill.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True, slots=True)
class DrillConfig:
    scrape_interval: float
    samples_per_window: int
    sparse_samples_per_window: int
    instant_sample_interval: float
    background_interval: float
    healthy_intervals: int
    healthy_margin: float
    horizon_budgets: float
    horizon_intervals: int
    horizon_past_model: float
    max_horizon: float
    time_limit: float
    engine_seconds_per_rule_evaluation: float
    expansion_time_limit: float
    buckets: tuple[float, ...]
    instance_labels: tuple[str, ...]
    instance_value: str
    stable_values: tuple[str, ...]

    def instance(self, index: int) -> str:
        return self.instance_value.format(block=index // 250, host=index % 250 + 1)


@lru_cache(maxsize=1)
def drill_config() -> DrillConfig:
    text = resources.files("coverage_audit").joinpath("data/drill.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    return DrillConfig(
        scrape_interval=float(data["scrape_interval"]),
        samples_per_window=int(data["samples_per_window"]),
        sparse_samples_per_window=int(data["sparse_samples_per_window"]),
        instant_sample_interval=float(data["instant_sample_interval"]),
        background_interval=float(data["background_interval"]),
        healthy_intervals=int(data["healthy_intervals"]),
        healthy_margin=float(data["healthy_margin"]),
        horizon_budgets=float(data["horizon_budgets"]),
        horizon_intervals=int(data["horizon_intervals"]),
        horizon_past_model=float(data["horizon_past_model"]),
        max_horizon=float(data["max_horizon"]),
        time_limit=float(data["time_limit"]),
        engine_seconds_per_rule_evaluation=float(data["engine_seconds_per_rule_evaluation"]),
        expansion_time_limit=float(data["expansion_time_limit"]),
        buckets=tuple(float(b) for b in data["buckets"]),
        instance_labels=tuple(data["instance_labels"]),
        instance_value=str(data["instance_value"]),
        stable_values=tuple(data["stable_values"]),
    )
