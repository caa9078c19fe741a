"""Sharing independent chunks of work between this process and forked worker processes.

Parsing rule files and judging failure modes are CPU-bound Python (and the PromQL parser holds
the GIL), so threads would not help; forked processes inherit everything already loaded for free.
Every chunk is queued for the workers while this process takes chunks from the back of the queue
(those no worker has started yet) until the two meet: however busy the machine, no one sits
idle while another has a long share left. Results come back in chunk order, so the outcome
equals doing the chunks one after another here.
"""

from __future__ import annotations

import functools
import gc
import io
import os
import pickle
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cpus() -> int:
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_count(jobs: int | None) -> int:
    """Processes for a run: ``--jobs``, never more than the CPUs this process may use
    (``--jobs 300`` forked ~200 workers that only fought over two cores)."""
    return max(1, min(jobs or cpus(), cpus()))


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes: forked (cheap, nothing to re-import, everything loaded so far shared),
    collector off (what they build is acyclic and short-lived)."""
    return ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=gc.disable)


def share(
    count: int,
    executor: Executor,
    submit: Callable[[Executor, int], "Future[R]"],
    here: Callable[[int], T],
    collect: Callable[[int, R], T],
    collected: Callable[[int], None] | None = None,
) -> list[T]:
    """Chunks ``0 .. count-1``, each done either by a worker (``submit`` queues it; ``collect``
    turns what the worker returned into the chunk's result) or by this process (``here``), as
    they meet; ``collected(index)`` is told as each chunk completes."""
    done: dict[int, T] = {}

    def finish(index: int, future: "Future[R]") -> None:
        done[index] = collect(index, future.result())
        if collected is not None:
            collected(index)

    # A future keeps its result as long as it is referenced: each is dropped once collected.
    futures = {index: submit(executor, index) for index in range(count)}
    for index in reversed(range(count)):
        if index not in futures or not futures[index].cancel():
            break  # a worker has it (or has even finished it), and all before it
        del futures[index]
        done[index] = here(index)
        if collected is not None:
            collected(index)
        for finished in [i for i, future in futures.items() if future.done()]:
            finish(finished, futures.pop(finished))
    for index in sorted(futures):
        finish(index, futures.pop(index))
    return [done[index] for index in range(count)]


# What forked workers run (``share_forked``): set just before the pool forks them, so they inherit it.
_forked: "Callable[[int], Any] | None" = None


def share_forked(
    count: int,
    workers: int,
    here: Callable[[int], T],
    there: Callable[[int], R],
    collect: Callable[[int, R], T],
    collected: Callable[[int], None] | None = None,
) -> list[T]:
    """:func:`share` with ``workers - 1`` workers forked now: they inherit everything this process
    holds (closures included) and run ``there(index)`` for the chunks they take; what it returns
    comes back pickled, and ``collect`` turns it into the chunk's result."""
    global _forked
    _forked = there
    try:
        with worker_pool(workers - 1) as pool:  # forked at the first submit, with ``_forked`` set
            return share(count, pool, lambda executor, index: executor.submit(_run_forked, index), here, collect, collected)
    finally:
        _forked = None


def fork(work: Callable[[], object]) -> int:
    """A forked child that runs ``work`` (collector off) and leaves without running anything of
    the parent's: exit status 0 when ``work`` returned, 1 when it failed. Its pid, here."""
    child = os.fork()
    if child == 0:
        status = 1
        try:
            gc.disable()
            work()
            status = 0
        finally:
            os._exit(status)
    return child


def beside(task: Callable[[], T], workers: int, objects: Sequence[Any] = ()) -> Callable[[], T]:
    """``task()`` worked out by a forked child while this process goes on with other work (a
    core would otherwise idle: judging's first subject, the report's other documents); the
    function returned gives its result, waiting for the child. The result comes back pickled,
    ``objects`` (that both processes hold) as their positions. With one worker, or when the
    child fails, the task runs here when its result is asked for: the result is the same."""
    if workers < 2 or not hasattr(os, "fork"):
        return task
    shared = SharedObjects(objects)
    reader, writer = os.pipe()

    def send() -> None:
        os.close(reader)
        data = memoryview(shared.dumps(task()))
        while data:
            data = data[os.write(writer, data) :]

    child = fork(send)
    os.close(writer)  # the child's end alone: end of file when the child is done

    def result() -> T:
        with os.fdopen(reader, "rb") as stream:
            data = stream.read()
        _, status = os.waitpid(child, 0)
        if status != 0:
            return task()
        return shared.loads(data)  # type: ignore[no-any-return]

    return functools.cache(result)  # asked again, the same result (the pipe is read once)


def _run_forked(index: int) -> Any:
    assert _forked is not None, "a worker forked before its work was set"
    return _forked(index)


class SharedObjects:
    """Pickling that sends objects both processes already hold (forked, so the same objects at
    the same positions) as their position: a worker's results come back pointing at this
    process's objects, not at copies of them."""

    def __init__(self, objects: Sequence[Any]) -> None:
        self.objects = objects
        self._position = {id(item): position for position, item in enumerate(objects)}

    def dumps(self, value: object) -> bytes:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
        position = self._position
        pickler.persistent_id = lambda item: position.get(id(item))  # type: ignore[method-assign]
        pickler.dump(value)
        return buffer.getvalue()

    def loads(self, data: bytes) -> Any:
        unpickler = pickle.Unpickler(io.BytesIO(data))
        objects = self.objects
        unpickler.persistent_load = lambda position: objects[position]  # type: ignore[method-assign]
        return unpickler.load()
