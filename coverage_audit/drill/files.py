"""The files a drill hands to promtool: copies of the real rules, and a unit-test file.

The rule file copies each drilled alert and the recording rules it reads, group by group, as
the rule files have them: the group's name, ``interval`` and ``query_offset``, each rule's
expression, ``for``, ``keep_firing_for`` and labels (annotations are left out: they never
change whether an alert fires, and their templates would have to be expected verbatim).

The test file holds one test group per scenario: the written series, and one PromQL question
per scenario about the alerts' ``ALERTS`` series (see ``engine``). For measuring, its expected
answer is a sentinel; in the files kept for a person (``--keep``) it is the measured answer,
so that rerunning ``promtool test rules`` passes exactly when the engine still agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ..durations import format_duration
from ..model import Rule
from ..yamlio import dump
from .engine import SENTINEL
from .series import quote


@dataclass(frozen=True, slots=True)
class Case:
    """One test group: a scenario's series and the question asked about them."""

    name: str
    step: float  # seconds between samples
    series: tuple[tuple[str, str], ...]  # (description, values)
    question: str  # PromQL
    eval_time: float  # seconds
    answer: Mapping[str, float] | None = None  # drill label -> value; None: the sentinel
    comment: str = ""


def rule_file(rules: Sequence[Rule], depth: Mapping[int, int], with_query_offset: bool) -> tuple[str, list[str]]:
    """The rule file, and its group names in the order the engine must evaluate them."""
    groups: dict[tuple[str, str], list[Rule]] = {}
    for rule in rules:
        groups.setdefault((rule.file, rule.group), []).append(rule)
    ordered = sorted(groups.values(), key=lambda members: max(depth.get(id(r), 0) for r in members))
    names: list[str] = []
    documents: list[dict[str, object]] = []
    notes: list[str] = []
    for members in ordered:
        first = members[0]
        name = _unique(first.group or "group", names)
        names.append(name)
        group: dict[str, object] = {"name": name}
        if first.interval:
            group["interval"] = format_duration(first.interval)
        if first.query_offset:
            if with_query_offset:
                group["query_offset"] = format_duration(first.query_offset)
            else:
                notes.append(f"# group {name!r} has a query offset of {format_duration(first.query_offset)}, which this "
                             "promtool cannot read: the drill adds it to the measured time.")
        group["rules"] = [_rule(r) for r in members]
        documents.append(group)
    sources = sorted({f"{r.file}" for r in rules})
    header = ["# Copied by coverage-audit drill from: " + ", ".join(sources), *notes]
    return "\n".join(header) + "\n" + dump({"groups": documents}), names


def _rule(rule: Rule) -> dict[str, object]:
    body: dict[str, object] = {"alert" if rule.kind == "alert" else "record": rule.name, "expr": rule.expr}
    if rule.kind == "alert":
        if rule.for_seconds:
            body["for"] = format_duration(rule.for_seconds)
        if rule.keep_firing_for:
            body["keep_firing_for"] = format_duration(rule.keep_firing_for)
    if rule.labels:
        body["labels"] = dict(rule.labels)
    return body


def _unique(name: str, taken: list[str]) -> str:
    """Group names must be unique for ``group_eval_order`` (copies may come from two files)."""
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name} ({number})", number + 1
    return candidate


def test_file(rule_file_name: str, interval: float, group_order: list[str], cases: Sequence[Case], header: str = "") -> str:
    document = {
        "rule_files": [rule_file_name],
        "evaluation_interval": format_duration(interval),
        "group_eval_order": group_order,
        "tests": [_case(case) for case in cases],
    }
    return (header + "\n" if header else "") + dump(document)


def _case(case: Case) -> dict[str, object]:
    if case.answer is None:
        expected = [{"labels": SENTINEL, "value": 0}]
    else:
        expected = [{"labels": f"{{drill={quote(label)}}}", "value": value} for label, value in sorted(case.answer.items())]
    return {
        "name": case.name,
        "interval": format_duration(case.step),
        "input_series": [{"series": description, "values": values} for description, values in case.series],
        "promql_expr_test": [{"expr": case.question, "eval_time": format_duration(case.eval_time), "exp_samples": expected}],
    }


def question(alert_names: Sequence[str], t0: float, horizon: float, healthy_from: float, interval: float) -> str:
    """For each alert (by its index): when it first fired after t0 (``fired_i``, seconds from
    t0), and how many evaluations found it firing while healthy (``noisy_i``), both answered at
    ``t0 + horizon``."""
    parts = []
    span, watch = int(round(horizon)), int(round(t0 - healthy_from))
    for index, name in enumerate(alert_names):
        firing = f'ALERTS{{alertname={quote(name)},alertstate="firing"}}'
        parts.append(
            f'label_replace(min(min_over_time(timestamp({firing})[{span}s:{int(interval)}s])) - {int(t0)}, '
            f'"drill", "fired_{index}", "", "")'
        )
        parts.append(
            f'label_replace(sum(count_over_time({firing}[{watch}s] offset {span}s)), "drill", "noisy_{index}", "", "")'
        )
    return "\nor\n".join(parts)
