"""Which files a ``--rules`` / ``--service-map`` path names: the file itself, or the YAML files
under a folder (sorted, depth first, hidden entries skipped).

Nothing under a folder is skipped silently: a subfolder that cannot be read is reported, a
symbolic link to a folder is followed unless it leads back to a folder on its own path (a loop,
reported), and a broken link is reported. A folder reached twice is read once, as a file named
twice is. Whether a file is a regular file is decided when it is read (``yamlio.read_text``),
so a FIFO named ``*.yaml`` is refused there instead of blocking here.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from typing import Iterable

from ..model import Diagnostic

YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(slots=True)
class Found:
    files: list[str] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)


def find_files(paths: Iterable[str], suffixes: tuple[str, ...] = YAML_SUFFIXES) -> Found:
    found = Found()
    walked: dict[tuple[int, int], str] = {}  # folders read, by device and inode: each once
    for path in paths:
        try:
            info = os.stat(path)
        except OSError as exc:
            if os.path.lexists(path) or not isinstance(exc, FileNotFoundError):
                found.errors.append(Diagnostic(path, 0, _unreachable(path, exc)))
            else:
                found.errors.append(Diagnostic(path, 0, "no such file or folder"))
            continue
        if stat.S_ISDIR(info.st_mode):
            _walk(path, (info.st_dev, info.st_ino), suffixes, walked, found)
        else:
            found.files.append(os.path.normpath(path))
    found.files = list(dict.fromkeys(found.files))  # a file named twice is read once
    return found


def _walk(root: str, key: tuple[int, int], suffixes: tuple[str, ...], walked: dict[tuple[int, int], str], found: Found) -> None:
    if key in walked:
        return
    walked[key] = root
    # (folder, the folders on its path): iterative, so a deep tree cannot exhaust the stack
    stack: list[tuple[str, frozenset[tuple[int, int]]]] = [(root, frozenset({key}))]
    while stack:
        folder, ancestors = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            found.errors.append(Diagnostic(folder, 0, f"cannot read the folder: {exc.strerror or exc}; its files are left out"))
            continue
        below: list[tuple[str, frozenset[tuple[int, int]]]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = os.path.normpath(entry.path)
            try:
                is_folder = entry.is_dir()  # follows a symbolic link
            except OSError:
                is_folder = False
            if is_folder:
                try:
                    info = entry.stat()
                except OSError as exc:
                    found.errors.append(Diagnostic(path, 0, _unreachable(path, exc)))
                    continue
                target = (info.st_dev, info.st_ino)
                if target in ancestors:
                    found.errors.append(Diagnostic(path, 0, f"symbolic link loop: it leads back to {walked.get(target, 'a folder above it')}; not followed"))
                elif target not in walked:
                    walked[target] = path
                    below.append((path, ancestors | {target}))
            elif entry.name.endswith(suffixes):
                if entry.is_symlink():
                    try:
                        os.stat(entry.path)
                    except OSError as exc:
                        found.errors.append(Diagnostic(path, 0, _unreachable(path, exc)))
                        continue
                found.files.append(path)
        stack.extend(reversed(below))


def _unreachable(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop; not followed"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        try:
            return f"broken symbolic link (to {os.readlink(path)})"
        except OSError:
            return "broken symbolic link"
    return f"cannot read: {exc.strerror or exc}"
