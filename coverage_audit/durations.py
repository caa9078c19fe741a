"""Durations as Prometheus and Alertmanager configuration files write them (``model.Duration``).

This is the configuration format (``for: 5m``, ``group_wait: 30s``), not PromQL: it mirrors
``ParseDuration`` in github.com/prometheus/common/model exactly, so that a value those tools
refuse is refused here too.
"""

from __future__ import annotations

import functools
import re

_UNITS = (("y", 365 * 86400.0), ("w", 7 * 86400.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_PATTERN = re.compile("".join(rf"(?:([0-9]+){unit})?" for unit, _ in _UNITS))


# Go keeps a duration in int64 nanoseconds; ParseDuration refuses what does not fit (~292 years).
_MAX_NANOSECONDS = 2**63 - 1
_MAX_DIGITS = 20  # more digits than any int64 has: refused before converting a huge number


@functools.lru_cache(maxsize=1024)  # rule files repeat a few spellings ("5m") tens of thousands of times
def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``1h30m``; ValueError if Prometheus would refuse it."""
    if text == "0":
        return 0.0
    match = _PATTERN.fullmatch(text) if text and len(text) <= 200 else None
    if match is None or not any(match.groups()):
        raise ValueError(f"not a valid duration: {text!r}")
    nanoseconds = 0
    for value, (_, factor) in zip(match.groups(), _UNITS):
        if value:
            if len(value) > _MAX_DIGITS:
                raise ValueError(f"duration out of range: {text!r}")
            nanoseconds += int(value) * round(factor * 1e9)
    if nanoseconds > _MAX_NANOSECONDS:
        raise ValueError(f"duration out of range: {text!r}")
    return nanoseconds / 1e9


def format_duration(seconds: float) -> str:
    """The shortest Prometheus spelling of a duration (``90`` -> ``1m30s``)."""
    if seconds <= 0:
        return "0s"
    millis = round(seconds * 1000)
    parts = []
    for unit, factor in _UNITS:
        size = round(factor * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
