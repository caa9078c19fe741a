"""Reading the rules into a rule set: the rule files (through the cache; the expanded set too,
once the same files are met again) and the rules a live server serves. All that ``rules`` needs, kept apart from the judge, the service maps and the
graph so that it imports none of them."""

from __future__ import annotations

import functools
import gc
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..analysis.findings import Drift
from ..cache import Cache, CacheUnusable, code_fingerprint, make_key
from ..config import Settings
from ..gcpause import paused_gc
from ..levels import LevelClassifier, default_levels
from ..loaders.rules import RULE_FILES, RuleLoad, load_rules, rule_files_key
from ..ruleset import RuleSet, build_ruleset
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


def load_ruleset(settings: Settings) -> RuleSet:
    live = live_session(settings)
    ruleset = cached_ruleset(settings, live) or build_rules(settings, read_rules(settings, live=live))
    if live is not None:
        ruleset.errors.extend(e for e in live.errors if e not in ruleset.errors)
    return ruleset


def read_rules(settings: Settings, pool: Executor | None = None, live: "LiveSession | None" = None) -> RuleLoad:
    """Rules from every source: the rule files, and the rules a live server serves (fetched
    meanwhile, on a thread); a rule both give is one rule, with the file's location."""
    sources = live.rule_sources() if live is not None else []
    if not settings.rules and not sources and live is not None and live.errors:
        raise UsageError(str(live.errors[0]))  # the only rule source could not even be set up
    if not settings.rules and not sources:
        raise UsageError("no rules given: use --rules PATH, 'rules:' in coverage-audit.yaml, or --prometheus URL")
    cache = open_cache(settings)
    if sources:
        from ..live.rules import FileRules, active, merge

        sources = active(sources, settings.offline)
        with ThreadPoolExecutor(max_workers=max(1, len(sources))) as threads:
            fetched = [(source, threads.submit(source.load)) for source in sources]
            files = load_rules(settings.rules, jobs=settings.jobs, pool=pool, cache=cache) if settings.rules else RuleLoad()
            loads = [(source, future.result()) for source, future in fetched]
        merged = merge([(FileRules(settings.rules), files), *loads])
        assert live is not None
        live.drift += [Drift("rule", "rules", text) for text in merged.differing]
        loaded = merged.load
    else:
        loaded = load_rules(settings.rules, jobs=settings.jobs, pool=pool, cache=cache)
    if cache is not None:
        cache.prune(RULE_FILES)
        for message in cache.warnings:
            report_warning(message)
    # What is loaded lives until the end of the run: freeze it out of the cyclic collector, so
    # that later allocations do not rescan millions of objects (seconds on large rule sets).
    gc.freeze()
    return loaded


def build_rules(settings: Settings, loaded: RuleLoad) -> RuleSet:
    ruleset = build_ruleset(loaded, _classifier(settings), worker_count(settings.jobs))
    if loaded.parsed == 0 and loaded.content_key is not None:
        # Every file came from the cache: these rules are met again, and will be again. (Not
        # after a run that parsed: pickling GitLab's expanded set costs ~0.5 s, which a one-off
        # run should not pay.)
        _store(settings, ruleset, loaded.content_key)
    gc.freeze()
    return ruleset


# --------------------------------------------------------------------------- the expanded set

RULE_SETS = "rule-sets"  # the cache's kind for an expanded rule set


def cached_ruleset(settings: Settings, live: "LiveSession | None") -> RuleSet | None:
    """The rule set an earlier run expanded from these very rule files (path and bytes) and
    settings, or None. Nothing is parsed: every file is read and hashed, and one entry replaces
    both the files' entries and the expansion (GitLab: ~0.5 s instead of ~1.6 s). Not with a
    live source: what a server serves is in no key."""
    if settings.no_cache or live is not None or not settings.rules:
        return None
    try:
        cache = Cache.open(settings.cache_dir)
    except CacheUnusable:
        return None  # read_rules says why
    if not os.path.isdir(os.path.join(cache.folder, RULE_SETS)):
        return None  # none kept yet (a first run): nothing to hash the files for
    files = rule_files_key(settings.rules)
    if files is None:
        return None
    with paused_gc():
        found = cache.get(RULE_SETS, _ruleset_key(settings, files))
    if not isinstance(found, RuleSet):
        return None
    gc.freeze()  # as build_rules does
    return found


def _store(settings: Settings, ruleset: RuleSet, files: str) -> None:
    try:
        cache = Cache.open(settings.cache_dir)
    except CacheUnusable:
        return
    cache.put(RULE_SETS, _ruleset_key(settings, files), ruleset)
    cache.prune(RULE_SETS)


def _ruleset_key(settings: Settings, files: str) -> str:
    """The files' key, the code that expands them and the levels the settings classify by."""
    levels = _classifier(settings)
    return make_key(RULE_SETS, files, _expansion_code(), repr((sorted(levels.names), levels.prefixes, levels.application_prefixes)))


def _classifier(settings: Settings) -> LevelClassifier:
    return default_levels().extended(prefixes=settings.infrastructure_prefixes, application_prefixes=settings.application_prefixes)


@functools.lru_cache(maxsize=1)
def _expansion_code() -> str:
    from .. import __version__, levels, model, promql, ruleset
    from ..analysis import matching

    return code_fingerprint([ruleset, levels, model, promql, matching], __version__)
