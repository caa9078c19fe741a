"""Safe YAML reading: text scalars, line numbers, and refusal of hostile input."""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_audit import yamlio
from coverage_audit.model import InputError


def load(text: str) -> object:
    return yamlio.load_documents(text, "t.yaml")[0].value


def test_scalars_stay_text_as_written() -> None:
    value = load("alert: on\nexpr: 1\nfor: 5m\nflag: yes\nempty:\ntilde: ~\nquoted: 'null'\n")
    assert value == {"alert": "on", "expr": "1", "for": "5m", "flag": "yes", "empty": None, "tilde": None, "quoted": "null"}


def test_lines_of_mappings_sequences_and_keys() -> None:
    value = load("a: 1\nlist:\n  - x: 1\n    y: 2\n  - z: 3\n")
    assert value.line == 1
    assert value.line_of("list") == 2
    assert value["list"].line_of(1) == 5
    assert value["list"][0].line_of("y") == 4


def test_duplicate_key_is_an_error_with_both_lines() -> None:
    with pytest.raises(InputError) as info:
        load("a: 1\nb: 2\na: 3\n")
    assert info.value.diagnostic.line == 3
    assert "duplicate key 'a' (first at line 1)" in info.value.diagnostic.message


def test_merge_keys_and_explicit_keys_win() -> None:
    value = load("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    assert value["m"] == {"x": "1", "y": "3"}


def test_several_documents_keep_their_start_lines() -> None:
    docs = yamlio.load_documents("a: 1\n---\nb: 2\n---\n", "t")
    assert [d.value for d in docs] == [{"a": "1"}, {"b": "2"}]
    assert [d.line for d in docs] == [1, 3]


def test_alias_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    with pytest.raises(InputError, match="alias bomb"):
        load("\n".join(lines))


def test_shared_aliases_below_the_limit_load() -> None:
    assert load("x: &x [1, 2]\ny: [*x, *x]\n")["y"] == [["1", "2"], ["1", "2"]]


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n"])
def test_recursive_alias_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="recursive"):
        load(text)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,  # libyaml's recursive composer segfaults on this without the guard
        "- " * 100_000 + "a",
        "{a: " * 5_000 + "1" + "}" * 5_000,
        "".join(" " * i + "a:\n" for i in range(400)),
    ],
)
def test_deep_nesting_is_refused_not_a_crash(text: str) -> None:
    # Our guard, or (PyYAML >= 6.0.3's libyaml) the parser's own depth limit: refused either way.
    with pytest.raises(InputError, match="nested deeper|nesting depth"):
        yamlio.load_documents(text, "deep.yaml")


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(InputError) as info:
        yamlio.decode(b"a: 1\nb: 2\nc: \xff\xfe\n", "bad.yaml")
    assert (info.value.diagnostic.file, info.value.diagnostic.line) == ("bad.yaml", 3)
    assert "UTF-8" in info.value.diagnostic.message


def test_bom_is_accepted() -> None:
    assert yamlio.decode("\ufeffa: 1\n".encode(), "x") == "a: 1\n"


def test_huge_file_is_refused(tmp_path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 5000 + "\n")
    with pytest.raises(InputError, match="larger than"):
        yamlio.read_text(path, max_bytes=4096)


def test_a_file_at_the_limit_is_read_whole_and_one_byte_more_is_refused(tmp_path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_bytes(b"x" * 4096)
    assert yamlio.read_bytes(path, max_bytes=4096) == b"x" * 4096
    path.write_bytes(b"x" * 4097)
    with pytest.raises(InputError, match="larger than"):
        yamlio.read_bytes(path, max_bytes=4096)


def test_a_small_file_is_read_without_allocating_the_limit(tmp_path) -> None:
    # Asking for the limit allocated it: 32 MiB mapped and unmapped for every rule file read.
    import tracemalloc

    path = tmp_path / "small.yaml"
    path.write_text("groups: []\n")
    tracemalloc.start()
    try:
        data = yamlio.read_bytes(path, max_bytes=32 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data == b"groups: []\n"
    assert peak < 1024 * 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_a_file_whose_size_says_empty_is_read_to_its_end() -> None:
    # /proc files are regular files of size 0 that hold text: the size is a hint, not a bound.
    data = yamlio.read_bytes("/proc/self/status")
    assert data.startswith(b"Name:") and data.endswith(b"\n") and len(data) > 100


def test_missing_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        yamlio.read_text(tmp_path / "nope.yaml")


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(InputError) as info:
        load("a: 1\nb: [1, 2\nc: 3\n")
    assert info.value.diagnostic.line in (3, 4)
    assert "invalid YAML" in info.value.diagnostic.message


def test_control_character_names_the_line() -> None:
    with pytest.raises(InputError) as info:
        load("a: 1\nb: \x01\n")
    assert info.value.diagnostic.line == 2


def test_non_scalar_key_is_refused() -> None:
    with pytest.raises(InputError, match="keys must be scalars"):
        load("? [a]\n: 1\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        yamlio.load_documents(text, "fuzz.yaml")
    except InputError as exc:
        assert exc.diagnostic.file == "fuzz.yaml"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        yamlio.load_documents(yamlio.decode(data, "fuzz.yaml"), "fuzz.yaml")
    except InputError as exc:
        assert exc.diagnostic.line >= 0


_yaml_tokens = st.sampled_from(["a", "b", ":", " ", "\n", "- ", "[", "]", "{", "}", ",", "&x ", "*x", "<<", "'", '"', "#", "|", ">", "---", "  "])


@settings(max_examples=400, deadline=None)
@given(st.lists(_yaml_tokens, max_size=60).map("".join))
def test_yaml_shaped_text_never_crashes(text: str) -> None:
    try:
        for document in yamlio.load_documents(text, "fuzz.yaml"):
            repr(document.value)
    except InputError:
        pass


def test_an_ampersand_inside_a_word_is_no_anchor() -> None:
    from coverage_audit.yamlio import may_hold_anchor

    assert not may_hold_anchor("runbook: https://grafana/d/x?a=1&b=2\nexpr: a and b\n")
    for text in ("a: &x 1\nb: *x\n", "&x [1]\n", "- &x 1\n- *x\n", "[&x 1, *x]\n", "{a: 1,&x b: 2}\n", '{"a":&x 1}\n', "a:\n\t&x 1\n"):
        assert may_hold_anchor(text), text


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="&*ax :-[]{},\n\t'\"?|>!", max_size=40))
def test_no_anchor_the_yaml_parser_sees_is_missed(text: str) -> None:
    """The cheap test may say "maybe" wrongly, never "none" wrongly: an anchor it misses would
    let an alias bomb through unmeasured."""
    from coverage_audit.yamlio import may_hold_anchor

    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
        list(yaml.compose_all(text, Loader=yaml.CSafeLoader))  # an alias to no anchor fails here
        anchored = any(event.anchor for event in events if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)))
    except yaml.YAMLError:
        return
    assert may_hold_anchor(text) or not anchored
