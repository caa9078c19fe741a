"""\"Did you mean\" hints whose cost stays linear in the number of choices.

difflib compares the word with every choice; asked once per unknown name, that is quadratic (a
map of 10,000 services with a typo in each ``depends_on`` took 25 minutes). Small sets (keys,
kinds) still go through difflib; large ones are indexed by their single-character deletions
(symmetric delete, as in SymSpell), which finds every choice within two edits of the word in a
few dictionary lookups; difflib then only ranks those few.
"""

from __future__ import annotations

import difflib
from typing import Iterable

SMALL = 64  # up to this many choices, compare with each
INDEXED_LENGTH = 64  # longer names are indexed whole only (their deletions would cost L^2)
CUTOFF = 0.6  # difflib's default similarity for a close match


class Suggester:
    """Built once per set of choices; ``hint(word)`` is then cheap."""

    def __init__(self, choices: Iterable[str]) -> None:
        self.choices = list(dict.fromkeys(choices))
        self._index: dict[str, list[int]] | None = None

    def best(self, word: str) -> str | None:
        if len(self.choices) <= SMALL:
            close = difflib.get_close_matches(word, self.choices, n=1, cutoff=CUTOFF)
            return close[0] if close else None
        index = self._built()
        found: dict[int, None] = {}
        for variant in _variants(word.lower()):
            for number in index.get(variant, ()):
                found.setdefault(number, None)
        best, best_ratio = None, CUTOFF
        for number in sorted(found):  # map order breaks ties
            ratio = _ratio(word, self.choices[number])
            if ratio > best_ratio or (best is None and ratio >= best_ratio):
                best, best_ratio = self.choices[number], ratio
        return best

    def hint(self, word: str) -> str:
        """`` (did you mean 'x'?)`` or nothing."""
        close = self.best(word)
        return f" (did you mean {close!r}?)" if close else ""

    def _built(self) -> dict[str, list[int]]:
        if self._index is None:
            self._index = {}
            for number, choice in enumerate(self.choices):
                for variant in _variants(choice.lower()):
                    self._index.setdefault(variant, []).append(number)
        return self._index


def suggest(word: str, choices: Iterable[str]) -> str:
    """A one-off hint (small, fixed sets such as known keys)."""
    return Suggester(choices).hint(word)


def _variants(word: str) -> set[str]:
    if len(word) > INDEXED_LENGTH:
        return {word}
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()
