"""Reading the rules into a rule set: the rule files (through the cache, which also keeps what
expanding them found) and the rules a live server serves. All that ``rules`` needs, kept apart
from the judge, the service maps and the graph so that it imports none of them."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from .. import background
from ..analysis.findings import Drift
from ..cache import Cache, CacheUnusable, code_fingerprint, make_key
from ..config import Settings
from ..gcpause import paused_gc
from ..levels import default_levels
from ..loaders.rules import RULE_FILES, RuleLoad, load_rules
from ..ruleset import Expansion, RuleSet, build_ruleset, expansion_of
from ..sharing import worker_count
from .cachefolder import open_cache
from .exits import UsageError
from .output import report_warning

if TYPE_CHECKING:
    from ..live.session import LiveSession


def live_session(settings: Settings) -> "LiveSession | None":
    """The run's live sources, when any is configured (``requests`` is imported only then)."""
    if settings.prometheus is None and settings.alertmanager_url is None:
        return None
    from ..live.session import LiveSession

    return LiveSession(settings)


def load_ruleset(settings: Settings, meanwhile: Callable[[], object] | None = None) -> RuleSet:
    """The rule set; ``meanwhile()`` as for ``read_rules`` (not done without rule files)."""
    live = live_session(settings)
    ruleset = build_rules(settings, read_rules(settings, live, meanwhile))
    if live is not None:
        ruleset.errors.extend(e for e in live.errors if e not in ruleset.errors)
    return ruleset


def read_rules(settings: Settings, live: "LiveSession | None" = None, meanwhile: Callable[[], object] | None = None) -> RuleLoad:
    """Rules from every source: the rule files, and the rules a live server serves (fetched
    meanwhile, on a thread); a rule both give is one rule, with the file's location.
    ``meanwhile()``, the caller's other work, is done while the files are parsed (once; only
    when there are rule files)."""
    sources = live.rule_sources() if live is not None else []
    if not settings.rules and not sources and live is not None and live.errors:
        raise UsageError(str(live.errors[0]))  # the only rule source could not even be set up
    if not settings.rules and not sources:
        raise UsageError("no rules given: use --rules PATH, 'rules:' in coverage-audit.yaml, or --prometheus URL")
    cache = open_cache(settings)
    # What is loaded lives until the end of the run: kept out of the cyclic collector, so that
    # later allocations do not rescan millions of objects (seconds on large rule sets).
    with paused_gc(keep=True):
        if sources:
            from ..live.rules import FileRules, active, merge

            sources = active(sources, settings.offline)
            with ThreadPoolExecutor(max_workers=max(1, len(sources))) as threads:
                fetched = [(source, threads.submit(source.load)) for source in sources]
                files = load_rules(settings.rules, jobs=settings.jobs, cache=cache, meanwhile=meanwhile) if settings.rules else RuleLoad()
                loads = [(source, future.result()) for source, future in fetched]
            merged = merge([(FileRules(settings.rules), files), *loads])
            assert live is not None
            live.drift += [Drift("rule", "rules", text) for text in merged.differing]
            loaded = merged.load
        else:
            loaded = load_rules(settings.rules, jobs=settings.jobs, cache=cache, meanwhile=meanwhile)
    if cache is not None:
        cache.prune(RULE_FILES)
        for message in cache.warnings:
            report_warning(message)
    return loaded


def build_rules(settings: Settings, loaded: RuleLoad, every: bool = True) -> RuleSet:
    """The rule set, expanded here or, for files loaded before, with what expanding them found
    then (kept in the cache beside the files' entries). ``every=False``: only the rules alerts
    read (``ruleset.build_ruleset``); a kept expansion of every rule serves that too, and one of
    only those is replaced when every rule is asked for."""
    classifier = default_levels().extended(
        prefixes=settings.infrastructure_prefixes, application_prefixes=settings.application_prefixes
    )
    kept = derived_entry(settings, loaded.content_key, EXPANSIONS, _expansion_code())
    known = None
    workers = worker_count(settings.jobs)
    with paused_gc(keep=True):  # the rule set, like the load, lives until the end of the run
        if kept is not None:
            cache, key = kept
            found = cache.get(EXPANSIONS, key)
            known = found if isinstance(found, Expansion) and found.fits(loaded.rules, every) else None
        # The files' cache entries this load made are written by a forked child while the run
        # goes on: started once the lookups' workers are done, as this process expands alone.
        ruleset = build_ruleset(loaded, classifier, workers, known, looked_up=lambda: background.flush(workers), every=every)
    if kept is not None and known is None:
        background.later(lambda: _keep_expansion(cache, key, ruleset, loaded))
    background.flush(workers)  # the expansion's entry (or the files', when nothing was expanded)
    return ruleset


def _keep_expansion(cache: Cache, key: str, ruleset: RuleSet, loaded: RuleLoad) -> None:
    cache.put(EXPANSIONS, key, expansion_of(ruleset, loaded))
    cache.prune(EXPANSIONS)


EXPANSIONS = "expansions"  # the cache's kind for what expanding a whole load found


def derived_entry(settings: Settings, content_key: str | None, kind: str, code: str) -> tuple[Cache, str] | None:
    """The cache, and the key of an entry of ``kind`` worked out from a load of rule files: the
    load's key (``RuleLoad.content_key``: set only when every file was read with a cache) and
    the ``code`` that works it out. None without such a key or a usable cache."""
    if content_key is None:
        return None
    try:
        cache = Cache.open(settings.cache_dir)
    except CacheUnusable:  # read_rules said so
        return None
    return cache, make_key(kind, content_key, code)


@functools.lru_cache(maxsize=1)
def _expansion_code() -> str:
    from .. import __version__, model, promql, ruleset
    from ..analysis import matching

    return code_fingerprint([ruleset, model, promql, matching], __version__)
