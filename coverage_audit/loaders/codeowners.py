"""CODEOWNERS files (GitHub and GitLab): which owners a repository path belongs to.

Patterns follow gitignore rules with the CODEOWNERS specifics GitHub documents: a pattern without
a slash matches at any depth, a leading ``/`` anchors it at the repository root, a trailing ``/``
means a folder and everything below it, ``*`` does not cross ``/`` (``docs/*`` owns the files
directly in ``docs`` only) while ``**`` does. The last matching line wins, and a line without
owners takes ownership away, as on GitHub.

GitLab ``[Section]`` headers are accepted; sections do not change the matching, but a header's
default owners (``[Docs] @docs-team``) apply to that section's lines that name no owner, as on
GitLab. Negation (``!pattern``) is refused: neither GitHub nor GitLab supports it.
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from typing import Any, Callable, Iterable

import pathspec
import re2

from ..model import CodeOwnersRule, InputError
from ..owners import same_owner
from ..yamlio import read_text

MAX_CODEOWNERS_BYTES = 3 * 1024 * 1024  # GitHub ignores CODEOWNERS files above 3 MB


# --------------------------------------------------------------------------- gitignore globs


def _gitignore_factory() -> str:
    """pathspec >= 1.0 calls the gitignore pattern "gitignore" ("gitwildmatch" is deprecated)."""
    try:
        pathspec.util.lookup_pattern("gitignore")
    except KeyError:
        return "gitwildmatch"
    return "gitignore"


_FACTORY = _gitignore_factory()
_HAS_BACKENDS = "backend" in inspect.signature(pathspec.PathSpec.from_lines).parameters
GlobError = (ValueError, re.error)  # pathspec raises GitIgnorePatternError (a ValueError) or re.error
_WILDCARD_RUN = re.compile(r"\*+")


def gitignore_spec(patterns: Iterable[str]) -> pathspec.PathSpec:
    """Compile gitignore-style globs (``!`` negates); raises one of ``GlobError`` if one is bad.

    A glob becomes a regex in which each ``*`` is ``[^/]*``; two or more of them backtrack
    exponentially in Python's ``re`` (``*a*a*a*a*a*a*a*a*a*a*a*a*b`` against 60 characters ran
    for hours), so such specs match on RE2, which is linear. The rest stay on ``re``: small specs
    match about twice as fast there, and an organisation's globs are mostly plain."""
    lines = list(patterns)
    options: dict[str, Any] = {}
    if _HAS_BACKENDS:
        options["backend"] = "re2" if any(len(_WILDCARD_RUN.findall(line)) > 1 for line in lines) else "simple"
    with warnings.catch_warnings():  # "possible nested set" from re: not the user's concern
        warnings.simplefilter("ignore", FutureWarning)
        return pathspec.PathSpec.from_lines(_FACTORY, lines, **options)


_PATTERN: Any = pathspec.util.lookup_pattern(_FACTORY)  # a Pattern class: pattern_to_regex()
_QUIET_RE2 = re2.Options()
_QUIET_RE2.log_errors = False


_SIMPLE_GLOB = re.compile(r"!?[A-Za-z0-9._/*@+=,-]+")  # no classes, escapes or '?': always valid


def check_glob(glob: str) -> None:
    """Raise one of ``GlobError`` if the glob is unusable, without building a matcher: a
    service map of 10,000 components validates in a fraction of what compiling all would cost
    (plain globs need no check; others are translated by pathspec and compiled by RE2, with
    Python's re deciding what RE2 refuses)."""
    if _SIMPLE_GLOB.fullmatch(glob):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        regex, _ = _PATTERN.pattern_to_regex(glob)
        if regex is None:
            return
        try:
            re2.compile(regex, _QUIET_RE2)
        except re2.error:
            re.compile(regex)


# --------------------------------------------------------------------------- loading

_SECTION = re.compile(r"^\^?\[[^\]]*\](?:\[\d*\])?(?P<owners>\s.*)?$")
_OWNER = re.compile(
    r"""^(?:
        @@?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*   # @user, @org/team, @group/sub/team, @@role
      | [^@\s]+@[^@\s]+\.[^@\s]+                 # an email address
    )$""",
    re.VERBOSE,
)


def load_codeowners(path: str) -> tuple[CodeOwnersRule, ...]:
    """Every pattern line of a CODEOWNERS file, in order; InputError with the line if one is bad."""
    return parse_codeowners(read_text(path, MAX_CODEOWNERS_BYTES), path)


# A YAML or JSON document passed by mistake (an Alertmanager configuration, full of API keys):
# recognised by its first line, and refused without repeating any of its words.
_NOT_CODEOWNERS = re.compile(r"^(?:---|\{|[A-Za-z_][\w.-]*:(?:\s|$)|-\s+[A-Za-z_][\w.-]*:(?:\s|$))")


def parse_codeowners(text: str, name: str) -> tuple[CodeOwnersRule, ...]:
    rules: list[CodeOwnersRule] = []
    section_owners: tuple[str, ...] = ()
    first = True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if first and _NOT_CODEOWNERS.match(line):
            raise InputError(name, number, "not a CODEOWNERS file: it reads as YAML or JSON (is it the right file?)")
        first = False
        section = _SECTION.match(line)
        if section:
            section_owners = _owners(_strip_comment(section.group("owners") or ""), name, number)
            continue
        pattern, rest = _split_pattern(line)
        owners = _owners(_strip_comment(rest), name, number) or section_owners
        _check_pattern(pattern, name, number)
        rules.append(CodeOwnersRule(pattern, owners, number))
    return tuple(rules)


def _split_pattern(line: str) -> tuple[str, str]:
    """The pattern (``\\ `` keeps a space inside it) and the rest of the line."""
    index = 0
    while index < len(line) and not line[index].isspace():
        index += 2 if line[index] == "\\" else 1
    return line[:index], line[index:]


def _strip_comment(text: str) -> str:
    """Owners end at a ``#`` that starts a word (a trailing comment)."""
    match = re.search(r"(?:^|\s)#", text)
    return text[: match.start()] if match else text


def _owners(text: str, name: str, number: int) -> tuple[str, ...]:
    owners = tuple(text.split())
    for position, owner in enumerate(owners, start=1):
        if not _OWNER.match(owner):
            # Only a word meant as an owner is repeated: in a file that is not CODEOWNERS at
            # all, the word after a "pattern" can be a password.
            shown = f"{owner!r}" if "@" in owner else f"number {position} after the pattern"
            raise InputError(name, number, f"invalid owner {shown}: expected @user, @org/team or an email address")
    return owners


def _check_pattern(pattern: str, name: str, number: int) -> None:
    if pattern.startswith("!"):
        raise InputError(name, number, f"negated pattern {pattern!r}: CODEOWNERS does not support '!'")
    if "***" in pattern:
        raise InputError(name, number, f"invalid pattern {pattern!r}: three consecutive asterisks")
    try:
        _matcher(pattern)
    except GlobError as exc:
        raise InputError(name, number, f"invalid pattern {pattern!r}: {exc}") from None


# --------------------------------------------------------------------------- matching


@functools.lru_cache(maxsize=65536)
def _matcher(pattern: str) -> Callable[[str], bool]:
    """A compiled CODEOWNERS pattern (cached: the same rules are asked about every path)."""
    if pattern == "/":
        return lambda path: False  # GitHub: "/" alone owns nothing
    spec = gitignore_spec([pattern])
    if pattern.endswith("/*"):
        # ``docs/*`` owns the files directly in docs/, not those in its subfolders, which plain
        # gitignore semantics (a matched folder takes everything below it) would include.
        below = gitignore_spec([pattern + "/"])
        return lambda path: spec.match_file(path) and not below.match_file(path)
    return spec.match_file


def owners_of(rules: Iterable[CodeOwnersRule], path: str) -> tuple[str, ...]:
    """The owners of ``path`` (repository-relative): those of the last matching rule."""
    for rule in reversed(tuple(rules)):
        if _matcher(rule.pattern)(path):
            return rule.owners
    return ()


def owner_matches(codeowner: str, service_owner: str) -> bool:
    """Does a CODEOWNERS owner name the service map's owner? ``@org/team-payments``,
    ``@team-payments``, ``team-payments`` and ``payments`` all name ``team-payments``
    (``owners.same_owner``: the one spelling rule routing uses too)."""
    return same_owner(codeowner, service_owner)
