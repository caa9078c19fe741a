"""Waivers files (DESIGN 5.4): accepted gaps, each with a reason, an owner and an expiry.

```yaml
waivers:
  - subject: payments/*            # a glob over "service/component" or "business/<name>"
    failure_mode: latency          # a glob too
    reason: the p99 alert waits for the new histogram buckets (PAY-1234)
    owner: team-payments
    expires: 2025-09-30            # the last day the waiver holds
```

A bare list of entries is accepted too. An entry without its reason, owner or expiry, or with a
date that is not ``YYYY-MM-DD``, is an input error at its line and is not applied: a gap that
nobody clearly accepted counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from ..model import Diagnostic, InputError, Waiver
from ..yamlio import YMap, YSeq, load_file

REQUIRED = ("subject", "failure_mode", "reason", "owner", "expires")
MAX_WAIVERS = 10_000  # glob waivers are tried against every subject: bound the work
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(slots=True)
class WaiverLoad:
    waivers: list[Waiver] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)


def load_waivers(path: str) -> WaiverLoad:
    """Every valid entry, and a Diagnostic for each invalid one; never raises for content."""
    result = WaiverLoad()
    try:
        documents = load_file(path)
    except InputError as exc:
        result.errors.append(exc.diagnostic)
        return result
    if not documents:
        return result  # an empty file waives nothing
    value = documents[0].value
    entries = value.get("waivers") if isinstance(value, YMap) else value
    if isinstance(value, YMap):
        for key in value:
            if key != "waivers":
                result.errors.append(Diagnostic(path, value.line_of(key), f"unknown key {key!r} in a waivers file (expected 'waivers')"))
        if entries is None:
            return result
    if not isinstance(entries, YSeq):
        line = value.line_of("waivers") if isinstance(value, YMap) else documents[0].line
        result.errors.append(Diagnostic(path, line, "'waivers' must be a list of {subject, failure_mode, reason, owner, expires}"))
        return result
    if len(entries) > MAX_WAIVERS:
        result.errors.append(Diagnostic(path, entries.line, f"more than {MAX_WAIVERS} waivers; refused"))
        return result
    for index, entry in enumerate(entries):
        waiver = _entry(entry, entries.line_of(index), path, result.errors)
        if waiver is not None:
            result.waivers.append(waiver)
    return result


def _entry(entry: object, line: int, path: str, errors: list[Diagnostic]) -> Waiver | None:
    if not isinstance(entry, YMap):
        errors.append(Diagnostic(path, line, "a waiver must be a mapping of subject, failure_mode, reason, owner, expires"))
        return None
    for key in entry:
        if key not in REQUIRED:
            errors.append(Diagnostic(path, entry.line_of(key), f"unknown key {key!r} in a waiver (known: {', '.join(REQUIRED)})"))
    missing = [key for key in REQUIRED if not (isinstance(entry.get(key), str) and entry[key].strip())]
    if missing:
        what = ", ".join(missing)
        errors.append(Diagnostic(path, entry.line, f"waiver without {what}: every waiver needs a subject, a failure_mode, a reason, an owner and an expiry date"))
        return None
    text = entry["expires"].strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        expires = date.fromisoformat(text)
    except ValueError:
        errors.append(Diagnostic(path, entry.line_of("expires"), f"expires: {text!r} is not a date written YYYY-MM-DD"))
        return None
    return Waiver(
        subject=entry["subject"].strip(),
        failure_mode=entry["failure_mode"].strip(),
        reason=" ".join(entry["reason"].split()),
        owner=entry["owner"].strip(),
        expires=expires,
        file=path,
        line=entry.line,
    )
