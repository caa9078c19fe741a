"""The Prometheus HTTP API as coverage-audit uses it: rules, and which series exist.

Prometheus, Thanos Query/Ruler, Mimir and Cortex answer the same paths (Mimir and Cortex under a
prefix such as ``/prometheus``, set as the endpoint's ``path_prefix``); Mimir and Cortex also serve
the rule groups as written through their ruler configuration API (YAML).
"""

from __future__ import annotations

from typing import Any

from .transport import Transport

# Mimir: <prefix>/config/v1/rules; Cortex: /api/v1/rules (no prefix). Both answer YAML:
# {namespace: [group, ...]} (https://grafana.com/docs/mimir/latest/references/http-api/#list-rule-groups,
# https://cortexmetrics.io/docs/api/#list-rule-groups).
RULER_PATHS = {"mimir_ruler": "/config/v1/rules", "cortex_ruler": "/api/v1/rules"}


class PrometheusClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def url(self) -> str:
        return self.transport.endpoint.base

    # ------------------------------------------------------------------ rules

    def rule_groups(self) -> list[Any]:
        """``/api/v1/rules``: the groups as the server evaluates them (JSON)."""
        data = self.transport.get_json("/api/v1/rules")
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list):
            raise self.transport.fail(self.url + "/api/v1/rules", "answered without a 'groups' list")
        return groups

    def ruler_config(self, api: str) -> tuple[str, str]:
        """The Mimir/Cortex ruler configuration API: (URL it came from, YAML text)."""
        path = RULER_PATHS[api]
        root = api == "cortex_ruler"  # Cortex serves it at the root, not under the Prometheus prefix
        url = (self.transport.endpoint.url if root else self.url) + path
        return url, self.transport.get_text(path, root=root)

    # ------------------------------------------------------------------ series

    def metric_names(self, start: float, end: float, match: str | None = None) -> list[str]:
        """Metric names with samples in [start, end] (of the series ``match`` selects)."""
        params: dict[str, Any] = {"start": _time(start), "end": _time(end)}
        if match is not None:
            params["match[]"] = match
        return self._strings(self.transport.get_json("/api/v1/label/__name__/values", params), "/api/v1/label/__name__/values")

    def label_values(self, label: str, start: float, end: float, match: str | None = None) -> list[str]:
        params: dict[str, Any] = {"start": _time(start), "end": _time(end)}
        if match is not None:
            params["match[]"] = match
        path = f"/api/v1/label/{label}/values"
        return self._strings(self.transport.get_json(path, params), path)

    def series(self, matches: list[str], start: float, end: float) -> list[dict[str, str]]:
        """Label sets of the series any of ``matches`` selects in [start, end] (one POST, so a
        batch of selectors never hits a URL length limit)."""
        form = [("match[]", m) for m in matches] + [("start", _time(start)), ("end", _time(end))]
        data = self.transport.get_json("/api/v1/series", data=form)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise self.transport.fail(self.url + "/api/v1/series", "answered without a list of label sets")
        return [{str(k): str(v) for k, v in item.items()} for item in data]

    def _strings(self, data: object, path: str) -> list[str]:
        if not isinstance(data, list):
            raise self.transport.fail(self.url + path, "answered without a list of values")
        return [str(item) for item in data]


def _time(seconds: float) -> str:
    return f"{seconds:.3f}"

