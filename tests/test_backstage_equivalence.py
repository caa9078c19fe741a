"""The bundled native service map, rewritten as Backstage catalog entities, gives the same
verdicts for every failure mode (DESIGN 3.4: the same data riding in annotations)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from coverage_audit.commands import judge_everything, load_inputs
from coverage_audit.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def to_backstage(native: dict) -> list[dict]:
    entities = []
    metrics = native.get("business_metrics", [])
    for index, service in enumerate(native["services"]):
        annotations = {
            "coverage-audit/selector": service["selector"],
            "coverage-audit/tier": service.get("tier", "standard"),
            "coverage-audit/components": yaml.safe_dump(service["components"], sort_keys=False),
        }
        if index == 0 and metrics:  # business metrics ride on any entity
            annotations["coverage-audit/business-metrics"] = yaml.safe_dump(metrics, sort_keys=False)
        entities.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": service["name"], "annotations": annotations},
                "spec": {
                    "type": "service",
                    "lifecycle": "production",
                    "owner": f"group:default/{service['owner']}",
                    "dependsOn": [f"component:default/{d}" for d in service.get("depends_on", [])] + ["resource:default/shop-db"],
                },
            }
        )
    return entities


def verdicts(service_maps: list[str]) -> dict:
    settings = Settings(
        rules=(str(ROOT / "rulesets"),),
        alertmanager=str(ROOT / "rulesets" / "alertmanager.yaml"),
        service_maps=tuple(service_maps),
    )
    inputs = load_inputs(settings)
    assert inputs.errors == []
    return {
        (f.subject.name, f.mode.id): (f.status, f.best.rule.name if f.best else None, f.best.problems if f.best else ())
        for f in judge_everything(inputs, settings)
    }


def test_backstage_map_gives_the_same_verdicts(tmp_path: Path) -> None:
    native = yaml.safe_load((ROOT / "service_maps" / "shop.yaml").read_text())
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(yaml.safe_dump_all(to_backstage(native), sort_keys=False))
    shutil.copy(ROOT / "service_maps" / "backstage" / "catalog-info.yaml", folder / "fulfilment-and-growth.yaml")
    expected = verdicts([str(ROOT / "service_maps")])
    assert len(expected) > 50
    assert verdicts([str(folder)]) == expected
