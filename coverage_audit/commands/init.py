"""``coverage-audit init``: a first service map from a repository (and a running Prometheus),
written to a new file: never over an existing one."""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

from ..catalog import default_catalog, load_catalog
from ..config import Settings
from ..durations import format_duration
from ..firstmap.render import render
from ..firstmap.repository import RepositoryScan
from ..loaders.service_map import load_service_map_text
from ..model import Diagnostic
from ..printable import printable
from .exits import EXIT_ERROR, EXIT_OK, UsageError
from .output import report_errors, write_stdout
from .rulesource import live_session


def init(settings: Settings, args: Mapping[str, Any]) -> int:
    out = args.get("out")
    repo = args.get("repo") or "."
    if not out:
        raise UsageError("init needs --out FILE: where to write the map")
    if os.path.lexists(out):
        raise UsageError(f"{out} exists; init never overwrites a file (choose another --out)")
    if not os.path.isdir(repo):
        raise UsageError(f"--repo {repo}: not a folder")
    catalog = load_catalog(settings.catalog) if settings.catalog else default_catalog()
    scan = RepositoryScan(repo).scan()
    errors: list[Diagnostic] = []
    observed = None
    live = live_session(settings)
    if live is not None:
        errors += live.errors
    if live is not None and live.prometheus is not None:
        from ..firstmap.prometheus import observe
        from ..live.transport import LiveError

        client = live.prometheus
        end = time.time()
        try:
            observed = observe(client, {n: c.aliases for n, c in scan.candidates.items()}, end - settings.lookback, end)
        except LiveError as exc:
            errors.append(exc.diagnostic)
    origin = os.path.abspath(repo) + (f" and {live.prometheus.url}" if live is not None and live.prometheus is not None and observed is not None else "")
    drafted = render(scan.candidates, observed, catalog, origin, settings.lookback)
    loaded = load_service_map_text(drafted.text, out, catalog)
    if loaded.errors:  # the map must load with the loader everything else uses
        report_errors(loaded.errors)
        return EXIT_ERROR
    try:
        _write_new(out, drafted.text)
    except FileExistsError:
        raise UsageError(f"{out} exists; init never overwrites a file (choose another --out)") from None
    except OSError as exc:
        errors.append(Diagnostic(out, 0, f"cannot write: {exc.strerror or exc}"))
        report_errors(errors)
        return EXIT_ERROR
    lines = [f"Wrote {out}: {drafted.services} services; {drafted.guesses} guesses marked `guess` for a person to confirm."]
    if observed is not None:
        lines.append(f"Prometheus named {len(observed.identities)} of them and showed {len(observed.calls)} calls (last {format_duration(settings.lookback)}).")
    if scan.skipped:
        lines.append(f"Skipped {len(scan.skipped)} YAML file(s) that do not parse (templates?), e.g. {scan.skipped[0]}")
    lines += scan.notes
    write_stdout("\n".join(printable(line, keep_lines=False) for line in lines) + "\n")
    report_errors(errors)
    return EXIT_ERROR if errors else EXIT_OK


def _write_new(path: str, text: str) -> None:
    """Create ``path`` only if it does not exist (atomically: O_EXCL), and never leave half a
    file behind."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    except BaseException:
        os.unlink(path)
        raise
