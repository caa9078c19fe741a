"""Safe, fast YAML reading that keeps line numbers.

libyaml (PyYAML's C loader) composes each document into nodes; we turn nodes into plain Python
values ourselves because that lets us

* keep every scalar as the text the author wrote (``alert: on`` stays ``"on"``, ``expr: 1`` stays
  ``"1"``) and coerce per field, as the Go loaders of Prometheus and Alertmanager do;
* remember the line of every mapping, sequence and key, for messages that point at the input;
* refuse what would crash or hang the process: duplicate keys, alias bombs, nesting so deep that
  libyaml's recursive composer overflows the C stack, huge files, invalid UTF-8.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Container, Iterator

import yaml
import yaml._yaml
import yaml.cyaml

from .model import InputError

# What parses YAML here, for cache keys: PyYAML's version and libyaml's.
YAML_VERSION = f"PyYAML {yaml.__version__}, libyaml {yaml._yaml.get_version_string()}"
MAX_FILE_BYTES = 32 * 1024 * 1024  # the largest real rule file we know is ~1.2 MB
MAX_NESTING = 256  # deeper YAML is refused; real files stay under 20 levels
MAX_EXPANDED_NODES = 2_000_000  # nodes after alias expansion; a "billion laughs" file is 10^9

_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


class _Composer(yaml.cyaml.CParser):  # type: ignore[misc]
    """libyaml's parser and composer (CSafeLoader's C half) with tag resolution cut down.

    Scalars stay text, so the only implicit tags we need are null and the merge key; PyYAML's
    regex-driven resolver was half of the load time.
    """

    def descend_resolver(self, parent: object, index: object) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type, value: str | None, implicit: object) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:  # type: ignore[index]  # (plain, quoted): only plain scalars resolve
                if value in _NULLS:
                    return _NULL_TAG
                if value == "<<":
                    return _MERGE_TAG
            return _STR_TAG
        return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG

COMPOSE_SAFE_DEPTH = 5000  # libyaml's composer recurses per level; it segfaulted past 20,000


class YMap(dict):  # type: ignore[type-arg]
    """A YAML mapping: a dict that can tell where it and each of its keys were written."""

    __slots__ = ("line", "_node", "_lines")

    def __init__(self, node: yaml.MappingNode) -> None:
        super().__init__()
        self.line = node.start_mark.line + 1
        self._node = node  # kept to look key lines up lazily: only error messages need them
        self._lines: dict[str, int] | None = None

    def line_of(self, key: str) -> int:
        # Indexed on first use: a scan per call made 60,000 unknown keys quadratic.
        if self._lines is None:
            lines: dict[str, int] = {}
            for key_node, _ in self._node.value:
                if isinstance(key_node.value, str):
                    lines.setdefault(key_node.value, key_node.start_mark.line + 1)
            self._lines = lines
        return self._lines.get(key, self.line)


class YSeq(list):  # type: ignore[type-arg]
    """A YAML sequence that can tell the line it starts on and each item's line."""

    __slots__ = ("line", "_node")

    def __init__(self, node: yaml.SequenceNode | None = None, line: int = 0) -> None:
        super().__init__()
        self.line = node.start_mark.line + 1 if node is not None else line
        self._node = node  # None: an empty sequence that stands for a missing key

    def line_of(self, index: int) -> int:
        items = self._node.value if self._node is not None else ()
        return items[index].start_mark.line + 1 if index < len(items) else self.line


@dataclass(frozen=True, slots=True)
class Document:
    value: object  # YMap | YSeq | str | None
    line: int  # where the document starts


def line_of(value: object, default: int = 1) -> int:
    return getattr(value, "line", default)


def read_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a regular file as UTF-8, refusing huge files and naming the line of a bad byte."""
    return decode(read_bytes(path, max_bytes), str(path))


def read_bytes(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes (at most ``max_bytes``; read once: callers may hash what they
    parse). Anything else is refused before a read: a FIFO blocks until someone writes, a
    device never ends. Opened non-blocking so that even the open of a FIFO returns at once."""
    name = str(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(name, 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        status = os.fstat(descriptor)
        kind = _kind(status.st_mode)
        if kind != "file":
            raise InputError(name, 0, f"not a regular file ({kind}); refused")
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            # A read of n bytes first allocates n: ask for the size the file has (asking for
            # the limit mapped and unmapped 32 MiB per file), and for the rest if it grew since.
            size = min(status.st_size, max_bytes) + 1
            data = handle.read(size)
            if len(data) == size:
                data += handle.read(max_bytes + 1 - size)
    except OSError as exc:
        raise InputError(name, 0, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise InputError(name, 0, f"file is larger than {max_bytes // (1024 * 1024)} MiB; refused")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(name, line, f"invalid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def load_documents(text: str, name: str) -> list[Document]:
    """Every document of a YAML stream as plain values; InputError on the first problem."""
    _refuse_deep_nesting(text, name)
    try:
        nodes = list(yaml.compose_all(text, Loader=_Composer))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(name, line, f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character or similar
        line = text.count("\n", 0, exc.position) + 1
        raise InputError(name, line, f"invalid YAML: character {exc.character!r} is not allowed") from None
    except yaml.YAMLError as exc:
        raise InputError(name, 0, f"invalid YAML: {exc}") from None
    has_anchors = may_hold_anchor(text)  # without an anchor there can be no alias to share or expand
    documents = []
    for node in nodes:
        if node is None or node.tag == _NULL_TAG:  # an empty document holds nothing
            continue
        if has_anchors:
            _refuse_alias_bomb(node, name)
        documents.append(Document(_Builder(name, has_anchors).build(node), node.start_mark.line + 1))
    return documents


def may_hold_anchor(text: str) -> bool:
    """False only when the text holds no YAML anchor. A node's anchor starts the node, so its
    ``&`` follows white space, ``[``, ``{``, ``,``, ``:`` or the start of the text; an ``&``
    inside a word (``?a=1&b=2`` in a runbook URL: 201 of GitLab's 896 files) starts none.
    (``str.find``, not a regex: a pattern that may match anywhere is tried at every position.)"""
    at = text.find("&")
    while at != -1:
        if at == 0 or text[at - 1].isspace() or text[at - 1] in "[{,:":
            return True
        at = text.find("&", at + 1)
    return False


def load_file(path: str | Path) -> list[Document]:
    return load_documents(read_text(path), str(path))


# --------------------------------------------------------------------------- guards


def _refuse_deep_nesting(text: str, name: str) -> None:
    """Refuse YAML that would crash libyaml's recursive composer, before composing it.

    A block collection one level deeper starts at least one column further right, and a flow
    collection needs its own bracket, so the depth is at most the longest line plus the number
    of brackets. When that cheap bound is small the text is safe; otherwise the iterative event
    parser measures the real depth (the builder below enforces MAX_NESTING on what remains).
    """
    bound = text.count("[") + text.count("{")
    if bound + len(text) < COMPOSE_SAFE_DEPTH:
        return
    if bound + max(map(len, text.split("\n"))) < COMPOSE_SAFE_DEPTH:
        return
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Composer):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    line = event.start_mark.line + 1
                    raise InputError(name, line, f"YAML nested deeper than {MAX_NESTING} levels; refused")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError:
        return  # compose reports the syntax error with its line


def _refuse_alias_bomb(root: yaml.Node, name: str) -> None:
    """Count nodes as if aliases were expanded (memoised, so linear in the distinct nodes).

    Also refuses a recursive alias (a collection that contains itself), which no rule file or
    Alertmanager config needs and which would make every later walk endless.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        children = (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        )
        line = node.start_mark.line + 1
        if children_done:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > MAX_EXPANDED_NODES:
                raise InputError(name, line, "YAML aliases expand to too many nodes (an alias bomb?); refused")
            sizes[key] = total
            continue
        if key in open_nodes:
            raise InputError(name, line, "recursive YAML alias (a collection containing itself); refused")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


# --------------------------------------------------------------------------- node -> value


class _Builder:
    """Turns composed nodes into YMap / YSeq / str / None, sharing aliased nodes."""

    __slots__ = ("name", "built", "share")

    def __init__(self, name: str, share: bool) -> None:
        self.name = name
        self.share = share
        self.built: dict[int, object] = {}

    def build(self, node: yaml.Node, depth: int = 0) -> object:
        if self.share and id(node) in self.built:
            return self.built[id(node)]
        if isinstance(node, yaml.ScalarNode):
            return None if node.tag == _NULL_TAG else node.value
        if depth >= MAX_NESTING:
            line = node.start_mark.line + 1
            raise InputError(self.name, line, f"YAML nested deeper than {MAX_NESTING} levels; refused")
        depth += 1
        if isinstance(node, yaml.SequenceNode):
            seq = YSeq(node)
            if self.share:
                self.built[id(node)] = seq
            seq.extend([self.build(item, depth) for item in node.value])
            return seq
        mapping = YMap(node)
        if self.share:
            self.built[id(node)] = mapping
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError(self.name, key_node.start_mark.line + 1, "mapping keys must be scalars")
            key = key_node.value
            if key in mapping:
                raise InputError(
                    self.name,
                    key_node.start_mark.line + 1,
                    f"duplicate key {key!r} (first at line {mapping.line_of(key)})",
                )
            mapping[key] = self.build(value_node, depth)
        for value_node in merges:
            self._merge(mapping, value_node)
        return mapping

    def _merge(self, mapping: YMap, value_node: yaml.Node) -> None:
        """YAML merge keys (``<<: *defaults``): explicit keys win, earlier merges win."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            merged = self.build(source)
            if not isinstance(merged, YMap):
                raise InputError(self.name, source.start_mark.line + 1, "merge key '<<' needs a mapping")
            for key, value in merged.items():
                mapping.setdefault(key, value)


MAX_UNKNOWN_KEYS = 5  # named one by one; more are counted in one message


def unknown_keys(mapping: YMap, known: Container[str]) -> tuple[list[str], int]:
    """The first MAX_UNKNOWN_KEYS keys of ``mapping`` not in ``known``, and how many more."""
    unknown = [key for key in mapping if key not in known]
    return unknown[:MAX_UNKNOWN_KEYS], max(0, len(unknown) - MAX_UNKNOWN_KEYS)


def iter_mappings(value: object) -> Iterator[YMap]:
    """The mappings of a sequence, skipping anything else."""
    if isinstance(value, YSeq):
        for item in value:
            if isinstance(item, YMap):
                yield item


# --------------------------------------------------------------------------- writing


class _Dumper(yaml.CSafeDumper):  # type: ignore[misc]
    """libyaml's safe emitter; multi-line strings (PromQL expressions) as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    literal = "\n" in value and value == value.strip("\n ") + ("\n" if value.endswith("\n") else "") and "\t" not in value
    return dumper.represent_scalar(_STR_TAG, value, style="|" if literal else None)


_Dumper.add_representer(str, _text)


def dump(data: object) -> str:
    """Plain data (dicts, lists, strings, numbers) as YAML that Prometheus tools read back."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16, default_flow_style=False)
    return text
