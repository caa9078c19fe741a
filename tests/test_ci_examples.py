"""The CI examples in docs/examples run as written, on a real git repository.

The commands are read from the example files themselves (never copied here): for GitHub
Actions, every ``run`` step except installing and posting, with the step's ``env`` and the
``${{ }}`` expressions GitHub would fill in; for GitLab CI, the job's ``script``, with the
predefined variables of a merge-request pipeline. The repository is the bundled shop; a first
pull request changes checkout's code and keeps the gaps main already has, a second adds a
component that nothing alerts on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from coverage_audit.reporters.markdown import COMMENT_LIMIT, size

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / "docs" / "examples" / "github-actions.yml"
GITLAB = ROOT / "docs" / "examples" / "gitlab-ci.yml"
STORY = "services/checkout/handlers/place_order.py"
NOT_RUN = ("Install coverage-audit", "Post the comment")  # network: pip and the forge's API


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def shop(tmp_path) -> tuple[Path, str]:
    """A team's repository with the shop on main; returns it and main's commit."""
    repo = tmp_path / "shop"
    repo.mkdir()
    for folder in ("rulesets", "service_maps"):
        shutil.copytree(ROOT / folder, repo / folder)
    shutil.copy(ROOT / "coverage-audit.yaml", repo)
    (repo / STORY).parent.mkdir(parents=True)
    (repo / STORY).write_text("def place_order(cart):\n    return cart.checkout()\n")
    git(repo, "init", "-q", "-b", "main")
    return repo, commit(repo, "the shop")


def keep_gaps(repo: Path) -> str:
    (repo / STORY).write_text("def place_order(cart):\n    return cart.checkout(retry=True)\n")
    return commit(repo, "retry the checkout")


def add_gap(repo: Path) -> str:
    service_map = repo / "service_maps" / "shop.yaml"
    text = service_map.read_text()
    position = text.index("\n", text.index("    components:", text.index("- name: checkout"))) + 1
    component = '      - name: receipts\n        kind: queue_consumer\n        paths: ["services/checkout/receipts/**"]\n'
    service_map.write_text(text[:position] + component + text[position:])
    worker = repo / "services" / "checkout" / "receipts" / "worker.py"
    worker.parent.mkdir(parents=True)
    worker.write_text("def send_receipt(order):\n    ...\n")
    return commit(repo, "receipts by mail")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    venv_bin = str(Path(shutil.which("coverage-audit") or ROOT / ".venv" / "bin" / "coverage-audit").parent)
    return {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}", **extra}


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As GitHub runs a step and GitLab a job's script: bash, stop at the first failure."""
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


# --------------------------------------------------------------------------- GitHub Actions


def github_steps() -> list[dict]:
    workflow = yaml.safe_load(GITHUB.read_text())
    assert "pull_request" in workflow.get("on", workflow.get(True))  # PyYAML reads the key on as true
    (job,) = workflow["jobs"].values()
    return job["steps"]


def fill(text: str, values: dict[str, str]) -> str:
    """GitHub's ``${{ expression }}`` substitution, for the expressions the example uses."""
    def one(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        assert expression in values, f"the example uses ${{{{ {expression} }}}}, which this test does not fill in"
        return values[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def run_github(repo: Path, base: str, head: str, tmp_path: Path) -> tuple[int, str, str]:
    """Runs the workflow's steps on the pull request base..head; returns the gate's exit code,
    the comment and everything the steps printed."""
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir(exist_ok=True)
    output = tmp_path / "github_output"
    output.write_text("")
    values = {"github.event.pull_request.base.sha": base, "github.event.pull_request.head.sha": head}
    printed, gate = "", None
    posted_file = None
    for step in github_steps():
        if "run" not in step:
            continue  # actions/checkout, actions/setup-python: the repository and Python are here
        if step.get("name") in NOT_RUN:
            if "gh pr comment" in step["run"]:
                posted_file = re.search(r"--body-file (\S+)", step["run"]).group(1)  # type: ignore[union-attr]
            continue
        values.update({f"steps.{key}" : value for key, value in _outputs(output).items()})
        env = environment(tmp_path, RUNNER_TEMP=str(runner_temp), GITHUB_OUTPUT=str(output),
                          **{k: fill(str(v), values) for k, v in step.get("env", {}).items()})
        done = bash(fill(step["run"], values), repo, env)
        printed += done.stdout + done.stderr
        if step.get("name") == "Gate":
            gate = done.returncode
        else:
            assert done.returncode == 0, f"step {step.get('name')!r} failed:\n{done.stdout}{done.stderr}"
    assert gate is not None and posted_file == "coverage-comment.md"
    return gate, (repo / posted_file).read_text(), printed


def _outputs(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        found[f"coverage.outputs.{key}"] = value
    return found


def test_github_actions_example_on_a_pull_request_that_keeps_the_gaps(shop, tmp_path) -> None:
    repo, base = shop
    head = keep_gaps(repo)
    gate, comment, printed = run_github(repo, base, head, tmp_path)
    assert gate == 0, printed
    assert re.match(r"### coverage-audit: ❌ [1-9][0-9]* uncovered", comment)  # the gaps main already has
    assert "This change touches `checkout/api`" in comment
    assert "0 new, 0 worse, 0 better, 7 unchanged" in comment
    assert "Known gaps, unchanged or better than the baseline (" in comment  # folded, not in the way
    assert size(comment) < COMMENT_LIMIT


def test_github_actions_example_on_a_pull_request_that_adds_a_gap(shop, tmp_path) -> None:
    repo, base = shop
    head = add_gap(repo)
    gate, comment, printed = run_github(repo, base, head, tmp_path)
    assert gate == 1, printed
    assert "| ❌ uncovered | **new** | `checkout/receipts` | lag |" in comment
    assert comment.index("`checkout/receipts`") < comment.index("<details>")  # what fails comes first


# --------------------------------------------------------------------------- GitLab CI


def run_gitlab(repo: Path, base: str, head: str, tmp_path: Path) -> tuple[int, str, str]:
    pipeline = yaml.safe_load(GITLAB.read_text())
    job = pipeline["alert-coverage"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    script = "\n".join(job["script"]).replace("/tmp/", f"{tmp_path}/")  # one job's own /tmp
    env = environment(tmp_path, CI_MERGE_REQUEST_DIFF_BASE_SHA=base, CI_COMMIT_SHA=head, CI_PROJECT_DIR=str(repo),
                      CI_PIPELINE_SOURCE="merge_request_event", **{k: str(v) for k, v in job.get("variables", {}).items()})
    done = bash(script, repo, env)
    (posted,) = re.findall(r'"body@([^"]+)"', "\n".join(job["after_script"]))
    assert job["artifacts"]["paths"] == [posted]
    return done.returncode, (repo / posted).read_text(), done.stdout + done.stderr


def test_gitlab_ci_example_on_merge_requests(shop, tmp_path) -> None:
    repo, base = shop
    head = keep_gaps(repo)
    code, comment, printed = run_gitlab(repo, base, head, tmp_path)
    assert code == 0, printed
    assert "0 new, 0 worse, 0 better, 7 unchanged" in comment
    git(repo, "checkout", "-q", "-b", "receipts", base)
    head = add_gap(repo)
    second = tmp_path / "second-pipeline"
    second.mkdir()
    code, comment, printed = run_gitlab(repo, base, head, second)
    assert code == 1, printed
    assert "| ❌ uncovered | **new** | `checkout/receipts` | lag |" in comment


def test_a_first_pull_request_without_a_baseline_counts_every_gap(shop, tmp_path) -> None:
    """The pull request that adopts coverage-audit: main has no coverage-audit.yaml yet."""
    repo, _ = shop
    (repo / "coverage-audit.yaml").unlink()
    base = commit(repo, "before coverage-audit")
    shutil.copy(ROOT / "coverage-audit.yaml", repo)
    head = keep_gaps(repo)
    gate, comment, printed = run_github(repo, base, head, tmp_path)
    assert gate == 1, printed
    assert "Against the baseline" not in comment and re.match(r"### coverage-audit: ❌ [1-9][0-9]* uncovered", comment)
