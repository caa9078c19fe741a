"""Where results go: stdout, a file, or a set of files (all or nothing); messages to stderr.

Bytes are written, UTF-8, whatever the locale: an undecodable byte kept from a file name is
written as a backslash escape instead of failing the write (or writing invalid UTF-8, as the C
locale's surrogateescape would). A result that cannot be written is an ``OutputError``: one
line, exit 2, and nothing half-written left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sys
import tempfile
import time
from typing import Iterable, Iterator, Mapping

from ..model import Diagnostic, OutputError
from ..printable import printable

STDOUT = "<stdout>"
STAGING_PREFIX = ".coverage-audit-staging-"  # a file set being written; removed if abandoned
COMMIT_NAME = ".coverage-audit-commit"  # a file set complete on disk, being moved into place
LOCK_WAIT_SECONDS = 5.0

# Standard streams that were closed when the process started (console_main fills this in and
# puts /dev/null in their place, so no file the run opens can land on descriptor 0, 1 or 2).
closed_streams: set[int] = set()


# --------------------------------------------------------------------------- messages


def say(kind: str, message: object) -> None:
    """One line on stderr: ``coverage-audit: KIND: MESSAGE``, whatever the message holds."""
    stream = sys.stderr
    if stream is None or 2 in closed_streams:
        return
    line = f"coverage-audit: {kind}: {printable(str(message), keep_lines=False)}\n"
    with contextlib.suppress(OSError, ValueError):
        stream.write(line)
        stream.flush()


def report_warning(message: str) -> None:
    """Something the user should know that changes no result (the exit code stays)."""
    say("warning", message)


def report_errors(errors: Iterable[Diagnostic], warnings: Iterable[Diagnostic] = ()) -> None:
    """Problems with the inputs, one line each: warnings do not change the exit code."""
    for warning in warnings:
        say("warning", warning)
    for error in errors:
        say("error", error)


# --------------------------------------------------------------------------- one document


def encode(content: str) -> bytes:
    return content.encode("utf-8", "backslashreplace")


Content = str | bytes | Iterable[str]  # one text, or pieces (a large document streamed as rendered)


def _chunks(content: Content) -> Iterator[bytes]:
    if isinstance(content, bytes):
        yield content
    elif isinstance(content, str):
        yield encode(content)
    else:
        for piece in content:
            yield encode(piece)


def write_output(content: Content, path: str | None) -> None:
    """The command's document to stdout or to ``path`` (replaced atomically)."""
    if path is None:
        write_stdout(content)
        return
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        # /dev/null, a FIFO, /dev/stdout: write into it; replacing it would destroy the device
        try:
            with open(path, "wb") as stream:
                stream.writelines(_chunks(content))
        except OSError as exc:
            raise OutputError(path, reason(exc)) from None
        return
    write_atomically(path, content)


def stdout_is_terminal() -> bool:
    stream = sys.stdout
    if stream is None or 1 in closed_streams:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def write_stdout(content: Content) -> None:
    stream = sys.stdout
    if stream is None or 1 in closed_streams:
        raise OutputError(STDOUT, "standard output is closed")
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream.flush()
            buffer.writelines(_chunks(content))
            buffer.flush()
        else:  # a text-only stream (tests capture into one)
            stream.writelines(chunk.decode("utf-8") for chunk in _chunks(content))
            stream.flush()
    except OSError as exc:  # BrokenPipeError too: the reader went away
        raise OutputError(STDOUT, reason(exc)) from None
    except ValueError:  # the stream object itself was closed
        raise OutputError(STDOUT, "standard output is closed") from None


def write_atomically(path: str, content: Content) -> None:
    """Write through a temporary file in the same folder, so readers never see half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(path, "it is a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".coverage-audit-", suffix=".tmp")
    except OSError as exc:
        raise OutputError(path, reason(exc)) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.writelines(_chunks(content))
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600; give it the usual mode
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise OutputError(path, reason(exc)) from None
        raise


def reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and isinstance(exc.filename, str):
        blocking = _file_in_the_way(exc.filename)
        if blocking is not None:
            return f"{blocking} is a file, not a folder"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device"
    if exc.errno == errno.EFBIG:
        return "the file grew past the file-size limit"
    if exc.errno == errno.EPIPE:
        return "the reader closed the pipe"
    return exc.strerror or str(exc)


def _file_in_the_way(path: str) -> str | None:
    """The file that stands where ``path`` needs a folder (``out.yaml`` in ``out.yaml/x``)."""
    current = os.path.abspath(path)
    while True:
        if os.path.lexists(current) and not os.path.isdir(current):
            return os.path.relpath(current) if not os.path.relpath(current).startswith("..") else current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# --------------------------------------------------------------------------- a set of files


def check_writable(folder: str) -> None:
    """Fail before a long run, not after it: the folder exists (or is made) and takes a file."""
    try:
        os.makedirs(folder, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder)
        os.rmdir(probe)
    except OSError as exc:
        raise OutputError(folder, reason(exc)) from None


def write_file_set(folder: str, files: Mapping[str, Content]) -> None:
    """Every file of the set into ``folder``, or none of them.

    The files are written (and synced) into a staging folder inside ``folder``, which is then
    renamed to COMMIT_NAME: that rename is the commit. Only then are the files moved over the
    old ones, one rename each. A full disk, a file-size limit or an error before the commit
    leaves the old set untouched and the staging folder removed; a kill before it leaves a
    staging folder the next run removes; a kill after it leaves a commit the next run
    completes. Runs writing into the same folder take turns (a lock on the folder itself)."""
    for name in files:
        if os.sep in name or name.startswith(".") or not name:
            raise ValueError(f"not a plain file name: {name!r}")
        target = os.path.join(folder, name)
        if os.path.isdir(target):
            raise OutputError(target, "it is a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, reason(exc)) from None
    with folder_lock(folder):
        recover(folder)
        try:
            staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder)
        except OSError as exc:
            raise OutputError(folder, reason(exc)) from None
        current = folder
        try:
            mode = 0o666 & ~_umask()
            for name, content in files.items():
                current = os.path.join(folder, name)
                _write_synced(os.path.join(staging, name), content, mode)
            current = folder
            _sync_folder(staging)
            os.rename(staging, os.path.join(folder, COMMIT_NAME))
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                raise OutputError(current, reason(exc)) from None
            raise
        _finish(folder)


def recover(folder: str) -> None:
    """Complete a commit a killed run left, and remove staging folders it abandoned (only
    called under the folder's lock, so no live run is staging)."""
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise OutputError(folder, reason(exc)) from None
    if COMMIT_NAME in names:
        _finish(folder)
    for name in names:
        if name.startswith(STAGING_PREFIX):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def _finish(folder: str) -> None:
    commit = os.path.join(folder, COMMIT_NAME)
    try:
        for name in sorted(os.listdir(commit)):
            os.replace(os.path.join(commit, name), os.path.join(folder, name))
        _sync_folder(folder)
        os.rmdir(commit)
    except OSError as exc:
        raise OutputError(folder, reason(exc)) from None


def _write_synced(path: str, content: Content, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    with os.fdopen(descriptor, "wb") as stream:
        stream.writelines(_chunks(content))
        stream.flush()
        os.fsync(stream.fileno())


def _sync_folder(folder: str) -> None:
    """Make renames in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def folder_lock(folder: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """An exclusive lock on the folder itself (no lock file left behind); OutputError saying
    "busy" after ``wait`` seconds."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise OutputError(folder, reason(exc)) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputError(folder, f"busy: another coverage-audit run has been writing into it for more than {wait:g} s") from None
                time.sleep(0.05)
            except OSError:
                break  # a file system without locks: go on unlocked
        yield
    finally:
        os.close(descriptor)  # releases the lock
