"""The cache folder a run uses, if any (its own module: a query answered from kept verdicts
imports nothing heavier than this)."""

from __future__ import annotations

from ..cache import Cache, CacheUnusable
from ..config import Settings
from .output import report_warning


def open_cache(settings: Settings) -> Cache | None:
    """The rule cache the settings ask for, or None; an unusable cache is a warning only (the
    run is the same without it, just slower)."""
    if settings.no_cache:
        return None
    try:
        cache = Cache.open(settings.cache_dir)
        cache.tell = report_warning  # a parse worker's failed write, told as it happens
        return cache
    except CacheUnusable as exc:
        report_warning(f"cache not used: {exc}")
        return None
