"""Helpers for the hostile-input tests (issue 14): the real CLI in a subprocess with a deadline,
and the smallest inputs that exercise a whole run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]

MAP = """\
apiVersion: coverage-audit/v1
kind: ServiceMap
services:
  - name: payments
    owner: team-payments
    tier: critical
    selector: '{job="payments"}'
    components:
      - name: api
        kind: http_api
        paths: ["services/payments/**"]
"""

RULES = """\
groups:
  - name: payments
    rules:
      - alert: PaymentsHighErrorRatio
        expr: |
          sum by (job) (rate(http_requests_total{job="payments",code=~"5.."}[5m]))
            / sum by (job) (rate(http_requests_total{job="payments"}[5m])) > 0.05
        for: 2m
        labels: {severity: critical}
"""

CHANGE = "services/payments/api/charge.py"


@dataclass(frozen=True)
class Run:
    code: int
    out: bytes
    err: bytes

    @property
    def stdout(self) -> str:
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.err.decode("utf-8", "replace")

    def one_line_error(self) -> str:
        """The run failed the way DESIGN 2 asks: exit 2, no traceback, messages one a line."""
        assert self.code == 2, (self.code, self.stdout[-2000:], self.stderr[-2000:])
        assert b"Traceback" not in self.err, self.stderr
        lines = [line for line in self.stderr.splitlines() if line]
        assert lines and all(line.startswith("coverage-audit: ") for line in lines), self.stderr
        return self.stderr


def cli(
    argv: Sequence[str],
    cwd: Path | str,
    timeout: float = 60,
    stdin: bytes | None = b"",
    env: Mapping[str, str] | None = None,
    **popen: object,
) -> Run:
    """``python -m coverage_audit ARGV`` in ``cwd``, killed after ``timeout`` seconds (a hang
    fails the test instead of stalling the suite)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("COVERAGE_AUDIT_REQUIRE_TOOLS", None)
    done = subprocess.run(
        [sys.executable, "-m", "coverage_audit", *argv],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=environment,
        check=False,
        **popen,  # type: ignore[arg-type]
    )
    return Run(done.returncode, done.stdout, done.stderr)


def write_inputs(folder: Path, service_map: str = MAP, rules: str = RULES) -> tuple[Path, Path]:
    """A service map and a rule file in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    map_path, rules_path = folder / "map.yaml", folder / "rules.yaml"
    map_path.write_text(service_map, encoding="utf-8")
    rules_path.write_text(rules, encoding="utf-8")
    return map_path, rules_path


def without_read_override() -> dict[str, object]:
    """Popen options under which file modes bind even for root: the child loses the
    capabilities that let root read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from its
    bounding set before exec. Nothing is needed for other users."""
    if os.geteuid() != 0:
        return {}

    def drop() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
        for capability in (cap_dac_override, cap_dac_read_search):
            if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return {"preexec_fn": drop}
