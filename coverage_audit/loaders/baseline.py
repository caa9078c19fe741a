"""A baseline: the statuses of a previous run (``report.json`` or ``check --format json``).

Only the contract's keys are read (DESIGN 6): each finding's ``subject``, ``failure_mode`` and
``status``; a ``waived`` finding counts as the verdict under its waiver (``waiver.judged``), since
a waiver accepts a gap without closing it. Anything else is an input error naming the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..model import InputError
from ..yamlio import read_text

MAX_BYTES = 512 * 1024 * 1024  # a report of a very large organisation is tens of MB
JUDGED = ("covered", "weak", "uncovered")
_SPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True, slots=True)
class Baseline:
    file: str
    statuses: dict[tuple[str, str], str] = field(default_factory=dict)  # (subject, mode) -> status


def load_baseline(path: str) -> Baseline:
    """Raises InputError (file and line) when the file is not a coverage-audit JSON document."""
    text = read_text(path, MAX_BYTES)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(path, 1, "JSON nested too deeply; refused") from None
    if not isinstance(document, dict) or not isinstance(document.get("findings"), list):
        raise InputError(path, 1, "not a coverage-audit JSON document (report.json or check --format json): no 'findings' list")
    if document.get("version") != 1:
        raise InputError(path, 1, f"unsupported version {document.get('version')!r} (this coverage-audit reads version 1)")
    statuses: dict[tuple[str, str], str] = {}
    for index, finding in enumerate(document["findings"]):
        problem = _problem(finding)
        if problem:
            raise InputError(path, _line_of_finding(text, index), f"findings[{index}]: {problem}")
        status = finding["status"]
        if status == "waived":
            status = finding["waiver"]["judged"]
        statuses[(finding["subject"], finding["failure_mode"])] = status
    return Baseline(path, statuses)


def _problem(finding: object) -> str | None:
    if not isinstance(finding, dict):
        return "a finding must be an object"
    for key in ("subject", "failure_mode"):
        if not isinstance(finding.get(key), str) or not finding[key]:
            return f"'{key}' must be a non-empty string"
    status = finding.get("status")
    if status == "waived":
        waiver = finding.get("waiver")
        if not isinstance(waiver, dict) or waiver.get("judged") not in JUDGED:
            return "a waived finding needs 'waiver.judged' (covered, weak or uncovered)"
    elif status not in JUDGED:
        return f"status {status!r} is not one of covered, weak, uncovered, waived"
    return None


def _line_of_finding(text: str, index: int) -> int:
    """The line where ``findings[index]`` starts (the text is valid JSON by now)."""
    decoder = json.JSONDecoder()
    at = _skip(text, 0) + 1  # past the top-level "{"
    while True:
        key, at = decoder.raw_decode(text, _skip(text, at))
        at = _skip(text, _skip(text, at) + 1)  # past ":"
        if key == "findings":
            break
        _, at = decoder.raw_decode(text, at)
        at = _skip(text, at) + 1  # past ","
    at += 1  # past "["
    for _ in range(index):
        _, at = decoder.raw_decode(text, _skip(text, at))
        at = _skip(text, at) + 1  # past ","
    return text.count("\n", 0, _skip(text, at)) + 1


def _skip(text: str, at: int) -> int:
    """Past the JSON whitespace at ``at``."""
    match = _SPACE.match(text, at)
    return match.end() if match else at
