"""The change: path lists, real git ranges, and the index from changed paths to components."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_audit.analysis.paths import PathIndex, index_key
from coverage_audit.loaders.changes import git_changed_paths, normalise_path, read_changed_paths
from coverage_audit.loaders.codeowners import GlobError, gitignore_spec
from coverage_audit.model import Component, InputError, Service, ServiceMap

# --------------------------------------------------------------------------- path lists


@pytest.mark.parametrize(
    "text, path",
    [
        ("services/payments/api.py", "services/payments/api.py"),
        ("./services/payments/api.py", "services/payments/api.py"),
        ("services\\payments\\api.py", "services/payments/api.py"),
        ("services//payments///api.py", "services/payments/api.py"),
        ("services/./payments/../orders/x.py", "services/orders/x.py"),
        ("services/payments/", "services/payments/"),
        ("a b/ü.py", "a b/ü.py"),
    ],
)
def test_normalise_path(text: str, path: str) -> None:
    assert normalise_path(text) == path


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty path"),
        ("   ", "empty path"),
        ("../secrets", "leads outside the repository"),
        ("a/../../b", "leads outside the repository"),
        ("/etc/passwd", "is absolute"),
        ("C:\\repo\\x.py", "is absolute"),
        ("./.", "names the repository root"),
    ],
)
def test_normalise_path_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_path(text)


CHANGED = "# changed in this deploy\r\n./services/payments/api.py\r\n\r\n  libs/payclient/x.py  \r\nservices/payments/api.py\r\n  # indented comment\r\n"


def test_changed_from_file(tmp_path: Path) -> None:
    path = tmp_path / "changed.txt"
    path.write_bytes(CHANGED.encode())
    assert read_changed_paths(str(path), io.StringIO("ignored")) == ("services/payments/api.py", "libs/payclient/x.py")


def test_changed_from_stdin() -> None:
    assert read_changed_paths("-", io.StringIO(CHANGED)) == ("services/payments/api.py", "libs/payclient/x.py")
    assert read_changed_paths("-", io.StringIO("")) == ()


def test_changed_from_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_changed_paths("-", io.StringIO("a.py\n\n../b.py\n"))
    assert (caught.value.diagnostic.file, caught.value.diagnostic.line) == ("<stdin>", 3)
    with pytest.raises(InputError) as caught:
        read_changed_paths(str(tmp_path / "missing.txt"), io.StringIO())
    assert caught.value.diagnostic.line == 0 and "cannot read" in caught.value.diagnostic.message


# --------------------------------------------------------------------------- real git


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


def put(repo: Path, name: str, text: str) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


BODY = "".join(f"line {n} of a file long enough for rename detection\n" for n in range(40))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """main: base -> main-only change; feature (from base): add, modify, delete, rename, copy."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    put(root, "services/payments/api.py", BODY)
    put(root, "services/payments/old_name.py", BODY.replace("line", "row"))
    put(root, "services/orders/gone.py", "bye\n")
    put(root, "libs/payclient/client.py", BODY.replace("line", "entry"))
    put(root, "docs/guide.md", "guide\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "tag", "base")
    git(root, "checkout", "-q", "-b", "feature")
    put(root, "services/payments/api.py", BODY + "changed\n")
    put(root, "services/payments/new file ü.py", "new\n")
    (root / "services/orders/gone.py").unlink()
    git(root, "mv", "services/payments/old_name.py", "services/payments/new_name.py")
    put(root, "libs/payclient/client.py", BODY.replace("line", "entry") + "tweak\n")
    put(root, "libs/payclient/client_copy.py", BODY.replace("line", "entry"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "feature")
    git(root, "checkout", "-q", "main")
    put(root, "docs/guide.md", "guide, changed on main after the branch\n")
    git(root, "commit", "-q", "-am", "main moves on")
    return root


FEATURE_PATHS = {
    "services/payments/api.py",  # modified
    "services/payments/new file ü.py",  # added (space and non-ASCII survive -z)
    "services/orders/gone.py",  # deleted
    "services/payments/old_name.py",  # renamed: old path ...
    "services/payments/new_name.py",  # ... and new path
    "libs/payclient/client.py",  # modified, and the source of a copy
    "libs/payclient/client_copy.py",  # copied
}


def test_git_three_dots_is_since_the_merge_base(repo: Path) -> None:
    assert set(git_changed_paths(str(repo), "main...feature")) == FEATURE_PATHS


def test_git_two_dots_compares_the_two_trees(repo: Path) -> None:
    # main changed docs/guide.md after the branch point, so the trees differ there too.
    assert set(git_changed_paths(str(repo), "main..feature")) == FEATURE_PATHS | {"docs/guide.md"}
    assert set(git_changed_paths(str(repo), "base..feature")) == FEATURE_PATHS
    assert git_changed_paths(str(repo), "main..main") == ()


def test_git_rename_status_lists_old_then_new(repo: Path) -> None:
    paths = git_changed_paths(str(repo), "base..feature")
    assert paths.index("services/payments/old_name.py") + 1 == paths.index("services/payments/new_name.py")
    assert len(paths) == len(set(paths))


def test_git_paths_are_repo_relative_from_a_subfolder(repo: Path) -> None:
    assert set(git_changed_paths(str(repo / "services"), "main...feature")) == FEATURE_PATHS


@pytest.mark.parametrize("bad", ["nope..HEAD", "main...nope"])
def test_git_unknown_revision(repo: Path, bad: str) -> None:
    with pytest.raises(InputError) as caught:
        git_changed_paths(str(repo), bad)
    diagnostic = caught.value.diagnostic
    assert (diagnostic.file, diagnostic.line) == (str(repo), 0)
    assert diagnostic.message.startswith("git: ") and "nope" in diagnostic.message
    assert "\n" not in diagnostic.message


@pytest.mark.parametrize("bad", ["main", "main..", "..main", "a..b..c", "-x..main", "main..--output=x", ""])
def test_git_range_must_be_two_revisions(repo: Path, bad: str) -> None:
    with pytest.raises(InputError, match="must be BASE..HEAD or BASE...HEAD"):
        git_changed_paths(str(repo), bad)


def test_git_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        git_changed_paths(str(tmp_path), "main..HEAD")
    assert caught.value.diagnostic.message.startswith("git: not a git repository")
    with pytest.raises(InputError, match="cannot change to"):
        git_changed_paths(str(tmp_path / "missing"), "main..HEAD")


def test_git_missing(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no git on PATH: the real "not installed" path
    with pytest.raises(InputError, match="git is not installed"):
        git_changed_paths(str(repo), "main..feature")


# --------------------------------------------------------------------------- PathIndex


def component_map(globs_per_component: list[list[str]]) -> ServiceMap:
    components = tuple(
        Component("svc", f"c{number}", "http_api", tuple(globs)) for number, globs in enumerate(globs_per_component)
    )
    return ServiceMap(services={"svc": Service("svc", "team", components=components)}, business_metrics={})


def brute_force(service_map: ServiceMap, path: str) -> list[str]:
    return [
        component.name
        for service in service_map.services.values()
        for component in service.components
        if gitignore_spec(component.paths).match_file(path)
    ]


def test_components_for_examples() -> None:
    service_map = component_map(
        [
            ["services/payments/api/**", "libs/payclient/**"],
            ["services/payments/", "!services/payments/docs/**"],
            ["*.md"],
            ["**/proto/"],
            ["/Makefile"],
        ]
    )
    index = PathIndex(service_map)

    def names(path: str) -> list[str]:
        return [c.name for c in index.components_for(path)]

    assert names("services/payments/api/charge.py") == ["c0", "c1"]
    assert names("libs/payclient/x/y.py") == ["c0"]
    assert names("services/payments/docs/x.txt") == []  # the negation takes it back
    assert names("services/payments/docs/README.md") == ["c2"]
    assert names("a/b/proto/x.proto") == ["c3"]
    assert names("Makefile") == ["c4"] and names("sub/Makefile") == []
    assert names("services/orders/x.py") == []


@pytest.mark.parametrize(
    "glob, key",
    [
        ("services/payments/api/**", ("prefix", "services/payments/api")),
        ("/Makefile", ("prefix", "Makefile")),
        ("services/pay*/api", ("prefix", "services")),
        ("docs/", ("name", "docs")),
        ("README.md", ("name", "README.md")),
        ("**/proto/**", ("name", "proto")),
        ("/**/proto", ("name", "proto")),
        ("*.md", ("fallback", "")),
        ("**/*_test.go", ("fallback", "")),
        ("**", ("fallback", "")),
        ("!services/x/**", ("never", "")),
        ("my\\ docs/", ("fallback", "")),
    ],
)
def test_index_keys(glob: str, key: tuple[str, str]) -> None:
    assert index_key(glob) == key


_SEGMENTS = ["a", "b", "src", "x.py", "c.md", "a.b"]
_GLOB_SEGMENTS = _SEGMENTS + ["*", "**", "*.py", "a*", "?", "[ab]", "x.*", ""]
_globs = st.builds(
    lambda negate, lead, segments, trail: ("!" if negate else "") + ("/" if lead else "") + "/".join(segments) + ("/" if trail else ""),
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from(_GLOB_SEGMENTS), min_size=1, max_size=4),
    st.booleans(),
)
_paths = st.lists(st.sampled_from(_SEGMENTS + ["", "."]), min_size=1, max_size=5).map("/".join)  # "a//b", "./a" too


@settings(max_examples=400, deadline=None)
@given(globs=st.lists(st.lists(_globs, min_size=1, max_size=3), min_size=1, max_size=8), paths=st.lists(_paths, min_size=1, max_size=6))
def test_index_agrees_with_brute_force(globs: list[list[str]], paths: list[str]) -> None:
    service_map = component_map(globs)
    try:
        for component_globs in globs:
            gitignore_spec(component_globs)
    except GlobError:  # a glob pathspec itself refuses (the loader reports those)
        return
    index = PathIndex(service_map)
    for path in paths:
        assert [c.name for c in index.components_for(path)] == brute_force(service_map, path), (globs, path)


def scale_map(services: int = 1000, per_service: int = 10) -> ServiceMap:
    """10,000 components, ~2 globs each, shaped like a monorepo; 1 in 50 with a leading wildcard."""
    result = {}
    for s in range(services):
        components = []
        for c in range(per_service):
            n = s * per_service + c
            globs = [f"services/team{s % 40}/svc{s}/comp{c}/**", f"libs/lib{n}/"]
            if n % 50 == 0:
                globs.append(f"**/*_{n}.proto")
            components.append(Component(f"svc{s}", f"comp{c}", "http_api", tuple(globs)))
        result[f"svc{s}"] = Service(f"svc{s}", f"team{s % 40}", components=tuple(components))
    return ServiceMap(services=result, business_metrics={})


def test_index_scales_to_ten_thousand_components() -> None:
    service_map = scale_map()
    started = time.perf_counter()
    index = PathIndex(service_map)
    built = time.perf_counter() - started
    paths = [f"services/team{n * 37 % 40}/svc{n * 37}/comp{n % 10}/src/file{n}.py" for n in range(10)]
    paths += [f"libs/lib{n * 499}/x.go" for n in range(5)]
    paths += ["README.md", "api/a_100.proto", "services/team1/svc999/other.py", "docs/x/y/z.md", "libs/nothing/x"]
    started = time.perf_counter()
    found = [index.components_for(path) for path in paths]
    looked_up = time.perf_counter() - started
    print(f"\nPathIndex: 10,000 components built in {built * 1000:.0f} ms; 20 lookups in {looked_up * 1000:.2f} ms")
    assert [len(f) for f in found] == [1] * 15 + [0, 1, 0, 0, 0]
    assert found[0][0].subject == "svc0/comp0" and found[16][0].subject == "svc10/comp0"
    assert looked_up < 0.5  # a sanity bound; the benchmark lives elsewhere
