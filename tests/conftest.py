"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real-world corpus in ../shared/corpus (read in place, never copied)."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"corpus not found at {CORPUS_DIR} (it lives next to the repository, in shared/corpus)")
    return CORPUS_DIR


@pytest.fixture(scope="session", autouse=True)
def private_cache_home(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Commands cache parsed rule files in the user's cache folder: the tests get their own
    (and subprocesses they start inherit it), never the developer's."""
    folder = tmp_path_factory.mktemp("xdg-cache-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


# CI must never pass while testing nothing: with COVERAGE_AUDIT_REQUIRE_TOOLS=1 (set by .ci/run),
# a test that skips (a missing promtool, amtool, Alertmanager, Pushgateway, Chromium or corpus)
# fails instead, with the skip's reason.
REQUIRE_TOOLS = os.environ.get("COVERAGE_AUDIT_REQUIRE_TOOLS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_TOOLS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under COVERAGE_AUDIT_REQUIRE_TOOLS=1 (CI must not pass untested): {reason}"
