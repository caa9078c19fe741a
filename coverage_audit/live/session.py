"""The live sources of one run (DESIGN 3.6) and what they said.

One object per run connects to the configured Prometheus and Alertmanager (sharing one total
deadline), hands out their rule sources, the running Alertmanager configuration and silences,
the calls the service graph shows, and the :class:`Evidence` the judge consults. A source that
fails is one error (a ``Diagnostic`` naming its URL) and the run goes on without it.
"""

from __future__ import annotations

from typing import TypeVar

from ..analysis.findings import Drift
from ..config import Settings
from ..model import AlertmanagerConfig, Diagnostic, InputError, ServiceMap
from .alertmanager import AlertmanagerClient, Silence, config_drift
from .discovered import Discovery, discover
from .endpoint import Endpoint
from .evidence import Evidence, recording_definitions
from .prometheus import PrometheusClient
from .rules import PrometheusRules, RuleSource, RulerRules
from .transport import DEADLINE_TIMEOUTS, Deadline, LiveError, Transport

C = TypeVar("C", PrometheusClient, AlertmanagerClient)


class LiveSession:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.errors: list[Diagnostic] = []
        self.drift: list[Drift] = []
        self.deadline = Deadline(settings.deadline or settings.timeout * DEADLINE_TIMEOUTS)
        self._transports: list[Transport] = []
        self.prometheus = self._connect(settings.prometheus, PrometheusClient)
        self.alertmanager = self._connect(settings.alertmanager_url, AlertmanagerClient)
        self.discovery = Discovery()

    def note(self, error: Diagnostic) -> None:
        """A source that failed once is down for the run: its error is said once."""
        if error not in self.errors:
            self.errors.append(error)

    @property
    def active(self) -> bool:
        return self.prometheus is not None or self.alertmanager is not None

    def _connect(self, endpoint: Endpoint | None, kind: type[C]) -> C | None:
        if endpoint is None:
            return None
        try:
            transport = Transport(endpoint, timeout=self.settings.timeout, deadline=self.deadline)
        except LiveError as exc:
            self.note(exc.diagnostic)
            return None
        self._transports.append(transport)
        return kind(transport)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()

    # ------------------------------------------------------------------ rules

    def rule_sources(self) -> list[RuleSource]:
        if self.prometheus is None:
            return []
        endpoint = self.prometheus.transport.endpoint
        if endpoint.rules_api == "prometheus":
            return [PrometheusRules(self.prometheus, from_config=endpoint.from_config)]
        return [RulerRules(self.prometheus, endpoint.rules_api, from_config=endpoint.from_config)]

    # ------------------------------------------------------------------ Alertmanager

    def alertmanager_config(self, from_file: AlertmanagerConfig | None) -> AlertmanagerConfig | None:
        """The configuration to judge routing with: the file when given (what will be deployed;
        the running one is compared with it and drift reported), else the running one."""
        if self.alertmanager is None:
            return from_file
        try:
            running = self.alertmanager.running_config()
        except LiveError as exc:
            self.note(exc.diagnostic)
            return from_file
        except InputError as exc:  # the running configuration does not load: say where
            self.note(exc.diagnostic)
            return from_file
        if from_file is None:
            return running
        for difference in config_drift(from_file, running):
            self.drift.append(Drift("alertmanager", self.alertmanager.url, difference, from_file.file, 0))
        return from_file

    def silences(self) -> list[Silence]:
        if self.alertmanager is None:
            return []
        try:
            return self.alertmanager.silences()
        except LiveError as exc:
            self.note(exc.diagnostic)
            return []

    # ------------------------------------------------------------------ Prometheus

    def evidence(self, ruleset: object, service_map: ServiceMap) -> Evidence:
        """The judge's evidence: silences now; series on demand (``Evidence.prefetch``); and the
        calls the service graph shows, fetched here because impact needs them first."""
        evidence = Evidence(self.prometheus, self.settings.lookback, recording_definitions(ruleset), self.silences())
        if self.prometheus is not None:
            try:
                self.discovery = discover(self.prometheus, service_map, evidence.start, evidence.end)
            except LiveError as exc:
                self.note(exc.diagnostic)
            for edge in self.discovery.undeclared:
                service = service_map.services[edge.client]
                self.drift.append(Drift(
                    "undeclared_dependency", edge.client,
                    f"{edge.client} calls {edge.server} ({edge.metric}), but its depends_on does not say so",
                    service.file, service.line,
                ))  # fmt: skip
            for peer, metric in sorted(self.discovery.unknown.items()):
                self.drift.append(Drift("unknown_service", peer, f"{metric} shows calls from or to {peer!r}, which is not in the service map"))
        return evidence

    def subject_drift(self, evidence: Evidence) -> list[Drift]:
        """Subjects whose selector selects no series in the lookback, once per selector."""
        span = evidence.lookback
        from ..durations import format_duration

        return [
            Drift("missing_subject", ", ".join(m.subjects), f"the selector {m.selector} of {', '.join(m.subjects)} selects no series in the last {format_duration(span)}")
            for m in evidence.missing_subjects()
        ]
