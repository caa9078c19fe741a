"""A content-addressed cache of pickled objects in the user's cache folder.

A warm run skips what an unchanged input already cost: an entry's key is a hash of everything
that determines its value (the input's bytes and path, the code that turns them into objects,
the parser's version), so an entry is never stale, only unused. Each kind of entry lives in
its own sub-folder; the per-file parsed rules (``loaders.rules``) are one kind, and another
(say the built rule set, keyed by all files and settings) is one more ``get``/``put`` pair.

Safe without locks: an entry is written to a temporary file in the same folder and renamed
over the final name, so a reader sees a whole old entry, a whole new one, or none. Nothing in
an entry is trusted: a header carries the format version, the key and a digest of the payload,
and an entry that is truncated, garbled, written by another format, filed under the wrong name
or that does not unpickle is a miss (and is replaced by the rebuilt value).

Pickles run code when loaded, so the cache folder must be the user's own: it is created 0700,
and a folder another user owns or others may write into is not used (with a warning).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

# Bump when the entry layout or the meaning of a kind's payload changes; old entries then
# simply stop matching (the version is part of every key and of every header).
FORMAT_VERSION = 1
_MAGIC = b"coverage-audit cache\n"
_HEADER = struct.Struct(f"<{len(_MAGIC)}sHQ32s32s")  # magic, format, payload length, key, digest
_PICKLE_PROTOCOL = 5
PRUNE_AFTER_DAYS = 30  # entries unused this long are removed (at most one sweep a day)
_TOUCH_AFTER_SECONDS = 24 * 3600  # a hit refreshes an entry's mtime (its "last used") daily
_PRUNE_MARK = ".last-prune"


def default_folder() -> str:
    """``$XDG_CACHE_HOME/coverage-audit``, else ``~/.cache/coverage-audit`` (XDG base dirs)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the spec says to ignore a relative value
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "coverage-audit")


def make_key(*parts: str | bytes) -> str:
    """A hex SHA-256 over the parts, each length-prefixed so ("ab", "c") != ("a", "bc")."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(struct.pack("<Q", len(data)))
        digest.update(data)
    return digest.hexdigest()


def code_fingerprint(modules: Iterable[object], *versions: str) -> str:
    """What the code that builds a kind of entry looks like: the sources of ``modules`` (so an
    edited loader never reads entries the old one wrote, even at the same version number),
    the given versions (parsers, the tool) and the interpreter's."""
    parts: list[str | bytes] = [str(FORMAT_VERSION), sys.version, *versions]
    for module in modules:
        source = getattr(module, "__file__", None) or ""
        try:
            parts.append(Path(source).read_bytes())
        except OSError:  # no source to read (a frozen build): the versions alone must do
            parts.append(getattr(module, "__name__", repr(module)))
    return make_key(*parts)


class CacheUnusable(Exception):
    """The cache folder cannot be used safely; the run goes on without a cache."""


@dataclass(slots=True)
class Stats:
    hits: int = 0
    misses: int = 0  # absent entries
    rejected: int = 0  # present but corrupt, foreign or unreadable: rebuilt
    written: int = 0


@dataclass(slots=True)
class Cache:
    """Entries under ``folder/<kind>/<key[:2]>/<key>``."""

    folder: str
    stats: Stats = field(default_factory=Stats)
    warnings: list[str] = field(default_factory=list)  # at most one a run, for stderr
    # How a worker process that writes entries after the run has reported its warnings tells
    # its own (set by the command that opens the cache; None: kept in ``warnings`` only).
    tell: Callable[[str], None] | None = field(default=None, repr=False)
    _folders: set[str] = field(default_factory=set, repr=False)  # shard folders known to exist

    # ------------------------------------------------------------------ opening

    @staticmethod
    def open(folder: str | None = None) -> "Cache":
        """The cache in ``folder`` (default: the user's cache folder), created 0700.

        Raises CacheUnusable when it cannot be created or is not safely the user's own."""
        path = os.path.abspath(folder or default_folder())
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            info = os.stat(path)
        except OSError as exc:
            raise CacheUnusable(f"{path}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise CacheUnusable(f"{path}: not a folder")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise CacheUnusable(f"{path}: owned by another user (uid {info.st_uid})")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise CacheUnusable(f"{path}: others may write into it (mode {stat.S_IMODE(info.st_mode):o}); use chmod 700")
        return Cache(path)

    # ------------------------------------------------------------------ entries

    def get(self, kind: str, key: str) -> object | None:
        """The object stored under ``key``, or None (absent, or not trustworthy)."""
        payload = self._read(kind, key)
        if payload is None:
            return None
        try:
            value = pickle.loads(payload)
        except Exception:  # digest fine but it does not load (a class moved): rebuild it
            self.stats.rejected += 1
            return None
        self.stats.hits += 1
        return value

    def holds(self, kind: str) -> bool:
        """Whether any entry of ``kind`` may be here: a first run (a CI machine's, every time)
        skips looking up, one by one, what an empty cache cannot hold."""
        return os.path.isdir(os.path.join(self.folder, kind))

    def put(self, kind: str, key: str, value: object) -> None:
        self.put_bytes(kind, key, pickle.dumps(value, _PICKLE_PROTOCOL))

    def get_bytes(self, kind: str, key: str) -> bytes | None:
        """The verified payload stored under ``key``, or None; the caller unpickles it."""
        payload = self._read(kind, key)
        if payload is not None:
            self.stats.hits += 1
        return payload

    def _read(self, kind: str, key: str) -> bytes | None:
        path = self._path(kind, key)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
                modified = os.fstat(handle.fileno()).st_mtime
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except OSError:
            self.stats.rejected += 1
            return None
        payload = _verified(data, key)
        if payload is None:
            self.stats.rejected += 1
            return None
        if time.time() - modified > _TOUCH_AFTER_SECONDS:
            _touch(path)  # "last used", for pruning; daily is precise enough
        return payload

    def put_bytes(self, kind: str, key: str, payload: bytes) -> None:
        """Store ``payload`` under ``key`` atomically; a failure is a warning, never an error."""
        path = self._path(kind, key)
        header = _HEADER.pack(_MAGIC, FORMAT_VERSION, len(payload), bytes.fromhex(key), _digest(payload))
        folder = os.path.dirname(path)
        temporary = None
        try:
            if folder not in self._folders:  # one mkdir per shard and run, not per entry
                os.makedirs(folder, mode=0o700, exist_ok=True)
                self._folders.add(folder)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(handle, "wb") as stream:
                stream.write(header)
                stream.write(payload)
            os.replace(temporary, path)
            temporary = None
            self.stats.written += 1
        except OSError as exc:
            if not self.warnings:
                self.warnings.append(f"cache not written ({self.folder}): {exc.strerror or exc}")
        finally:
            if temporary is not None:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass

    def _path(self, kind: str, key: str) -> str:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")  # a programming error, not input
        return os.path.join(self.folder, kind, key[:2], key)

    # ------------------------------------------------------------------ housekeeping

    def prune(self, kind: str, now: float | None = None, older_than_days: float = PRUNE_AFTER_DAYS) -> int:
        """Remove entries of ``kind`` unused for ``older_than_days`` (and temporary files a
        killed run left), at most once a day per kind. Returns how many were removed."""
        now = time.time() if now is None else now
        base = os.path.join(self.folder, kind)
        mark = os.path.join(base, _PRUNE_MARK)
        try:
            if now - os.stat(mark).st_mtime < 24 * 3600:
                return 0
        except OSError:
            pass
        removed = 0
        limit = now - older_than_days * 24 * 3600
        try:
            shards = [entry.path for entry in os.scandir(base) if entry.is_dir(follow_symlinks=False)]
            for shard in shards:
                for entry in os.scandir(shard):
                    stale = entry.stat(follow_symlinks=False).st_mtime < (
                        now - 3600 if entry.name.startswith(".tmp-") else limit
                    )
                    if stale:
                        os.unlink(entry.path)
                        removed += 1
            Path(mark).touch()
            os.utime(mark, (now, now))
        except OSError:
            pass  # pruning is best effort: a concurrent run may be doing the same
        return removed


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=32).digest()


def _verified(data: bytes, key: str) -> bytes | None:
    """The payload if the header is ours, of this format, for this key, and the digest holds."""
    if len(data) < _HEADER.size:
        return None
    magic, version, length, stored_key, digest = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != FORMAT_VERSION or stored_key != bytes.fromhex(key):
        return None
    payload = data[_HEADER.size :]
    if len(payload) != length or _digest(payload) != digest:
        return None
    return payload


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except OSError:
        pass
