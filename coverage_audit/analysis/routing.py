"""Where an alert goes: Alertmanager's routing, on a loaded ``AlertmanagerConfig``.

``route`` mirrors ``dispatch.Route.Match`` exactly (checked against ``amtool config routes test``
in the tests): the root always matches; children are tried depth-first, in order; a matching
child is descended into, and unless it says ``continue: true`` the search stops there; a node
none of whose children match is itself the result.
"""

from __future__ import annotations

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
from .matching import regex_examples

# A route is "for" an owner when it matches one of these labels (by substring of the label name,
# so ``team_name`` or ``owner2`` count) against the owner's name. ``product`` is how some
# organisations (GOV.UK's, in the corpus) name the owning team.
OWNER_LABEL_HINTS = ("team", "owner", "squad", "service", "product")
# Prefixes service maps often put on owner names that routes leave out (team-payments -> payments).
OWNER_PREFIXES = ("team-", "team_", "squad-", "squad_", "group:")


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


def first_notice_wait(config: AlertmanagerConfig, labels: Mapping[str, str]) -> float:
    """The ``group_wait`` before the first notification of a newly firing alert reaches
    someone: the shortest among routes that deliver at all times, else among routes with
    integrations, else among all (the judge's time to detect adds the same)."""
    deliveries = route(config, labels)
    live = [d for d in deliveries if not d.blackhole]
    always = [d for d in live if not d.muted_by and not d.active_only]
    chosen = always or live or deliveries
    return min((d.group_wait for d in chosen), default=0.0)


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

    A route node is the owner's when a matcher on it or its ancestors, on a label whose name
    contains team/owner/squad/service/product, equals (case-insensitively) or regex-matches the
    owner's name (also tried without a ``team-``-like prefix), or when its receiver's name
    contains the owner's name. For each such node with a non-blackhole receiver, the labels are built from the
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


def owner_names(owner: str) -> list[str]:
    """The spellings of an owner to look for, lower-cased: as given, and without a known prefix."""
    name = owner.strip().lower()
    variants = [name]
    for prefix in OWNER_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            variants.append(name[len(prefix):])
    return [v for v in dict.fromkeys(variants) if v]


def _walk(node: Route, trail: tuple[LabelMatcher, ...]) -> Iterator[tuple[Route, tuple[LabelMatcher, ...]]]:
    trail = trail + node.matchers
    yield node, trail
    for child in node.routes:
        yield from _walk(child, trail)


def _is_owner_label(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in OWNER_LABEL_HINTS)


def _trail_names_owner(trail: tuple[LabelMatcher, ...], names: list[str]) -> bool:
    return any(_owner_value(m, names) is not None for m in trail)


def _owner_value(matcher: LabelMatcher, names: list[str]) -> str | None:
    """The owner spelling this positive matcher on an owner label accepts, if any."""
    if matcher.op.negative or not _is_owner_label(matcher.name):
        return None
    if matcher.op is MatchOp.EQ:
        return matcher.value if matcher.value.lower() in names else None
    return next((n for n in names if matcher.matches(n)), None)


def _labels_satisfying(trail: tuple[LabelMatcher, ...], names: list[str]) -> dict[str, str] | None:
    """Labels (only equalities) that pass every matcher of the trail, or None if none found."""
    labels: dict[str, str] = {}
    for matcher in trail:
        if matcher.op is MatchOp.EQ:
            if labels.get(matcher.name, matcher.value) != matcher.value:
                return None  # two equalities on one label that disagree
            labels[matcher.name] = matcher.value
    for matcher in trail:
        if matcher.op is MatchOp.RE and not matcher.matches(labels.get(matcher.name)):
            if matcher.name in labels:
                return None
            value = _owner_value(matcher, names) or _regex_example(matcher)
            if value is None:
                return None
            labels[matcher.name] = value
    ordered = {m.name: labels[m.name] for m in trail if labels.get(m.name)}  # root first; "" is absent
    return ordered if matches_all(trail, ordered) else None


def _regex_example(matcher: LabelMatcher) -> str | None:
    """A value the regex accepts (one of its literal alternatives where it has them)."""
    return next((value for value in regex_examples(matcher.value) if value and matcher.matches(value)), None)
