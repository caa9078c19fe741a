"""Where results go: stdout or a file (atomically), and input problems to stderr."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Iterable

from ..model import Diagnostic


def report_errors(errors: Iterable[Diagnostic], warnings: Iterable[Diagnostic] = ()) -> None:
    """Problems with the inputs, one line each: warnings do not change the exit code."""
    for warning in warnings:
        print(f"coverage-audit: warning: {warning}", file=sys.stderr)
    for error in errors:
        print(f"coverage-audit: error: {error}", file=sys.stderr)


def report_warning(message: str) -> None:
    """Something the user should know that changes no result (the exit code stays)."""
    print(f"coverage-audit: warning: {message}", file=sys.stderr)


def write_output(content: str | Iterable[str], path: str | None) -> None:
    """``content`` as one text or as pieces (a large document streamed as it is rendered)."""
    pieces = (content,) if isinstance(content, str) else content
    if path is None:
        for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.flush()
        return
    if os.path.exists(path) and not os.path.isfile(path):
        # /dev/null, a FIFO, /dev/stdout: write into it; replacing it would destroy the device
        with open(path, "w", encoding="utf-8") as stream:
            stream.writelines(pieces)
        return
    write_atomically(path, pieces)


def write_atomically(path: str, content: str | Iterable[str]) -> None:
    """Write through a temporary file in the same folder, so readers never see half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".coverage-audit-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.writelines((content,) if isinstance(content, str) else content)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600; give it the usual mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
