"""Where an alert goes: Alertmanager's routing, on a loaded ``AlertmanagerConfig``.

``route`` mirrors ``dispatch.Route.Match`` exactly (checked against ``amtool config routes test``
in the tests): the root always matches; children are tried depth-first, in order; a matching
child is descended into, and unless it says ``continue: true`` the search stops there; a node
none of whose children match is itself the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from ..model import (
    AlertmanagerConfig,
    Delivery,
    InhibitRule,
    LabelMatcher,
    MatchOp,
    Route,
    matches_all,
)
from ..owners import is_owner_label, owner_names
from .matching import witness_labels


def match_routes(node: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert with these labels ends at, in order (dispatch.Route.Match)."""
    if not matches_all(node.matchers, labels):
        return []
    found: list[Route] = []
    for child in node.routes:
        hits = match_routes(child, labels)
        found.extend(hits)
        if hits and not child.continue_:
            break
    return found or [node]


def route(config: AlertmanagerConfig, labels: Mapping[str, str]) -> list[Delivery]:
    """One Delivery per matched route: receiver, blackhole or not, timers, time intervals."""
    return [_delivery(config, node) for node in match_routes(config.route, labels)]


@dataclass(frozen=True, slots=True)
class Reach:
    """Whether an alert with given labels reaches someone, and what stands in the way.

    The one answer to that question: the judge turns ``problems`` into weak coverage, drafts
    keep only label sets with none."""

    deliveries: tuple[Delivery, ...]
    receivers: tuple[str, ...]  # receivers with integrations it reaches, in routing order
    problems: tuple[tuple[str, str], ...]  # (problem id of analysis.problems, detail)
    group_wait: float  # of the earliest route that always delivers (else of any it reaches)

    @property
    def ok(self) -> bool:
        return not self.problems


def reach(config: AlertmanagerConfig, labels: Mapping[str, str]) -> Reach:
    """Where the alert goes: ``blackhole`` when only receivers without integrations get it,
    ``unrouted`` when no route below the root takes it (only the catch-all receiver does),
    ``muted`` when every receiver gets it only inside time intervals."""
    deliveries = tuple(route(config, labels))
    live = [d for d in deliveries if not d.blackhole]
    problems: list[tuple[str, str]] = []
    if not live:
        names = ", ".join(sorted({d.receiver for d in deliveries}))
        problems.append(("blackhole", f"routes only to {names}, a receiver with no integrations"))
        return Reach(deliveries, tuple(d.receiver for d in deliveries), tuple(problems), min(d.group_wait for d in deliveries))
    if config.route.routes and all(not d.route_path for d in deliveries):
        problems.append(("unrouted", f"matches no route, so only the catch-all receiver {deliveries[0].receiver} gets it"))
    always = [d for d in live if not d.muted_by and not d.active_only]
    if not always:
        intervals = sorted({name for d in live for name in (*d.muted_by, *d.active_only)})
        problems.append(("muted", f"is delivered only as time intervals allow ({', '.join(intervals)})"))
    chosen = always or live
    return Reach(deliveries, tuple(d.receiver for d in live), tuple(problems), min(d.group_wait for d in chosen))


def first_notice_wait(config: AlertmanagerConfig, labels: Mapping[str, str]) -> float:
    """The ``group_wait`` before the first notification of a newly firing alert reaches
    someone (the judge's time to detect adds the same): the drill's measured time adds it too."""
    return reach(config, labels).group_wait


def receivers_for(config: AlertmanagerConfig, labels: Mapping[str, str]) -> list[str]:
    """Receiver names in routing order, duplicates kept, as ``amtool config routes test`` prints."""
    return [node.receiver for node in match_routes(config.route, labels)]


def inhibited_by(config: AlertmanagerConfig, labels: Mapping[str, str]) -> list[InhibitRule]:
    """Inhibit rules that can mute this alert (its labels match their target side).

    Informational: the alert is muted only while an alert matching the source side, with equal
    values for the ``equal`` labels, is firing.
    """
    return [rule for rule in config.inhibit_rules if matches_all(rule.target_matchers, labels)]


def _delivery(config: AlertmanagerConfig, node: Route) -> Delivery:
    receiver = config.receivers.get(node.receiver)
    return Delivery(
        receiver=node.receiver,
        blackhole=receiver is None or receiver.blackhole,
        group_wait=node.group_wait,
        group_interval=node.group_interval,
        repeat_interval=node.repeat_interval,
        route_path=node.path,
        muted_by=node.mute_time_intervals,
        active_only=node.active_time_intervals,
    )


# --------------------------------------------------------------------------- owner routes


def owner_route_matchers(config: AlertmanagerConfig, owner: str) -> list[tuple[LabelMatcher, ...]]:
    """Equality matchers that make an alert reach a paging-capable route of ``owner``.

    A route node is the owner's when a matcher on it or its ancestors, on an owner label
    (``owners.is_owner_label``), equals (case-insensitively) or regex-matches one of the owner's
    spellings (``owners.owner_names``), or when its receiver's name contains one. For each such node with a non-blackhole receiver, the labels are built from the
    matchers from root to node: equalities as they are, regexes by the owner's name or a literal
    alternative of the pattern; negative matchers must hold with those labels. A candidate is kept
    only if ``route`` really ends at that node with those labels. Results are in tree order
    (depth-first, parents before children), without repeats; empty when no route is the owner's.
    """
    names = owner_names(owner)
    found: list[tuple[LabelMatcher, ...]] = []
    for node, trail in _walk(config.route, ()):
        receiver = config.receivers.get(node.receiver)
        if receiver is None or receiver.blackhole:
            continue
        if not (_trail_names_owner(trail, names) or any(n in node.receiver.lower() for n in names)):
            continue
        labels = _labels_satisfying(trail, names)
        if labels is None or node.path not in {n.path for n in match_routes(config.route, labels)}:
            continue
        matchers = tuple(LabelMatcher(name, MatchOp.EQ, value) for name, value in labels.items())
        if matchers not in found:
            found.append(matchers)
    return found


def _walk(node: Route, trail: tuple[LabelMatcher, ...]) -> Iterator[tuple[Route, tuple[LabelMatcher, ...]]]:
    trail = trail + node.matchers
    yield node, trail
    for child in node.routes:
        yield from _walk(child, trail)


def _trail_names_owner(trail: tuple[LabelMatcher, ...], names: list[str]) -> bool:
    return any(_owner_value(m, names) is not None for m in trail)


def _owner_value(matcher: LabelMatcher, names: list[str]) -> str | None:
    """The owner spelling this positive matcher on an owner label accepts, if any."""
    if matcher.op.negative or not is_owner_label(matcher.name):
        return None
    if matcher.op is MatchOp.EQ:
        return matcher.value if matcher.value.lower() in names else None
    return next((n for n in names if matcher.matches(n)), None)


def _labels_satisfying(trail: tuple[LabelMatcher, ...], names: list[str]) -> dict[str, str] | None:
    """Labels that pass every matcher of the trail (owner labels take the owner's name where
    they can), root first, or None if none can."""
    prefer = {m.name: names for m in trail if is_owner_label(m.name)}
    labels = witness_labels(trail, prefer=prefer)
    return labels if labels is not None and matches_all(trail, labels) else None
