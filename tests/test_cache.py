"""The content-addressed cache: entries round-trip, bad entries are rebuilt and never trusted,
concurrent runs never see half an entry, and the folder must be the user's own."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import stat
import time
from pathlib import Path

import pytest

from coverage_audit.cache import FORMAT_VERSION, Cache, CacheUnusable, code_fingerprint, default_folder, make_key

KIND = "test-kind"


def entry_path(cache: Cache, key: str) -> Path:
    return Path(cache.folder) / KIND / key[:2] / key


def test_round_trip_and_stats(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "c"))
    key = make_key("a", b"b")
    assert cache.get(KIND, key) is None
    value = {"rules": [1, 2.5, "x"], "nested": ("t", None)}
    cache.put(KIND, key, value)
    assert cache.get(KIND, key) == value
    assert (cache.stats.hits, cache.stats.misses, cache.stats.rejected, cache.stats.written) == (1, 1, 0, 1)
    assert stat.S_IMODE(os.stat(cache.folder).st_mode) == 0o700
    # no temporary file is left next to the entry
    assert [p.name for p in entry_path(cache, key).parent.iterdir()] == [key]


def test_keys_are_length_prefixed_and_fingerprints_follow_the_code(tmp_path: Path) -> None:
    assert make_key("ab", "c") != make_key("a", "bc")
    assert make_key("x") == make_key(b"x")
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text("A = 1\n")
    two.write_text("A = 2\n")

    class Module:
        def __init__(self, path: Path) -> None:
            self.__file__ = str(path)

    assert code_fingerprint([Module(one)], "v1") != code_fingerprint([Module(two)], "v1")
    assert code_fingerprint([Module(one)], "v1") != code_fingerprint([Module(one)], "v2")
    assert code_fingerprint([Module(one)], "v1") == code_fingerprint([Module(one)], "v1")


def _corruptions(data: bytes, other_key_entry: bytes) -> dict[str, bytes]:
    middle = len(data) // 2
    header = bytearray(data)
    version_at = len(b"coverage-audit cache\n")
    header[version_at : version_at + 2] = (FORMAT_VERSION + 1).to_bytes(2, "little")
    return {
        "empty": b"",
        "truncated header": data[:10],
        "truncated payload": data[:-7],
        "one flipped payload byte": data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :],
        "longer": data + b"tail",
        "garbage": os.urandom(len(data)),
        "other format version": bytes(header),
        "another key's entry": other_key_entry,
    }


def test_corrupt_entries_are_misses_and_are_replaced(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "c"))
    key, other = make_key("k"), make_key("other")
    value = {"payload": list(range(200))}
    cache.put(KIND, key, value)
    cache.put(KIND, other, value)  # a perfectly valid entry, but for a different key
    good = entry_path(cache, key).read_bytes()
    for name, bad in _corruptions(good, entry_path(cache, other).read_bytes()).items():
        entry_path(cache, key).write_bytes(bad)
        rejected = cache.stats.rejected
        assert cache.get(KIND, key) is None, name
        assert cache.stats.rejected == rejected + 1, name
        cache.put(KIND, key, value)  # rebuilt and replaced
        assert cache.get(KIND, key) == value, name


def test_a_payload_that_does_not_unpickle_is_a_miss(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "c"))
    key = make_key("k")
    # a valid header and digest around a pickle of a class that no longer exists
    payload = pickle.dumps(1).replace(b"K\x01", b"\x8c\x08no_such_\x8c\x05Thing\x93")
    cache.put_bytes(KIND, key, payload)
    assert cache.get_bytes(KIND, key) == payload  # intact bytes...
    assert cache.get(KIND, key) is None  # ...that are still not trusted as a value
    assert cache.stats.rejected == 1


def test_the_folder_must_be_the_users_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(CacheUnusable, match="others may write"):
        Cache.open(str(shared))
    shared.chmod(0o700)
    Cache.open(str(shared))
    if os.getuid() == 0:
        os.chown(shared, 4242, -1)  # really another user's folder
    else:
        monkeypatch.setattr(os, "getuid", lambda: os.stat(shared).st_uid + 1)
    with pytest.raises(CacheUnusable, match="owned by another user"):
        Cache.open(str(shared))
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(CacheUnusable):
        Cache.open(str(afile))
    with pytest.raises(CacheUnusable):
        Cache.open(str(afile / "below"))


def test_a_failed_write_is_one_warning_not_an_error(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    cache = Cache(str(afile))  # a "folder" that is a file: every write fails, even as root
    for n in range(3):
        cache.put(KIND, make_key(str(n)), n)
    assert len(cache.warnings) == 1 and "cache not written" in cache.warnings[0]
    assert cache.get(KIND, make_key("0")) is None
    assert afile.read_text() == "x"


def test_default_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_folder() == str(tmp_path / "coverage-audit")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the spec says: ignore it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_folder() == str(tmp_path / "home" / ".cache" / "coverage-audit")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_folder() == str(tmp_path / "home" / ".cache" / "coverage-audit")


def test_prune_removes_unused_entries_and_leftovers_once_a_day(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "c"))
    old, fresh = make_key("old"), make_key("fresh")
    cache.put(KIND, old, 1)
    cache.put(KIND, fresh, 2)
    leftover = entry_path(cache, fresh).parent / ".tmp-crashed"
    leftover.write_bytes(b"half")
    now = time.time()
    month_ago = now - 31 * 86400
    os.utime(entry_path(cache, old), (month_ago, month_ago))
    os.utime(leftover, (now - 7200, now - 7200))
    assert cache.prune(KIND, now=now) == 2
    assert cache.get(KIND, old) is None and cache.get(KIND, fresh) == 2 and not leftover.exists()
    cache.put(KIND, old, 1)
    os.utime(entry_path(cache, old), (month_ago, month_ago))
    assert cache.prune(KIND, now=now + 3600) == 0  # swept an hour ago: not again today
    assert cache.prune(KIND, now=now + 2 * 86400) == 1


def test_a_hit_marks_an_old_entry_as_used(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "c"))
    key = make_key("k")
    cache.put(KIND, key, 1)
    week_ago = time.time() - 7 * 86400
    os.utime(entry_path(cache, key), (week_ago, week_ago))
    assert cache.get(KIND, key) == 1
    assert entry_path(cache, key).stat().st_mtime > time.time() - 60


def _hammer(folder: str, worker: int, rounds: int, queue: "multiprocessing.Queue[str]") -> None:
    """Write and read the same few keys as fast as possible; report anything a reader saw
    that is not a whole value."""
    cache = Cache(folder)
    problems = []
    for n in range(rounds):
        key = make_key(str(n % 3))
        size = 1000 + (worker * 7919 + n * 104729) % 50000  # entries of different lengths
        cache.put(KIND, key, (n % 3, "x" * size))
        try:
            got = cache.get(KIND, make_key(str((n + 1) % 3)))
        except Exception as exc:  # noqa: BLE001 - any exception is the failure we look for
            problems.append(f"raised {exc!r}")
            continue
        if got is not None and (got[0] != (n + 1) % 3 or set(got[1]) != {"x"}):
            problems.append(f"read a wrong value {got[0]!r}")
    problems.append(f"rejected={cache.stats.rejected}")
    queue.put("\n".join(problems))


def test_concurrent_writers_and_readers_never_see_half_an_entry(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "c"))
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    workers = [context.Process(target=_hammer, args=(cache.folder, w, 150, queue)) for w in range(4)]
    for process in workers:
        process.start()
    reports = [queue.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=60)
    assert all(process.exitcode == 0 for process in workers)
    assert reports == ["rejected=0"] * 4, reports
    leftovers = [p for p in Path(cache.folder).rglob(".tmp-*")]
    assert leftovers == []
