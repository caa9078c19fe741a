"""The report's memory: every run's totals and per-mode statuses in ``DIR/history.sqlite``.

sqlite (stdlib) writes the file itself, in transactions, so a run interrupted half-way leaves the
previous history intact. A file that is not our database is an error naming it; it is never
overwritten or "repaired".
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from types import TracebackType
from typing import Iterator

from .analysis.overview import ModeStatus, Run, RunTotals
from .model import InputError

FILENAME = "history.sqlite"
SCHEMA_VERSION = 1

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
            self._db = sqlite3.connect(path)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._prepare()
        except sqlite3.DatabaseError as exc:
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
                ModeStatus(subject, service, owner, tier, mode, status)
                for subject, service, owner, tier, mode, status in self._db.execute(
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
        """Damage found past the header (a torn or edited file) is the same error as a bad header."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
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


def _totals(row: tuple[int, str, float, int, int, int, int]) -> RunTotals:
    run_id, started_at, budget, total, covered, weak, uncovered = row
    return RunTotals(started_at, budget, total, covered, weak, uncovered, run_id)


def _unusable(path: str, exc: Exception) -> InputError:
    return InputError(path, 0, f"not a usable coverage-audit history database ({exc}); move it away to start a new history")


def open_history(folder: str) -> History:
    os.makedirs(folder, exist_ok=True)
    return History(os.path.join(folder, FILENAME))
