"""The real amtool, for tests that compare our routing with Alertmanager's own."""

from __future__ import annotations

import shutil
import subprocess
from typing import Mapping

AMTOOL = shutil.which("amtool")


def amtool_arg(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}="{escaped}"'


def amtool_receivers(config_file: str, labels: Mapping[str, str]) -> str:
    """What `amtool config routes test` prints: the receivers, comma-separated, in order."""
    assert AMTOOL is not None
    args = [AMTOOL, "config", "routes", "test", f"--config.file={config_file}"]
    args += [amtool_arg(name, value) for name, value in labels.items()]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout.removesuffix("\n")
