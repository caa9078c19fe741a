"""The change a command judges: paths (given, from a file or stdin, or a git range) or components.
Kept apart from the analysis, so that a query answered from kept verdicts imports none of it."""

from __future__ import annotations

import sys
from typing import Any, Mapping

from ..loaders.changes import as_text, git_changed_paths, normalise_path, read_changed_paths
from ..model import Change
from .exits import UsageError
from .output import closed_streams


def read_change(args: Mapping[str, Any]) -> Change:
    try:
        if args.get("changed"):
            return Change(paths=tuple(dict.fromkeys(normalise_path(p) for p in args["changed"])), source="--changed")
        if args.get("changed_from"):
            source = args["changed_from"]
            return Change(paths=read_changed_paths(source, sys.stdin, 0 in closed_streams), source=source)
        if args.get("git_range"):
            return Change(paths=git_changed_paths(args.get("repo") or ".", args["git_range"]), source=f"git {args['git_range']}")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.get("component"):
        return Change(components=tuple(dict.fromkeys(as_text(c) for c in args["component"])), source="--component")
    raise UsageError("check needs a change: --changed PATH..., --changed-from FILE, --git-range BASE..HEAD or --component SERVICE/COMPONENT")
