"""The change under review, as repository-relative paths: from a list or from ``git diff``."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Iterable, TextIO

from ..model import InputError
from ..yamlio import read_bytes

GIT_TIMEOUT_SECONDS = 120
_DRIVE = re.compile(r"^[A-Za-z]:(?:/|$)")


def as_text(path: str) -> str:
    """A path as valid Unicode: bytes that were not UTF-8 (a Latin-1 name from the command line
    arrives as lone surrogates) become U+FFFD, as ``git diff`` output does here. Globs still
    match the rest of the path; nothing downstream can fail to encode it."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def normalise_path(text: str) -> str:
    """A repository-relative path in one spelling: ``/`` separators, no ``./``, ``//`` or inner
    ``..``. ValueError for an empty path, an absolute one, or one that climbs out of the root."""
    text = as_text(text)
    path = text.replace("\\", "/")
    if not path.strip():
        raise ValueError("empty path")
    if path.startswith("/") or _DRIVE.match(path):
        raise ValueError(f"{text!r} is absolute; give paths relative to the repository root")
    folder = path.endswith("/")  # "services/payments/" names a folder: keep saying so
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ValueError(f"{text!r} leads outside the repository")
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        raise ValueError(f"{text!r} names the repository root, not a path in it")
    return "/".join(parts) + ("/" if folder else "")


def read_changed_paths(source: str, stdin: TextIO | None, stdin_closed: bool = False) -> tuple[str, ...]:
    """``--changed-from FILE|-``: one path a line; blank lines and ``#`` comments are ignored.
    Paths are text as ``as_text`` makes it, from a file as from standard input."""
    if source == "-":
        name = "<stdin>"
        data = _read_stdin(stdin, stdin_closed, name)
    else:
        name = source
        data = read_bytes(source)
    text = data.decode("utf-8-sig", "replace")
    return _paths_from_lines(text.splitlines(), name)


def _read_stdin(stdin: TextIO | None, closed: bool, name: str) -> bytes:
    if stdin is None or closed:
        raise InputError(name, 0, "standard input is closed; give the paths in a file or on the command line")
    try:
        buffer = getattr(stdin, "buffer", None)
        return buffer.read() if buffer is not None else stdin.read().encode("utf-8", "surrogateescape")
    except (OSError, ValueError) as exc:
        raise InputError(name, 0, f"cannot read standard input: {getattr(exc, 'strerror', None) or exc}") from None


def _paths_from_lines(lines: Iterable[str], name: str) -> tuple[str, ...]:
    paths: dict[str, None] = {}  # an ordered set: a path named twice is one change
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            paths.setdefault(normalise_path(text), None)
        except ValueError as exc:
            raise InputError(name, number, str(exc)) from None
    return tuple(paths)


# --------------------------------------------------------------------------- git


def split_range(revision_range: str) -> tuple[str, str, str]:
    """``A..B`` or ``A...B`` -> (A, operator, B); ValueError for anything else."""
    for operator in ("...", ".."):
        base, found, head = revision_range.partition(operator)
        if found:
            if base and head and ".." not in head and not base.startswith("-") and not head.startswith("-"):
                return base, operator, head
            break
    raise ValueError(f"--git-range must be BASE..HEAD or BASE...HEAD, not {revision_range!r}")


def git_changed_paths(repo: str, revision_range: str) -> tuple[str, ...]:
    """Paths changed in ``A..B`` (or ``A...B``: since the merge base) per the real git CLI.

    Renamed and copied files count with both their old and new paths; deleted files count too.
    InputError(repo, 0, message) when git is missing, ``repo`` is not a repository, or a
    revision is unknown.
    """
    try:
        base, operator, head = split_range(revision_range)
    except ValueError as exc:
        raise InputError(repo, 0, str(exc)) from None
    # Outside a repository ``git diff`` falls back to comparing two files; ask first, so the
    # message is git's plain "not a git repository".
    _run_git(["git", "-C", repo, "rev-parse", "--git-dir"], repo)
    command = [
        "git", "--no-pager", "-C", repo,
        "diff", "--name-status", "-z", "-M", "-C", "--no-relative", "--no-ext-diff",
        f"{base}{operator}{head}", "--",
    ]  # fmt: skip
    output = _run_git(command, repo)
    return _parse_name_status(output, repo)


def _run_git(command: list[str], repo: str) -> str:
    # C locale: git's messages stay in English, so the one-line error reads the same everywhere.
    env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            command, capture_output=True, env=env, timeout=GIT_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise InputError(repo, 0, "git is not installed (no 'git' on PATH)") from None
    except subprocess.TimeoutExpired:
        raise InputError(repo, 0, f"git diff took longer than {GIT_TIMEOUT_SECONDS}s; gave up") from None
    if done.returncode != 0:
        raise InputError(repo, 0, _git_message(done.stderr.decode("utf-8", "replace")))
    return done.stdout.decode("utf-8", "replace")  # a non-UTF-8 name must not crash a reporter


def _git_message(stderr: str) -> str:
    """git's first ``fatal:``/``error:`` line (else its first line), without the prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return "git: " + line[len(prefix):]
    return "git: " + (lines[0] if lines else "failed without a message")


def _parse_name_status(output: str, repo: str) -> tuple[str, ...]:
    """``-z --name-status``: STATUS NUL PATH NUL, with a second path after R (rename) and C (copy)."""
    fields = output.split("\0")
    paths: dict[str, None] = {}
    index = 0
    while index < len(fields) and fields[index]:
        status = fields[index]
        count = 2 if status[0] in "RC" else 1
        for path in fields[index + 1 : index + 1 + count]:
            paths.setdefault(path, None)
        index += 1 + count
    return tuple(paths)
