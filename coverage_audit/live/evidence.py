"""Live evidence for the judge: is an alert dead, is it silenced, what does a subject emit.

The judge asks through one small interface (:meth:`Evidence.apply` on each covering alert, or
:meth:`Evidence.dead_reason` / :meth:`Evidence.silence_for` directly). What it needs from
Prometheus is fetched beforehand, in bulk, by :meth:`Evidence.prefetch`: the series of every
metric the alerts read (recording rules followed to the raw metrics), one batched request per
few dozen metric names and deduplicated across alerts, and the metric names each subject's
selector selects. Reads are then matched against those series here, with the same matcher
semantics (RE2, anchored) Prometheus uses.

Why a read selects nothing follows pint's ``promql/series`` check: the metric was never seen in
the lookback; it disappeared (around a date, found by bisecting the lookback with the series
API); a label it requires is missing from every series; no value of a label matches; or no
series has all the values together. A read narrowed to failing values (``code=~"5.."``) is not
dead on a healthy service when the metric carries the label (``data/status_labels.yaml``).
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterable, Mapping, Sequence

from ..analysis.findings import AlertCoverage, Related
from ..durations import format_duration
from ..model import LabelMatcher, Rule, Selectors
from ..promql import PromQLError, Selector, parse_selector
from ..yamlio import YMap, load_documents
from .alertmanager import Silence, format_time
from .liveness import created_labels, first_dead, selectors
from .postings import Postings
from .prometheus import PrometheusClient
from .transport import LiveError

RECENT_WINDOW = 2 * 3600.0  # a read with no series for this long counts as gone (pint's min-age)
BATCH = 64  # metric names per series request
BISECT_STEPS = 10  # dates a disappearance to lookback / 1024 (about 10 minutes of 7 days)
MAX_RECORDING_DEPTH = 16

LabelSet = dict[str, str]
Definitions = Callable[[Selector], tuple[Rule, ...]]


@dataclass(frozen=True, slots=True)
class StatusLabel:
    failing: tuple[str, ...]
    only_on_failure: bool = False


@lru_cache(maxsize=1)
def status_labels() -> Mapping[str, StatusLabel]:
    name = "coverage_audit/data/status_labels.yaml"
    text = resources.files("coverage_audit").joinpath("data/status_labels.yaml").read_text(encoding="utf-8")
    data = load_documents(text, name)[0].value
    assert isinstance(data, YMap)
    found = {}
    for label, body in data["labels"].items():
        found[label] = StatusLabel(tuple(body["failing"]), body.get("only_on_failure") == "true")
    return found


@dataclass(frozen=True, slots=True)
class MissingSubject:
    """A service (or component) selector that selects no series in the lookback: map drift."""

    selector: str
    subjects: tuple[str, ...]


class Evidence:
    """What the running system shows, for one run. Without a Prometheus (or after it failed)
    every read counts as alive: no evidence never makes an alert dead."""

    def __init__(
        self,
        prometheus: PrometheusClient | None,
        lookback: float,
        definitions: Definitions,
        silences: Sequence[Silence] = (),
        now: float | None = None,
    ) -> None:
        self.prometheus = prometheus
        self.lookback = lookback
        self.definitions = definitions
        self.silences = tuple(silences)
        self.end = now if now is not None else time.time()
        self.start = self.end - lookback
        self.errors: list = []  # Diagnostic of a live source that failed
        self.failed = False
        self._names: frozenset[str] | None = None
        self._lookback: dict[str, Postings] = {}
        self._recent: dict[str, Postings] = {}
        self._memo: dict[tuple[str | None, tuple[LabelMatcher, ...]], str | None] = {}
        self._gone: set[tuple[str, tuple[LabelMatcher, ...]]] = set()
        self._need_lookback: set[str] = set()  # metrics whose recent series settle nothing
        self._last_seen: dict[tuple[str, tuple[LabelMatcher, ...]], float] = {}
        self._subject_names: dict[tuple[LabelMatcher, ...], frozenset[str] | None] = {}
        self._subjects: dict[str, Selectors] = {}  # subject -> its alternative selectors
        self._active: set[str] = set()

    @property
    def has_series(self) -> bool:
        return self.prometheus is not None and not self.failed

    # ------------------------------------------------------------------ the judge's interface

    def apply(self, verdict: AlertCoverage, subject: Selectors | tuple[LabelMatcher, ...]) -> AlertCoverage | Related:
        """The judge's hook: a dead covering alert becomes related (it covers nothing); a
        silenced one gets the ``silenced`` problem, with the silence's end. ``subject``: the
        subject's alternative selectors (or one matcher tuple)."""
        signal = _metric_of(verdict.watches)
        why = self.dead_reason(verdict.rule, subject, frozenset({signal}) if signal else frozenset())
        if why is not None:
            return Related(verdict.rule, verdict.level, f"is dead: {why}")
        silence = self.silence_for(dict(verdict.labels))
        if silence is not None:
            return replace(verdict, problems=verdict.problems + ("silenced",), details=verdict.details + (f"is {silence.describe()}",))
        return verdict

    def dead_reason(self, rule: Rule, subject: Selectors | tuple[LabelMatcher, ...] = (), signal_metrics: frozenset[str] = frozenset()) -> str | None:
        """Why the alert can never fire (a read its firing needs selects no series), or None.
        With the subject's selectors, reads of the signal metrics must also select the subject's
        series through one of them (when the metric carries the subject's labels and the subject
        has series)."""
        if not self.has_series or rule.query is None:
            return None
        why = first_dead(rule.query.ast, self._read)
        if why is not None or not signal_metrics:
            return why
        found: str | None = None
        for matchers in _alternatives(subject):
            if not matchers or self._subject_missing(matchers):
                continue  # a subject without series is map drift, said once elsewhere
            why = first_dead(rule.query.ast, lambda s: self._read_for_subject(s, matchers) if s.metric in signal_metrics else self._read(s))
            if why is None:
                return None
            found = found or why
        return found

    def silence_for(self, labels: Mapping[str, str]) -> Silence | None:
        """The active silence that mutes an alert with these labels (the one ending last)."""
        found = [s for s in self.silences if s.matches(labels)]
        return max(found, key=lambda s: s.ends_at) if found else None

    def families(self, subject: str) -> frozenset[str]:
        """The metric names a subject's series carry in the lookback (DESIGN 3.5, "conventions
        in use"): names as Prometheus serves them (``http_requests_total``,
        ``..._duration_seconds_bucket``), over all its alternative selectors. Empty when unknown."""
        selectors = self._subjects.get(subject)
        return self.families_for(selectors) if selectors is not None else frozenset()

    def families_for(self, subject: Selectors | tuple[LabelMatcher, ...]) -> frozenset[str]:
        return frozenset().union(*(self._subject_names.get(m) or frozenset() for m in _alternatives(subject)))

    def missing_subjects(self) -> list[MissingSubject]:
        """Subjects none of whose selectors selects a series in the lookback: once per set of
        selectors, with every subject that uses it."""
        by_selectors: dict[Selectors, list[str]] = {}
        for name, selectors in self._subjects.items():
            found = [self._subject_names.get(m) for m in selectors if m]
            if found and all(names is not None and not names for names in found):
                by_selectors.setdefault(selectors, []).append(name)
        return [MissingSubject(" or ".join(_braces(m) for m in selectors if m), tuple(names)) for selectors, names in by_selectors.items()]

    # ------------------------------------------------------------------ fetching

    def prefetch(self, rules: Iterable[Rule], subjects: Iterable[tuple[str, Selectors | tuple[LabelMatcher, ...]]]) -> None:
        """Fetch, in bulk, what judging these alerts and subjects needs. A failure is one error
        (in ``errors``) and leaves the evidence empty, never half-filled.

        Most reads are alive: the series of the last hours settle them, so those are fetched
        first (with the metric names of the lookback and each subject's metric names), and the
        whole lookback only for the metrics where some read found nothing recent."""
        if not self.has_series:
            return
        assert self.prometheus is not None
        client = self.prometheus
        rules = [r for r in rules if r.query is not None]
        for name, selectors in subjects:
            self._subjects.setdefault(name, _alternatives(selectors))
        try:
            if self._names is None:
                self._names = frozenset(client.metric_names(self.start, self.end))
            wanted: set[str] = set()
            for rule in rules:
                assert rule.query is not None
                self._collect(rule.query.ast, wanted, 0)
            every = {m for selectors in self._subjects.values() for m in selectors if m}
            pending = [m for m in every if m not in self._subject_names and _queryable(m)]
            self._fetch("recent", sorted((wanted & self._names) - self._recent.keys()), pending)
            for m in every:
                self._subject_names.setdefault(m, None)  # not queryable: unknown
            self._evaluate(rules)  # notes the metrics that need their whole lookback
            self._fetch("lookback", sorted(self._need_lookback - self._lookback.keys()), [])
            self._evaluate(rules)  # notes the reads that disappeared
            gone = sorted(self._gone - self._last_seen.keys(), key=str)
            self._last_seen.update(zip(gone, client.transport.map(self._bisect, gone)))
            self._memo.clear()  # told again, with their dates
        except LiveError as exc:
            self.failed = True
            self.errors.append(exc.diagnostic)
            self._lookback.clear()
            self._recent.clear()
            self._subject_names.clear()

    def _fetch(self, window: str, metrics: list[str], subjects: list[tuple[LabelMatcher, ...]]) -> None:
        """Series of ``metrics`` in the window (batched, on the transport's threads), and the
        metric names each subject selector selects in the lookback."""
        assert self.prometheus is not None
        client = self.prometheus
        start = self.start if window == "lookback" else self.end - min(RECENT_WINDOW, self.lookback)
        table = self._lookback if window == "lookback" else self._recent
        # Batches of up to BATCH names, but spread over the threads when there are few metrics:
        # one large metric should not hold the others up.
        size = max(1, min(BATCH, -(-len(metrics) // client.transport.concurrency)))
        jobs: list[tuple[str, object]] = [("series", metrics[i : i + size]) for i in range(0, len(metrics), size)]
        jobs += [("subject", m) for m in subjects]

        def run(job: tuple[str, object]) -> tuple[str, object, object]:
            kind, what = job
            if kind == "subject":
                return kind, what, frozenset(client.metric_names(self.start, self.end, match=_braces(what)))  # type: ignore[arg-type]
            return kind, what, client.series([_name_selector(n) for n in what], start, self.end)  # type: ignore[attr-defined]

        for kind, what, found in client.transport.map(run, jobs):
            if kind == "subject":
                self._subject_names[what] = found  # type: ignore[index, assignment]
                continue
            by_name: dict[str, list[LabelSet]] = {}
            for labels in found:  # type: ignore[attr-defined]
                name = labels.get("__name__")
                if name is not None:
                    by_name.setdefault(name, []).append(labels)
            for name, members in by_name.items():
                table.setdefault(name, Postings()).extend(members)
        for name in metrics:  # fetched, even if it came back empty
            table.setdefault(name, Postings())

    def _evaluate(self, rules: list[Rule]) -> None:
        self._memo.clear()
        for rule in rules:
            assert rule.query is not None
            first_dead(rule.query.ast, self._read)

    def _collect(self, expr: object, wanted: set[str], depth: int) -> None:
        """Metric names an expression reads, through the recording rules it reads."""
        for selector in selectors(expr):  # type: ignore[arg-type]
            if selector.metric is None or selector.metric in wanted:
                continue
            wanted.add(selector.metric)
            if depth < MAX_RECORDING_DEPTH:
                for rule in self.definitions(selector):
                    if rule.query is not None:
                        self._collect(rule.query.ast, wanted, depth + 1)

    def _bisect(self, key: tuple[str, tuple[LabelMatcher, ...]]) -> float:
        assert self.prometheus is not None
        text = _name_selector(key[0], key[1])
        present, absent = self.start, self.end - min(RECENT_WINDOW, self.lookback)
        for _ in range(BISECT_STEPS):
            middle = (present + absent) / 2
            if self.prometheus.series([text], middle, self.end):
                present = middle
            else:
                absent = middle
        return present

    # ------------------------------------------------------------------ reads

    def _read(self, selector: Selector) -> str | None:
        key = (selector.metric, selector.matchers)
        if key in self._memo:
            return self._memo[key]
        why = self._judge_read(selector)
        self._memo[key] = why
        return why

    def _judge_read(self, selector: Selector) -> str | None:
        metric = selector.metric
        if metric is None or self._names is None:
            return None  # a name chosen by regex: not checked
        definitions = self.definitions(selector)
        if definitions:
            served = metric in self._names and (
                self._matches(metric, selector.matchers, self._recent) or self._matches(metric, selector.matchers, self._lookback)
            )
            if not served:
                if metric in self._names and metric not in self._lookback:
                    self._need_lookback.add(metric)  # the server may have recorded it earlier
                return self._recorded(selector, definitions)
        return self._raw(metric, selector.matchers)

    def _raw(self, metric: str, matchers: tuple[LabelMatcher, ...]) -> str | None:
        assert self._names is not None
        shown = _shown(metric, matchers)
        if metric not in self._names:
            close = difflib.get_close_matches(metric, self._names, n=1, cutoff=0.85) if len(self._names) < 50_000 else []
            hint = f" (a similar name exists: {close[0]})" if close else ""
            return f"{metric} was never seen in the last {format_duration(self.lookback)}{hint}"
        recent = self._recent.get(metric)
        if recent is None:
            return None  # not fetched for this run: no evidence
        if self._matches(metric, matchers, self._recent):
            return None
        series = self._lookback.get(metric)
        effective = self._effective(matchers, series if series is not None else recent)
        if effective != matchers and self._matches(metric, effective, self._recent):
            return None  # only the failing values are missing: they appear when it fails
        if series is None:
            self._need_lookback.add(metric)  # settled once the whole lookback is fetched
            return None
        if self._matches(metric, effective, self._lookback):
            self._gone.add((metric, effective))
            seen = self._last_seen.get((metric, effective))
            when = f"around {format_time(datetime.fromtimestamp(seen, timezone.utc))}" if seen is not None else f"more than {format_duration(RECENT_WINDOW)} ago"
            return f"{_shown(metric, effective)} disappeared: last seen {when}"
        return self._diagnose(metric, effective, series, shown)

    def _diagnose(self, metric: str, matchers: tuple[LabelMatcher, ...], series: Postings, shown: str) -> str:
        span = format_duration(self.lookback)
        present = series.labels()
        for matcher in matchers:
            if not matcher.matches("") and matcher.name not in present:
                names = ", ".join(sorted(present)[:8]) or "none"
                return f"{metric} has no series with a {matcher.name} label in the last {span} (its labels: {names})"
        for matcher in matchers:
            values = set(series.values(matcher.name))
            if not any(matcher.matches(value) for value in values):
                seen = ", ".join(repr(v) for v in sorted(values)[:6]) + (", …" if len(values) > 6 else "")
                return f"no {metric} series has {matcher} in the last {span} ({matcher.name} values seen: {seen})"
        return f"no {metric} series matches all of {shown} together in the last {span}"

    def _recorded(self, selector: Selector, definitions: tuple[Rule, ...]) -> str | None:
        """A recording no server shows: dead only if every rule recording it reads nothing
        (with the alert's matchers pushed down where they can be)."""
        metric = selector.metric or ""
        if metric in self._active or len(self._active) >= MAX_RECORDING_DEPTH:
            return None  # a cycle (reported when the rule set was built) or too deep: unknown
        self._active.add(metric)
        try:
            first: tuple[Rule, str] | None = None
            for rule in definitions:
                if rule.query is None:
                    continue
                made = created_labels(rule.query.ast)
                pushed = tuple(m for m in selector.matchers if m.name not in rule.labels and m.name not in made)
                why = first_dead(rule.query.ast, lambda inner: self._read(_with(inner, pushed)))
                if why is None:
                    return None
                first = first or (rule, why)
            if first is None:
                return None
            rule, why = first
            return f"{metric} is recorded by {rule.location} from a read that selects nothing: {why}"
        finally:
            self._active.discard(metric)

    def _read_for_subject(self, selector: Selector, subject: tuple[LabelMatcher, ...]) -> str | None:
        """A signal read must select the subject's series too, when its metric carries the
        subject's labels at all (a read of another exporter's metric is left alone)."""
        why = self._read(selector)
        metric = selector.metric
        if why is not None or metric is None:
            return why
        whole = self._lookback.get(metric)
        series = whole if whole is not None else self._recent.get(metric)
        if not series:
            return None
        needed = {m.name for m in subject if not m.matches("")}
        present = series.labels()
        if not needed or not needed <= present:
            return None
        combined = self._effective(selector.matchers, series) + subject
        if self._matches(metric, combined, self._recent):
            return None
        if whole is None or self._matches(metric, combined, self._lookback):
            return f"{metric} has no series for {_braces(subject)} in the last {format_duration(RECENT_WINDOW)}"
        label = sorted(needed)[0]
        values = sorted(v for v in series.values(label) if v)
        seen = ", ".join(repr(v) for v in values[:6]) + (", …" if len(values) > 6 else "")
        return f"{metric} has no series for {_braces(subject)} in the last {format_duration(self.lookback)} ({label} values seen: {seen})"

    def _subject_missing(self, matchers: tuple[LabelMatcher, ...]) -> bool:
        names = self._subject_names.get(matchers)
        return names is None or not names

    def _effective(self, matchers: tuple[LabelMatcher, ...], series: Postings) -> tuple[LabelMatcher, ...]:
        """The matchers without those that pick failing status values (``code=~"5.."``), when
        the metric carries that status label (or the label appears only on failures)."""
        labels = status_labels()
        kept = []
        for matcher in matchers:
            status = labels.get(matcher.name)
            if status is not None and any(matcher.matches(v) for v in status.failing) and (
                status.only_on_failure or matcher.name in series.labels()
            ):
                continue
            kept.append(matcher)
        return tuple(kept)

    def _matches(self, metric: str, matchers: tuple[LabelMatcher, ...], table: dict[str, Postings]) -> bool:
        found = table.get(metric)
        return found is not None and found.any(matchers)


# --------------------------------------------------------------------------- helpers


def recording_definitions(ruleset: object) -> Definitions:
    """The rules recording what a selector reads. The only tie to the rule set's internals
    (``RuleSet.records``), so that a new rule-set model re-points one function."""
    records = getattr(ruleset, "records")

    def definitions(selector: Selector) -> tuple[Rule, ...]:
        if selector.metric is None or selector.metric not in records:
            return ()
        return tuple(records.definitions(selector))

    return definitions


def _with(selector: Selector, pushed: tuple[LabelMatcher, ...]) -> Selector:
    extra = tuple(m for m in pushed if m not in selector.matchers)
    return Selector(selector.metric, selector.matchers + extra) if extra else Selector(selector.metric, selector.matchers)


def _name_selector(metric: str, matchers: tuple[LabelMatcher, ...] = ()) -> str:
    escaped = metric.replace("\\", "\\\\").replace('"', '\\"')
    inner = ",".join([f'__name__="{escaped}"'] + [str(m) for m in matchers])
    return "{" + inner + "}"


def _shown(metric: str, matchers: tuple[LabelMatcher, ...]) -> str:
    return metric + (_braces(matchers) if matchers else "")


def _braces(matchers: tuple[LabelMatcher, ...]) -> str:
    return "{" + ",".join(str(m) for m in matchers) + "}"


def _alternatives(subject: Selectors | tuple[LabelMatcher, ...]) -> Selectors:
    """Alternative selectors, from either those or one matcher tuple."""
    if subject and isinstance(subject[0], LabelMatcher):
        return (subject,)  # type: ignore[return-value]
    return tuple(subject)  # type: ignore[arg-type]


def _queryable(matchers: tuple[LabelMatcher, ...]) -> bool:
    """Prometheus refuses a selector every matcher of which matches the empty string."""
    return any(not m.matches("") for m in matchers)


def _metric_of(watches: str) -> str | None:
    try:
        return parse_selector(watches).metric
    except (PromQLError, ValueError):
        return None
