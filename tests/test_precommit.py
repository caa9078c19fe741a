"""The pre-commit hook (.pre-commit-hooks.yaml), run by the real pre-commit on a real repository.

``pre-commit try-repo`` installs this checkout into a hook environment of its own, exactly as a
team's ``repos: - repo: ...`` entry would, and runs the hook on the staged files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
STORY = "services/checkout/handlers/place_order.py"


def have_pre_commit() -> bool:
    return subprocess.run([*PRE_COMMIT, "--version"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not have_pre_commit(), reason="pre-commit not installed (pip install -e '.[test]')")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    """pre-commit's cache (the hook's virtualenv) shared by the tests of this module."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    return {**os.environ, "PRE_COMMIT_HOME": str(home), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


@pytest.fixture
def shop(tmp_path) -> Path:
    """A team repository: the bundled shop's rules, Alertmanager configuration, service map."""
    repo = tmp_path / "shop"
    repo.mkdir()
    for folder in ("rulesets", "service_maps"):
        shutil.copytree(ROOT / folder, repo / folder)
    shutil.copy(ROOT / "coverage-audit.yaml", repo)
    (repo / STORY).parent.mkdir(parents=True)
    (repo / STORY).write_text("def place_order(cart):\n    return cart.checkout()\n")
    (repo / "README.md").write_text("The shop.\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "shop")
    return repo


def run_hook(repo: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What ``git commit`` runs: the hook on the staged files."""
    return subprocess.run(
        [*PRE_COMMIT, "try-repo", str(ROOT), "coverage-audit", "--verbose"],
        cwd=repo, env=environment, capture_output=True, text=True, timeout=900,
    )


def test_a_staged_change_with_uncovered_failure_modes_fails_the_commit(shop, environment) -> None:
    (shop / STORY).write_text("def place_order(cart):\n    return cart.checkout(retry=True)\n")
    git(shop, "add", STORY)
    done = run_hook(shop, environment)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "coverage-audit check" in done.stdout and "Failed" in done.stdout
    assert "Change: 1 path(s) -> checkout/api" in done.stdout
    assert "checkout/api               traffic_drop" in done.stdout  # the gap, named


def test_waived_gaps_and_unrelated_changes_pass(shop, environment) -> None:
    (shop / "waivers.yaml").write_text(
        "waivers:\n"
        "  - {subject: checkout/api, failure_mode: traffic_drop, reason: SLO work in SHOP-42, owner: team-checkout, expires: '2999-12-31'}\n"
        "  - {subject: business/orders_completed, failure_mode: failure_ratio, reason: counted next quarter, owner: team-orders, expires: '2999-12-31'}\n"
    )
    with (shop / "coverage-audit.yaml").open("a") as config:
        config.write("waivers: waivers.yaml\n")
    (shop / STORY).write_text("def place_order(cart):\n    return cart.checkout(retry=True)\n")
    git(shop, "add", "-A")
    done = run_hook(shop, environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout and "2 waived" in done.stdout
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "waive")
    (shop / "README.md").write_text("The shop, documented.\n")
    git(shop, "add", "README.md")
    done = run_hook(shop, environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No failure modes are impacted." in done.stdout
