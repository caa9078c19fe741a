"""The routing behind every verdict on the bundled example agrees with the real amtool."""

from __future__ import annotations

from pathlib import Path

import pytest

from amtool import AMTOOL, amtool_receivers
from coverage_audit.analysis.routing import receivers_for
from coverage_audit.commands import judge_everything, load_inputs
from coverage_audit.config import load_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.tools, pytest.mark.skipif(AMTOOL is None, reason="amtool is not installed (Debian package prometheus-alertmanager)")]


def test_every_covering_alert_routes_as_amtool_says(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    settings = load_config("coverage-audit.yaml")
    inputs = load_inputs(settings)
    config = inputs.alertmanager
    assert config is not None
    seen: set[tuple[tuple[str, str], ...]] = set()
    for finding in judge_everything(inputs, settings):
        for alert in finding.alerts:
            if alert.labels in seen:
                continue
            seen.add(alert.labels)
            labels = dict(alert.labels)
            expected = amtool_receivers(settings.alertmanager, labels).split(",")
            assert receivers_for(config, labels) == expected, labels
            blackholes = {name for name, receiver in config.receivers.items() if receiver.blackhole}
            assert ("blackhole" in alert.problems) == all(name in blackholes for name in expected), labels
            assert set(alert.receivers) <= set(expected)
    assert len(seen) >= 20
