"""The failures coverage is judged against, and the healthy world they start from (DESIGN 5.1).

One place says what a scenario does to a subject's series: the static model (``analysis``)
derives crossing times from it, and the drill (``drill``) writes the same series for the real
Prometheus engine. The numbers are data (``data/scenarios.yaml``).

A series is described by a :class:`Behaviour`: what it does before the step at t0 and after it.
Which behaviour a read gets depends on the failure mode's *model* (how its signal responds to a
failure), the read's *role* (the failing series themselves, all events of that family, the
healthy part of them, or something the failure does not touch) and whether the read keeps the
instance a canary fails on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml

ScenarioName = Literal["outage", "partial", "canary"]
SCENARIOS: tuple[ScenarioName, ...] = ("outage", "partial", "canary")
DEFAULT_SCENARIO: ScenarioName = "outage"

Model = Literal["bad_events", "good_events", "all_events", "latency", "backlog", "heartbeat", "events"]
MODELS: tuple[Model, ...] = ("bad_events", "good_events", "all_events", "latency", "backlog", "heartbeat", "events")

# A read's role towards the failing signal:
#   signal   selects the failing series (``code=~"5.."`` for errors, the success counter for a drop)
#   total    the same family without that narrowing (all requests)
#   rest     the same family narrowed to what the signal leaves out (``code!~"5.."``); where the
#            signal is a whole family (throughput), the part of it that failed (``code=~"5.."``)
#   other    a series the failure does not move
Role = Literal["signal", "total", "rest", "other"]

# Behaviour kinds a drill writes and the model evaluates.
SeriesKind = Literal["counter", "gauge", "histogram", "timestamp"]
EPOCH = 1_700_000_000.0  # "now" at the step, for timestamps (a realistic Unix time)
HEARTBEAT_RATE = 1.0 / 3600  # a job that succeeds hourly, for counters of runs

# Events with no natural scale (failures of a batch job, a custom backlog): once the failure
# starts they are taken to pass any threshold at once; their timing is then the alert's own
# windows, ``for`` and delivery.
EVENTS_SCALE = 1.0e9


@dataclass(frozen=True, slots=True)
class Scenario:
    name: ScenarioName
    description: str
    failing_share: float  # share of requests that fail or are slow
    traffic_loss: float  # share of traffic that stops
    canary: bool  # confined to one instance of `instances`


@dataclass(frozen=True, slots=True)
class Healthy:
    traffic_per_second: float
    error_share: float
    latency_seconds: float
    slow_latency_seconds: float
    instances: int
    backlog: float
    heartbeat_age_seconds: float


@dataclass(frozen=True, slots=True)
class World:
    healthy: Healthy
    scenarios: dict[str, Scenario]
    models: tuple[str, ...]

    def scenario(self, name: str) -> Scenario:
        return self.scenarios[name]


@lru_cache(maxsize=1)
def world() -> World:
    text = resources.files("coverage_audit").joinpath("data/scenarios.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    values = dict(data["healthy"])
    healthy = Healthy(
        traffic_per_second=float(values["traffic_per_second"]),
        error_share=float(values["error_share"]),
        latency_seconds=float(values["latency_seconds"]),
        slow_latency_seconds=float(values["slow_latency_seconds"]),
        instances=int(values["instances"]),
        backlog=float(values["backlog"]),
        heartbeat_age_seconds=float(values["heartbeat_age_seconds"]),
    )
    scenarios = {name: Scenario(name=name, **body) for name, body in data["scenarios"].items()}
    assert tuple(scenarios) == SCENARIOS, "data/scenarios.yaml must define exactly outage, partial, canary"
    return World(healthy, scenarios, tuple(data["models"]))


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one series does around the step at t0 (values in the metric's own unit).

    counter    ``rate_before`` / ``rate_after``: increase per second
    gauge      ``value_before``; after t0 it moves to ``value_after`` at once, or grows by
               ``slope_after`` per second (a backlog)
    histogram  ``rate_*`` requests per second; every request takes ``latency_before`` before
               t0; after it, ``slow_share_after`` of them take ``latency_after``
    timestamp  a last-success time: ``value_before`` seconds old and keeping up with the clock
               while healthy (``EPOCH + t - value_before``); after t0 it stops advancing when
               ``slope_after`` is 0
    ``vanishes``: the series is no longer reported after t0 (its exporter stopped).
    """

    kind: SeriesKind
    rate_before: float = 0.0
    rate_after: float = 0.0
    value_before: float = 0.0
    value_after: float = 0.0
    slope_after: float = 0.0
    latency_before: float = 0.0
    latency_after: float = 0.0
    slow_share_after: float = 0.0
    vanishes: bool = False


_UNIT_SCALES = (("_milliseconds", 1000.0), ("_microseconds", 1e6), ("_nanoseconds", 1e9), ("_seconds", 1.0))


def time_unit_scale(metric: str) -> float:
    """How many of the metric's own time units make a second. Prometheus names carry the unit
    (``*_duration_milliseconds_bucket`` is in milliseconds); where a name says nothing, the
    instrumentation conventions may (Linkerd's ``response_latency_ms``, Envoy's ``*_rq_time``:
    milliseconds). 1.0 when neither says anything."""
    from .conventions import declared_unit_scale  # data about emitters; it imports this module

    declared = declared_unit_scale(metric)
    return declared if declared is not None else name_unit_scale(metric)


def name_unit_scale(metric: str) -> float:
    """The unit the metric's name says (1.0 when it says nothing)."""
    for marker, scale in _UNIT_SCALES:
        if marker in metric:
            return scale
    return 1.0


def time_unit(metric: str) -> str:
    scale = time_unit_scale(metric)
    return next((marker[1:] for marker, known in _UNIT_SCALES if known == scale), "seconds")


_COUNTER = re.compile(r"[_:](total|count|sum|bucket|created)$")  # recorded-looking names too
_TIMESTAMP = re.compile(r"(timestamp|_time$|_time_seconds$|unixtime|last_success|last_run)")
_PROGRESS = re.compile(r"(offset|position|_sequence)")  # gauges that only ever advance


def is_timestamp_name(metric: str) -> bool:
    """A gauge holding a Unix time (a last success, a last schedule)."""
    return _TIMESTAMP.search(metric) is not None


def is_progress_name(metric: str) -> bool:
    """A gauge that only advances while work is done (a consumer offset, a position)."""
    return _PROGRESS.search(metric) is not None


def is_counter_name(metric: str) -> bool:
    """A counter by its name, or by the instrumentation conventions where an exporter's counter
    does not carry the ``_total`` suffix (``cloudflare_zone_requests_status``)."""
    if _COUNTER.search(metric) is not None:
        return True
    from .conventions import declared_counter  # data about emitters; it imports this module

    return declared_counter(metric)


def subject_traffic(traffic: float | None) -> float:
    return traffic if traffic and traffic > 0 else world().healthy.traffic_per_second


def behaviour(
    model: str,
    role: Role,
    scenario: Scenario,
    traffic: float,
    metric: str,
    whole_instance: bool = False,
) -> Behaviour:
    """The series a read of ``metric`` sees when the subject fails as ``scenario`` says.

    ``traffic``: the subject's requests per second. ``whole_instance``: the read keeps the label
    that tells the canary apart, so in the canary scenario it sees the failing instance alone
    (its share of traffic, failing outright) rather than the service's sum."""
    found = _behaviour(model, role, scenario, traffic, metric, whole_instance)
    if found.kind == "counter" and not (is_counter_name(metric) or is_progress_name(metric)):
        # A gauge of events (connected clients, in-flight work): a level, not a rate.
        return Behaviour("gauge", value_before=found.rate_before, value_after=found.rate_after)
    return found


def _behaviour(
    model: str,
    role: Role,
    scenario: Scenario,
    traffic: float,
    metric: str,
    whole_instance: bool = False,
) -> Behaviour:
    """See :func:`behaviour`."""
    healthy = world().healthy
    failing, loss = scenario.failing_share, scenario.traffic_loss
    if scenario.canary:
        if whole_instance:  # the canary's own series: its share of traffic, failing outright
            traffic = traffic / healthy.instances
        else:  # the service's sum: one instance of many
            failing, loss = failing / healthy.instances, loss / healthy.instances
    scale = time_unit_scale(metric)
    errors = healthy.error_share

    if model == "heartbeat":
        if role == "other":
            return _steady(metric, traffic, scale)
        stops = scenario.failing_share >= 1.0 and (whole_instance or not scenario.canary)
        if is_counter_name(metric):  # runs or successes counted: they stop coming
            return Behaviour("counter", rate_before=HEARTBEAT_RATE, rate_after=0.0 if stops else HEARTBEAT_RATE)
        if is_timestamp_name(metric):
            # A last-success timestamp stops advancing; the series itself stays (the Pushgateway
            # or kube-state-metrics keeps exporting the last value).
            return Behaviour("timestamp", value_before=healthy.heartbeat_age_seconds, slope_after=0.0 if stops else 1.0)
        return Behaviour("gauge", value_before=1.0, value_after=1.0, vanishes=stops)  # it stops reporting
    if model == "backlog":
        if role == "signal":
            return Behaviour("gauge", value_before=healthy.backlog, value_after=healthy.backlog,
                             slope_after=traffic * failing)
        return _steady(metric, traffic, scale)
    if model == "events":
        if role == "signal":
            if is_counter_name(metric):
                return Behaviour("counter", rate_before=0.0, rate_after=EVENTS_SCALE)
            return Behaviour("gauge", value_before=0.0, value_after=EVENTS_SCALE)
        return _steady(metric, traffic, scale)
    if model == "latency":
        if role in ("signal", "total") and not metric.endswith(_HISTOGRAM_PARTS):
            # A latency gauge (Micrometer's _max, HAProxy's averages, a summary's quantiles): a
            # level in the metric's unit; a maximum is slow as soon as any request is.
            fast, slow = healthy.latency_seconds * scale, healthy.slow_latency_seconds * scale
            after = slow if metric.endswith("_max") and failing > 0 else fast + failing * (slow - fast)
            return Behaviour("gauge", value_before=fast, value_after=after)
        if role in ("signal", "total"):
            return Behaviour(
                "histogram",
                rate_before=traffic,
                rate_after=traffic,
                latency_before=healthy.latency_seconds * scale,
                latency_after=healthy.slow_latency_seconds * scale,
                slow_share_after=failing,
            )
        return _steady(metric, traffic, scale)
    if model in ("bad_events", "good_events"):
        # The signal is a share of the traffic: failed requests (rising), or successful ones
        # (falling); "rest" is the other share, "total" all of it.
        if model == "bad_events":
            before, after = errors, failing + (1 - failing) * errors
        else:
            before, after = 1 - errors, (1 - failing) * (1 - errors)
        if role == "signal":
            return Behaviour("counter", rate_before=traffic * before, rate_after=traffic * after)
        if role == "rest":
            return Behaviour("counter", rate_before=traffic * (1 - before), rate_after=traffic * (1 - after))
        if role == "total":
            return Behaviour("counter", rate_before=traffic, rate_after=traffic)
        return _steady(metric, traffic, scale)
    if model == "all_events":
        if role in ("signal", "total"):
            if is_counter_name(metric) or is_progress_name(metric):  # advances with the work done
                return Behaviour("counter", rate_before=traffic, rate_after=traffic * (1 - loss))
            return Behaviour("gauge", value_before=traffic, value_after=traffic * (1 - loss))
        if role == "rest":
            return Behaviour("counter", rate_before=traffic * errors, rate_after=traffic * errors * (1 - loss))
        return _steady(metric, traffic, scale)
    raise ValueError(f"unknown failure model {model!r}")


_HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def _steady(metric: str, traffic: float, scale: float) -> Behaviour:
    """A series the failure does not move: a counter of the subject's traffic, a histogram of
    healthy latencies, or a gauge at a plain level."""
    healthy = world().healthy
    if metric.endswith("_bucket"):
        latency = healthy.latency_seconds * scale
        return Behaviour("histogram", rate_before=traffic, rate_after=traffic, latency_before=latency, latency_after=latency)
    if is_counter_name(metric):
        return Behaviour("counter", rate_before=traffic, rate_after=traffic)
    return Behaviour("gauge", value_before=1.0, value_after=1.0)

