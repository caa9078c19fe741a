"""Today's date, in one place, so that tests can set it (waivers expire by it)."""

from __future__ import annotations

from datetime import date


def today() -> date:
    return date.today()
