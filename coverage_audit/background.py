"""Writing what the next run reads while this run goes on.

A cold run pickles and writes its cache entries (its share of the rule files' parses, the
expansion): half a second of a core on GitLab.com's rules. That writing is queued (``later``) and
started once the loading is done (``flush``) in a forked child, which writes while the run expands
and judges; a parse worker writes its own share once it has sent its last chunk (``linger``).
The run waits for its children before it ends (``wait``, as the command returns), and does there
what was never started: the entries are whole once the command is done, so a run right after
finds them. A child that fails costs only its entries (the next run rebuilds them), never the
run; each entry is written atomically (``cache``).
"""

from __future__ import annotations

import os
from typing import Callable

from . import sharing
from .sharing import fork

_queued: list[Callable[[], object]] = []
_children: list[int] = []


def later(task: Callable[[], object]) -> None:
    """Queue ``task``: started by the next ``flush``, or done by ``wait``."""
    _queued.append(task)


def flush(workers: int) -> None:
    """Start what is queued: in a forked child, or here and now with one worker. Called only
    where no other thread runs (a thread's locks would be forked held)."""
    tasks = list(_queued)
    _queued.clear()
    if not tasks:
        return

    def run() -> None:
        for task in tasks:
            task()

    if workers < 2 or not hasattr(os, "fork"):
        run()
    else:
        _children.append(fork(run))


def wait() -> None:
    """Do here what was never started, and wait for every child ``flush`` forked and every
    parse worker still writing its share of the entries (``sharing.lingering``)."""
    flush(1)
    for children in (_children, sharing.lingering):
        while children:
            try:
                os.waitpid(children.pop(), 0)
            except ChildProcessError:  # already waited for
                pass
