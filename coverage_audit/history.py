"""The report's memory: every run's totals and per-mode statuses in ``DIR/history.sqlite``.

sqlite (stdlib) writes the file itself, in transactions, so a run interrupted half-way leaves the
previous history intact. A file that is not our database is an error naming it; it is never
overwritten or "repaired".
"""

from __future__ import annotations

import math
import os
import sqlite3
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Iterator

from .analysis.findings import STATUSES
from .analysis.overview import ModeStatus, Run, RunTotals
from .model import InputError

FILENAME = "history.sqlite"
SCHEMA_VERSION = 1
LOCK_WAIT_SECONDS = 5.0  # how long a run waits for another one's write before saying "busy"

_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,          -- UTC, ISO 8601
    budget_seconds REAL NOT NULL,
    total INTEGER NOT NULL,
    covered INTEGER NOT NULL,
    weak INTEGER NOT NULL,
    uncovered INTEGER NOT NULL
);
CREATE TABLE findings (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    service TEXT,                      -- NULL for business metrics
    owner TEXT NOT NULL,
    tier TEXT NOT NULL,
    failure_mode TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('covered', 'weak', 'uncovered')),
    PRIMARY KEY (run_id, subject, failure_mode)
);
CREATE INDEX runs_by_time ON runs (started_at);
"""


class History:
    """One open history file. Use as a context manager, or call ``close()``."""

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.isdir(path):
            raise InputError(path, 0, "the history file is a folder")
        try:
            self._db = sqlite3.connect(path, timeout=LOCK_WAIT_SECONDS)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._prepare()
        except sqlite3.Error as exc:
            self._close_quietly()
            raise _unusable(path, exc) from None

    def _prepare(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and not tables:
            self._db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            return
        if version == 0:
            raise sqlite3.DatabaseError(f"a sqlite database with other tables ({', '.join(sorted(tables))})")
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {version}, written by a newer coverage-audit")
        if not {"runs", "findings"} <= tables:
            raise sqlite3.DatabaseError("the runs or findings table is missing")

    def append(self, run: Run) -> int:
        """Stores a run in one transaction; returns its id."""
        t = run.totals
        with self._guard(), self._db:
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, budget_seconds, total, covered, weak, uncovered) VALUES (?, ?, ?, ?, ?, ?)",
                (t.started_at, t.budget, t.total, t.covered, t.weak, t.uncovered),
            )
            run_id = int(cursor.lastrowid or 0)
            self._db.executemany(
                "INSERT OR REPLACE INTO findings (run_id, subject, service, owner, tier, failure_mode, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, s.subject, s.service, s.owner, s.tier, s.failure_mode, s.status) for s in run.statuses],
            )
        return run_id

    def previous(self) -> Run | None:
        """The last stored run, with every mode's status."""
        with self._guard():
            row = self._db.execute(f"SELECT {_TOTALS} FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return None
            totals = _totals(row)
            statuses = tuple(
                _status(found, totals.run_id or 0)
                for found in self._db.execute(
                    "SELECT subject, service, owner, tier, failure_mode, status FROM findings WHERE run_id = ? ORDER BY subject, failure_mode",
                    (totals.run_id,),
                )
            )
        return Run(totals, statuses)

    def trend(self, limit: int) -> list[RunTotals]:
        """The last ``limit`` runs' totals, oldest first."""
        if limit <= 0:
            return []
        with self._guard():
            rows = self._db.execute(f"SELECT {_TOTALS} FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_totals(row) for row in reversed(rows)]

    def count(self) -> int:
        with self._guard():
            return int(self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Damage found past the header (a torn or edited file) is the same error as a bad
        header; a lock held too long, a full disk or a read-only file say so instead."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from None

    def close(self) -> None:
        self._db.close()

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


_TOTALS = "id, started_at, budget_seconds, total, covered, weak, uncovered"


def _totals(row: tuple[object, ...]) -> RunTotals:
    """A stored run's counts, each value of the type the schema means (sqlite stores whatever
    it is given: an edited file may hold text in a count or HTML in a timestamp)."""
    run_id, started_at, budget, total, covered, weak, uncovered = row
    where = f"run {run_id!r}"
    if not _is_int(run_id):
        raise sqlite3.DatabaseError(f"{where}: the id is not a number")
    if not isinstance(started_at, str) or not _is_timestamp(started_at):
        raise sqlite3.DatabaseError(f"{where}: started_at is not an ISO 8601 time")
    if not isinstance(budget, (int, float)) or isinstance(budget, bool) or not math.isfinite(budget) or budget < 0:
        raise sqlite3.DatabaseError(f"{where}: budget_seconds is not a number of seconds")
    counts = [count for count in (total, covered, weak, uncovered) if isinstance(count, int) and not isinstance(count, bool) and count >= 0]
    if len(counts) != 4 or not isinstance(run_id, int):
        raise sqlite3.DatabaseError(f"{where}: a count is not a whole number")
    total, covered, weak, uncovered = counts
    return RunTotals(started_at, float(budget), total, covered, weak, uncovered, run_id)


def _status(row: tuple[object, ...], run_id: int) -> ModeStatus:
    subject, service, owner, tier, mode, status = row
    texts = (subject, owner, tier, mode)
    if not all(isinstance(text, str) for text in texts) or not (service is None or isinstance(service, str)):
        raise sqlite3.DatabaseError(f"run {run_id}: a finding holds a value that is not text")
    if status not in STATUSES:
        raise sqlite3.DatabaseError(f"run {run_id}: a finding has the status {status!r}")
    return ModeStatus(subject, service, owner, tier, mode, status)  # type: ignore[arg-type]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


# sqlite's primary result codes (the low byte of an extended code)
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_WRITE_CODES = {3, 8, 10, 13, 14, 19}  # PERM, READONLY, IOERR, FULL, CANTOPEN, CONSTRAINT


def _unusable(path: str, exc: Exception) -> InputError:
    """The one line for a history that cannot be used now, saying why: busy, unwritable, or
    damaged (only damage is a reason to move the file away)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _BUSY_CODES:
        return InputError(path, 0, f"busy: another coverage-audit run has held the history lock for more than {LOCK_WAIT_SECONDS:g} s; this run is not recorded in it")
    if primary in _WRITE_CODES:
        return InputError(path, 0, f"cannot use the history: {exc}; the file is left as it is")
    return InputError(path, 0, f"not a usable coverage-audit history database ({exc}); move it away to start a new history")


def open_history(folder: str) -> History:
    os.makedirs(folder, exist_ok=True)
    return History(os.path.join(folder, FILENAME))
