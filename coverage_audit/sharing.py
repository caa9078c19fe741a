"""Sharing independent chunks of work between this process and forked worker processes.

Parsing rule files and judging failure modes are CPU-bound Python (and the PromQL parser holds
the GIL), so threads would not help; forked processes inherit everything already loaded for free.
Workers forked for the work take chunks from the front and this process from the back until the
two meet, each claiming its next chunk in shared memory: however busy the machine, no one sits
idle while another has a long share left, and no chunk is held back for a busy worker. Results
come back in chunk order, so the outcome equals doing the chunks one after another here.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import os
import pickle
import queue
import signal
import struct
import threading
from multiprocessing import get_context
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")


def cpus() -> int:
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_count(jobs: int | None) -> int:
    """Processes for a run: ``--jobs``, never more than the CPUs this process may use
    (``--jobs 300`` forked ~200 workers that only fought over two cores)."""
    return max(1, min(jobs or cpus(), cpus()))


def share_forked(
    count: int,
    workers: int,
    here: Callable[[int], T],
    there: Callable[[int], bytes],
    collect: Callable[[int, bytes], T],
    collected: Callable[[int], None] | None = None,
    meanwhile: Callable[[], object] | None = None,
    linger: Callable[[], object] | None = None,
) -> list[T]:
    """Chunks ``0 .. count-1`` shared between this process and ``workers - 1`` children forked
    now, which inherit everything this process holds (closures included). Each process takes
    the next chunk no one has taken (the children from the front, this process from the back,
    counted in shared memory) until none is left: none waits for a chunk queued for another, so
    they finish within one chunk of each other (a pool's worker holds a chunk or two queued
    ahead, which this process cannot take: a third of a second at the end of GitLab.com's
    judging). A child runs ``there(index)`` and its bytes come back through a pipe, for
    ``collect`` to turn into the chunk's result; ``collected(index)`` is told as each chunk
    completes. A chunk a child took and never sent (it failed) is done here. ``meanwhile()``
    is this process's own work, done first while the children start on theirs. ``linger()`` is
    what a child does once it has sent its last chunk (the parse's cache entries): this process
    goes on without waiting for it, and ``lingering`` holds such children for ``background``
    to wait for before the run ends."""
    done: dict[int, T] = {}

    def record(index: int, result: T) -> None:
        done[index] = result
        if collected is not None:
            collected(index)

    if workers < 2 or count < 2 or not hasattr(os, "fork"):
        if meanwhile is not None:
            meanwhile()
        for index in range(count):
            record(index, here(index))
        return [done[index] for index in range(count)]
    # The next chunk from the front (the children's) and from the back (this process's): each
    # process judges or parses a contiguous run, and what it remembers serves its neighbours.
    ends = get_context("fork").Array("q", [0, count - 1])

    def claim(back: bool = False) -> int | None:
        with ends.get_lock():
            front, last = ends[0], ends[1]
            if front > last:
                return None
            if back:
                ends[1] = last - 1
                return last  # type: ignore[no-any-return]
            ends[0] = front + 1
            return front  # type: ignore[no-any-return]

    arrived: "queue.Queue[tuple[int, bytes] | None]" = queue.Queue()
    children: list[int] = []
    readers: list[threading.Thread] = []
    try:
        for _ in range(workers - 1):
            reader, writer = os.pipe()
            _widen(writer)

            def work(reader: int = reader, writer: int = writer) -> None:
                os.close(reader)
                with os.fdopen(writer, "wb") as stream:
                    while (taken := claim()) is not None:
                        data = there(taken)
                        stream.write(_FRAME.pack(taken, len(data)))
                        stream.write(data)
                        stream.flush()
                if linger is not None:  # its pipe closed: this process has all it sent
                    linger()

            children.append(fork(work))
            os.close(writer)
            # A thread per child reads what it sends as it comes (the child never waits on a
            # full pipe while this process works on a chunk); reads release the interpreter.
            thread = threading.Thread(target=_receive, args=(reader, arrived), daemon=True)
            thread.start()
            readers.append(thread)
        pending = len(readers)
        if meanwhile is not None:
            meanwhile()

        def take(block: bool) -> None:
            nonlocal pending
            while pending:
                try:
                    item = arrived.get(block)
                except queue.Empty:
                    return
                if item is None:  # a child is done (or failed)
                    pending -= 1
                else:
                    sent, data = item
                    record(sent, collect(sent, data))
                block = False

        while (mine := claim(back=True)) is not None:
            record(mine, here(mine))
            take(block=False)
        while pending:
            take(block=True)
        for index in range(count):  # taken by a child that failed before sending it
            if index not in done:
                record(index, here(index))
    finally:
        for child in children:
            if len(done) < count:  # leaving early (an error here): stop the children
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)
            elif linger is not None:
                lingering.append(child)
                continue
            os.waitpid(child, 0)
        for thread in readers:
            thread.join()
    return [done[index] for index in range(count)]


def _widen(pipe: int) -> None:
    """Let the pipe hold a whole chunk (Linux: up to ``/proc/sys/fs/pipe-max-size``, 1 MiB by
    default): with the default 64 KiB, a child that sent a parsed chunk (~600 KiB of GitLab.com's)
    waited for this process's reader thread to drain it, which first waits for the interpreter
    this process is busy parsing with, 20-40 ms a chunk."""
    try:
        import fcntl

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or a lower limit: the default size works, only slower


_PIPE_BYTES = 1 << 20

lingering: list[int] = []  # children still doing their ``linger`` (``background.wait`` waits)

_FRAME = struct.Struct("<IQ")  # a chunk's number and the length of its bytes, before them


def _receive(descriptor: int, arrived: "queue.Queue[tuple[int, bytes] | None]") -> None:
    """Put each (chunk, bytes) a child sends on ``arrived``, then None at its end of file."""
    with os.fdopen(descriptor, "rb") as stream:
        while len(header := stream.read(_FRAME.size)) == _FRAME.size:
            index, size = _FRAME.unpack(header)
            data = stream.read(size)
            if len(data) < size:
                break
            arrived.put((index, data))
    arrived.put(None)


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
    _widen(writer)

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
