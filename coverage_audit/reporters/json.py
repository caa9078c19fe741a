"""Machine-readable output: the stable contract of DESIGN section 6."""

from __future__ import annotations

import json

from ..analysis.inventory import Inventory

VERSION = 1


def dumps(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def render_inventory(inventory: Inventory) -> str:
    return dumps(
        {
            "version": VERSION,
            "rules": [
                {
                    "kind": e.rule.kind,
                    "name": e.rule.name,
                    "group": e.rule.group,
                    "file": e.rule.file,
                    "line": e.rule.line,
                    "expr": e.rule.expr,
                    "metrics": list(e.metrics),
                    "level": e.level,
                    "source": e.rule.source,
                    "for_seconds": e.rule.for_seconds,
                    "labels": dict(e.rule.labels),
                }
                for e in inventory.entries
            ],
            "errors": [error.as_dict() for error in inventory.errors],
            "skipped": [{"file": s.file, "reason": s.reason} for s in inventory.skipped],
            "summary": {
                "files": inventory.files,
                "alerts": inventory.alerts,
                "records": inventory.records,
                "application_alerts": inventory.application_alerts,
                "errors": len(inventory.errors),
                "skipped": len(inventory.skipped),
            },
        }
    )
