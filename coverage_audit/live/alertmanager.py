"""A running Alertmanager (API v2): its configuration, its active silences, and how the running
configuration differs from the file.

``/api/v2/status`` carries the loaded configuration as YAML text (``config.original``, secrets
masked), which the file loader reads as it reads a file; ``/api/v2/silences`` lists silences with
their matchers (``isRegex``, ``isEqual``) and times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping

from ..loaders.alertmanager import load_alertmanager_text, new_matcher
from ..model import AlertmanagerConfig, LabelMatcher, MatchOp, Route, matches_all
from .transport import LiveError, Transport


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[LabelMatcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def describe(self) -> str:
        """``silenced until 2026-05-02 18:00 UTC by alice (silence 1a2b3c4d: "maintenance")``."""
        who = f" by {_one_line(self.created_by)}" if self.created_by else ""
        why = f': "{_one_line(self.comment)[:80]}"' if self.comment else ""
        return f"silenced until {format_time(self.ends_at)}{who} (silence {self.id[:8]}{why})"


class AlertmanagerClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def url(self) -> str:
        return self.transport.endpoint.base

    def running_config(self) -> AlertmanagerConfig:
        """The configuration the server runs; InputError (file = the status URL) if it does not
        load, LiveError if the server does not answer."""
        path = "/api/v2/status"
        status = self.transport.get_json(path, envelope=False)
        config = status.get("config") if isinstance(status, dict) else None
        original = config.get("original") if isinstance(config, dict) else None
        if not isinstance(original, str):
            raise self.transport.fail(self.url + path, "answered without config.original (is this an Alertmanager with API v2?)")
        return load_alertmanager_text(original, self.url + path)

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """Silences active now (state ``active``, and started, and not yet ended)."""
        path = "/api/v2/silences"
        data = self.transport.get_json(path, envelope=False)
        if not isinstance(data, list):
            raise self.transport.fail(self.url + path, "answered without a list of silences")
        moment = now or datetime.now(timezone.utc)
        found = []
        for item in data:
            silence = _silence(item, self.url + path)
            state = item.get("status", {}).get("state") if isinstance(item.get("status"), dict) else None
            if state == "active" and silence.starts_at <= moment < silence.ends_at:
                found.append(silence)
        return found


def _silence(item: Any, url: str) -> Silence:
    if not isinstance(item, dict) or not isinstance(item.get("matchers"), list):
        raise LiveError(url, "answered a silence without matchers")
    matchers = []
    for raw in item["matchers"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("value"), str):
            raise LiveError(url, f"silence {str(item.get('id'))[:40]!r} has a malformed matcher")
        regex, equal = bool(raw.get("isRegex")), raw.get("isEqual", True) is not False  # isEqual: Alertmanager >= 0.22
        op = {(False, True): MatchOp.EQ, (False, False): MatchOp.NE, (True, True): MatchOp.RE, (True, False): MatchOp.NRE}[(regex, equal)]
        try:
            matchers.append(new_matcher(raw["name"], op, raw["value"]))
        except ValueError:
            raise LiveError(url, f"silence {str(item.get('id'))[:40]!r} has an invalid regex matcher on {raw['name'][:60]!r}") from None
    return Silence(
        id=str(item.get("id", "")),
        matchers=tuple(matchers),
        starts_at=_parse_time(item.get("startsAt"), url),
        ends_at=_parse_time(item.get("endsAt"), url),
        created_by=str(item.get("createdBy") or ""),
        comment=str(item.get("comment") or ""),
    )


def _parse_time(value: object, url: str) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    raise LiveError(url, "answered a silence with an unreadable time")


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- drift


def config_drift(file: AlertmanagerConfig, running: AlertmanagerConfig) -> list[str]:
    """How the running configuration differs from the file, one sentence per difference:
    receivers (missing, extra, other integrations) and routes, keyed by their matcher chain (so
    that one inserted route reads as one difference, not as every later route shifting)."""
    found: list[str] = []
    for name in file.receivers.keys() - running.receivers.keys():
        found.append(f"receiver {name!r} is in the file but not in the running Alertmanager")
    for name in running.receivers.keys() - file.receivers.keys():
        found.append(f"receiver {name!r} runs but is not in the file")
    for name in file.receivers.keys() & running.receivers.keys():
        ours, theirs = file.receivers[name].integrations, running.receivers[name].integrations
        if sorted(ours) != sorted(theirs):
            found.append(f"receiver {name!r} has {_integrations(ours)} in the file but {_integrations(theirs)} running")
    ours_routes, theirs_routes = dict(_routes(file.route)), dict(_routes(running.route))
    for key in ours_routes.keys() - theirs_routes.keys():
        found.append(f"route {key} (to {ours_routes[key].receiver}) is in the file but not running")
    for key in theirs_routes.keys() - ours_routes.keys():
        found.append(f"route {key} (to {theirs_routes[key].receiver}) runs but is not in the file")
    for key in ours_routes.keys() & theirs_routes.keys():
        a, b = ours_routes[key], theirs_routes[key]
        for what, x, y in (
            ("receiver", a.receiver, b.receiver),
            ("continue", a.continue_, b.continue_),
            ("group_wait", a.group_wait, b.group_wait),
            ("group_by", a.group_by, b.group_by),
            ("mute_time_intervals", a.mute_time_intervals, b.mute_time_intervals),
            ("active_time_intervals", a.active_time_intervals, b.active_time_intervals),
        ):
            if x != y:
                found.append(f"route {key}: {what} is {_show(x)} in the file but {_show(y)} running")
    return sorted(found)


def _routes(node: Route, chain: tuple[str, ...] = (), label: str | None = None) -> Iterator[tuple[str, Route]]:
    """Every route keyed by the matchers from the root down (``{}`` for the root); equal
    siblings are told apart by their position among themselves (``#2``)."""
    own = chain + (label or _matchers_text(node),)
    yield " > ".join(own), node
    seen: dict[str, int] = {}
    for child in node.routes:
        text = _matchers_text(child)
        seen[text] = seen.get(text, 0) + 1
        yield from _routes(child, own, text + (f"#{seen[text]}" if seen[text] > 1 else ""))


def _matchers_text(node: Route) -> str:
    return "{" + ",".join(sorted(str(m) for m in node.matchers)) + "}"


def _integrations(names: tuple[str, ...]) -> str:
    return ", ".join(sorted(names)) if names else "no integrations"


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, float):
        from ..durations import format_duration

        return format_duration(value)
    return str(value)

