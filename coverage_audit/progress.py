"""Progress for long runs: one ``\\r``-rewritten line on stderr, only when stderr is a terminal.

Logs and CI output stay clean (nothing is written to a pipe or a file), short runs stay quiet
(nothing shows before ``delay`` seconds), and redraws are throttled so a fast loop is not slowed
by the terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


class Progress:
    """Call with ``(done, total)`` as work advances; ``finish()`` clears the line."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        delay: float = 0.5,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream)
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._last_draw: float | None = None
        self._width = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self.started < self.delay:
            return
        if self._last_draw is not None and now - self._last_draw < self.interval and done < total:
            return
        self._last_draw = now
        percent = 100 * done // total if total else 100
        line = f"{self.label}: {done}/{total} ({percent}%)"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def finish(self) -> None:
        """Erase the progress line so what follows starts on a clean line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or file-like objects without a terminal
        return False
