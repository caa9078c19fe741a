"""Owner names, spelled one way: the service map's ``owner``, CODEOWNERS entries and the values
of Alertmanager routes' team labels (``data/owners.yaml``).

``team-payments``, ``payments-team``, ``@org/team-payments``, ``group:default/team-payments`` and
``payments@example.com`` all name one owner; ``team-payments-eu`` and ``pay`` do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .yamlio import load_documents

_DATA = "coverage_audit/data/owners.yaml"


@dataclass(frozen=True, slots=True)
class OwnerSpelling:
    affix: re.Pattern[str]
    label_hints: tuple[str, ...]


@lru_cache(maxsize=1)
def spelling() -> OwnerSpelling:
    text = resources.files("coverage_audit").joinpath("data/owners.yaml").read_text(encoding="utf-8")
    data = load_documents(text, _DATA)[0].value
    assert isinstance(data, dict), _DATA
    words = "|".join(re.escape(str(w)) for w in data["affixes"])
    return OwnerSpelling(re.compile(rf"^(?:{words})[-_]|[-_](?:{words})$"), tuple(str(h) for h in data["label_hints"]))


def owner_key(owner: str) -> str:
    """The owner's own name, lower-cased: ``@org/team-payments`` -> ``team-payments``;
    ``group:default/x`` -> ``x``; an e-mail address -> its local part."""
    text = owner.strip().lower().lstrip("@")
    if "@" in text:
        text = text.split("@", 1)[0]
    return text.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def owner_names(owner: str) -> list[str]:
    """The spellings of an owner to look for, lower-cased: its key, and the key without the
    team-like affix (``team-payments`` -> ``payments``; ``payments-team`` -> ``payments``)."""
    key = owner_key(owner)
    bare = spelling().affix.sub("", key)
    return [name for name in dict.fromkeys((owner.strip().lower(), key, bare)) if name]


def same_owner(one: str, other: str) -> bool:
    """Do two spellings name the same owner?"""
    ours, theirs = owner_key(one), owner_key(other)
    if not ours or not theirs:
        return False
    affix = spelling().affix
    return ours == theirs or affix.sub("", ours) == affix.sub("", theirs)


def is_owner_label(name: str) -> bool:
    """A label that names an owner (``team``, ``team_name``, ``owner2``, ``product``, ...)."""
    lowered = name.lower()
    return any(hint in lowered for hint in spelling().label_hints)
