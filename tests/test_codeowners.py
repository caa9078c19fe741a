"""CODEOWNERS: parsing (GitHub and GitLab), matching semantics, owner names, owner -> services."""

from __future__ import annotations

from pathlib import Path

import pytest

from coverage_audit.analysis.paths import services_for_owner_paths
from coverage_audit.loaders.codeowners import load_codeowners, owner_matches, owners_of, parse_codeowners
from coverage_audit.model import CodeOwnersRule, InputError, Service, ServiceMap

# (pattern, path, owned?) — GitHub's documented semantics
MATCHING = [
    ("*", "README.md", True),
    ("*", "a/b/c.py", True),
    ("*.js", "app.js", True),
    ("*.js", "src/deep/app.js", True),
    ("*.js", "src/app.jsx", False),
    ("foo", "foo", True),
    ("foo", "bar/foo", True),  # no slash: any depth
    ("foo", "bar/foo/baz", True),  # a folder takes everything below it
    ("foo", "foo.txt", False),
    ("/foo", "foo/bar", True),
    ("/foo", "bar/foo", False),  # a leading slash anchors at the root
    ("foo/bar", "foo/bar/baz", True),
    ("foo/bar", "baz/foo/bar", False),  # a slash inside anchors too
    ("apps/", "apps/a.js", True),
    ("apps/", "src/apps/a/b.js", True),
    ("apps/", "apps", False),  # a trailing slash means a folder
    ("/docs/", "docs/a/b.md", True),
    ("/docs/", "src/docs/a.md", False),
    ("/build/logs/", "build/logs/deep/x.log", True),
    ("/build/logs/", "build/logs", False),
    ("docs/*", "docs/getting-started.md", True),
    ("docs/*", "docs/build-app/troubleshooting.md", False),  # '*' owns direct children only
    ("docs/*", "x/docs/a.md", False),
    ("/*", "README.md", True),
    ("/*", "src/a.py", False),
    ("f*", "foo/bar", True),
    ("f*", "bar/foo", True),
    ("f*", "xfoo", False),
    ("f?o", "foo", True),
    ("f?o", "fo", False),
    ("foo/*/baz", "foo/bar/baz", True),
    ("foo/*/baz", "foo/bar/baz/qux", True),
    ("foo/*/baz", "foo/baz", False),
    ("foo/*/baz", "foo/a/b/baz", False),  # '*' does not cross '/'
    ("foo/**/bar", "foo/bar", True),
    ("foo/**/bar", "foo/a/b/bar/c", True),  # '**' does
    ("foo/**/bar", "x/foo/bar", False),
    ("foo/bar/**", "foo/bar", False),
    ("foo/bar/**", "foo/bar/baz/qux", True),
    ("**/logs", "logs/a", True),
    ("**/logs", "deeply/nested/logs/a", True),
    ("**/logs", "logsx/a", False),
    ("My\\ Docs/", "My Docs/a.md", True),
    ("My\\ Docs/", "My/a.md", False),
    ("/", "anything", False),
]


@pytest.mark.parametrize("pattern, path, owned", MATCHING)
def test_pattern_semantics(pattern: str, path: str, owned: bool) -> None:
    rules = (CodeOwnersRule(pattern, ("@o",), 1),)
    assert owners_of(rules, path) == (("@o",) if owned else ())


GITHUB = """\
# Order matters: the last matching pattern takes precedence.
*       @org/default
*.js    @js-owner   # a trailing comment
/apps/  @octocat docs@example.com
/apps/github
/src/**/*.py  @org/python
"""


@pytest.mark.parametrize(
    "path, owners",
    [
        ("README.md", ("@org/default",)),
        ("web/a.js", ("@js-owner",)),
        ("apps/x.js", ("@octocat", "docs@example.com")),  # later than *.js: wins
        ("apps/github/x.js", ()),  # a line without owners takes ownership away
        ("src/a/b/c.py", ("@org/python",)),
        ("src/a.py", ("@org/python",)),
    ],
)
def test_last_match_wins(path: str, owners: tuple[str, ...]) -> None:
    assert owners_of(parse_codeowners(GITHUB, "CODEOWNERS"), path) == owners


def test_parsing_comments_escapes_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "CODEOWNERS"
    path.write_bytes(
        b"# comment\r\n\r\n"
        b"services/payments/**  @Org/Team-Payments\r\n"
        b"   \r\n"
        b"docs/My\\ Guide.md @writer  ops@example.com # who\r\n"
        b"\\#notes/ @hash\r\n"
    )
    rules = load_codeowners(str(path))
    assert rules == (
        CodeOwnersRule("services/payments/**", ("@Org/Team-Payments",), 3),
        CodeOwnersRule("docs/My\\ Guide.md", ("@writer", "ops@example.com"), 5),
        CodeOwnersRule("\\#notes/", ("@hash",), 6),
    )
    assert owners_of(rules, "docs/My Guide.md") == ("@writer", "ops@example.com")
    assert owners_of(rules, "#notes/a") == ("@hash",)


def test_gitlab_sections() -> None:
    text = """\
[Documentation] @docs-team
docs/
README.md @readme-owner

^[Optional section]
*.txt @text

[Database][2] @dba @org/data
db/migrations/
[Empty]
/tools/
"""
    rules = parse_codeowners(text, "CODEOWNERS")
    assert [(r.pattern, r.owners, r.line) for r in rules] == [
        ("docs/", ("@docs-team",), 2),  # the section's default owners
        ("README.md", ("@readme-owner",), 3),
        ("*.txt", ("@text",), 6),
        ("db/migrations/", ("@dba", "@org/data"), 9),
        ("/tools/", (), 11),
    ]
    assert owners_of(rules, "db/migrations/001.sql") == ("@dba", "@org/data")


def test_a_character_class_is_a_pattern_not_a_section() -> None:
    rules = parse_codeowners("[Dd]ocs/ @docs\n", "CODEOWNERS")
    assert owners_of(rules, "Docs/a.md") == ("@docs",) and owners_of(rules, "docs/a.md") == ("@docs",)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("*.js @ok\nsrc/ team-payments\n", 2, "invalid owner number 1 after the pattern"),  # a word without @ is not repeated (issue 14)
        ("# x\n!src/ @a\n", 2, "negated pattern '!src/'"),
        ("\n\nsrc/*** @a\n", 3, "three consecutive asterisks"),
        ("src/[z-a]/ @a\n", 1, "invalid pattern 'src/[z-a]/'"),
        ("src/ @a b@@c\n", 1, "invalid owner 'b@@c'"),
    ],
)
def test_bad_files_raise_with_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "CODEOWNERS"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_codeowners(str(path))
    assert (caught.value.diagnostic.file, caught.value.diagnostic.line) == (str(path), line)
    assert message in caught.value.diagnostic.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_codeowners(str(tmp_path / "nope"))
    assert caught.value.diagnostic.line == 0 and "cannot read" in caught.value.diagnostic.message


@pytest.mark.parametrize(
    "codeowner, service_owner, matches",
    [
        ("@org/team-payments", "team-payments", True),
        ("@team-payments", "team-payments", True),
        ("team-payments", "team-payments", True),
        ("payments", "team-payments", True),
        ("@ORG/Team-Payments", "team-payments", True),
        ("@org/payments-team", "team-payments", True),
        ("@org/team-payments", "payments", True),
        ("payments@example.com", "team-payments", True),
        ("@org/team-payments", "group:default/team-payments", True),
        ("@org/group/sub/team-payments", "team-payments", True),
        ("@org/team-orders", "team-payments", False),
        ("@org/pay", "team-payments", False),
        ("@org/team", "team-payments", False),
        ("@org/team-payments-eu", "team-payments", False),
        ("", "team-payments", False),
    ],
)
def test_owner_matches(codeowner: str, service_owner: str, matches: bool) -> None:
    assert owner_matches(codeowner, service_owner) is matches


def test_services_for_owner_paths() -> None:
    service_map = ServiceMap(
        services={
            "payments": Service("payments", "team-payments"),
            "refunds": Service("refunds", "payments"),
            "orders": Service("orders", "team-orders"),
        },
        business_metrics={},
    )
    rules = parse_codeowners("* @org/platform\nlibs/pay/ @org/team-payments\nlibs/shared/ @org/team-orders @org/team-payments\n", "CODEOWNERS")
    assert [s.name for s in services_for_owner_paths(rules, service_map, "libs/pay/x.py")] == ["payments", "refunds"]
    assert [s.name for s in services_for_owner_paths(rules, service_map, "libs/shared/x.py")] == ["payments", "refunds", "orders"]
    assert services_for_owner_paths(rules, service_map, "README.md") == ()  # @org/platform owns no service
    assert services_for_owner_paths((), service_map, "libs/pay/x.py") == ()
