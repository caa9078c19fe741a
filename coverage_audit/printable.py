"""Text from inputs, made safe to show: no control or escape sequence reaches a terminal.

File names, service names and rule names come from other people's files; a pull request can
name a file ``\\x1b]0;...`` or ``\\x1b[2J`` and rewrite a CI log, or hide text behind a bidi
override. Everything a reporter or a message shows goes through :func:`printable` (human
formats) or :func:`json_text` (JSON); the bytes written never hold such a sequence raw.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline (which ``keep_lines`` keeps), DEL and C1; the format
# characters that reorder or hide text (soft hyphen, Arabic letter mark, zero-width ones, bidi
# embeddings, overrides and isolates, the BOM, interlinear annotation); line and paragraph
# separators; lone surrogates (bytes that were not UTF-8); and the noncharacters U+FFFE and
# U+FFFF (XML refuses them).
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff"
_UNSAFE_IN_LINES = re.compile(f"[{_UNSAFE}]")
_UNSAFE_IN_A_LINE = re.compile(f"[\t\n{_UNSAFE}]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as Python's file-system decoding keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, keep_lines: bool = True) -> str:
    """``text`` with every unsafe character as a visible escape (``\\x1b``, ``\\u202e``, ``\\xe9``
    for an undecodable byte). ``keep_lines=False`` escapes tabs and newlines too, for text that
    must stay on one line (a message, a table cell)."""
    if text.isascii() and text.isprintable():
        return text
    return (_UNSAFE_IN_LINES if keep_lines else _UNSAFE_IN_A_LINE).sub(_escape, text)


def json_text(document: str) -> str:
    """Serialised JSON with the characters ``json.dumps(ensure_ascii=False)`` leaves raw (C1,
    bidi, separators, lone surrogates) as ``\\uXXXX`` escapes: the same document, decoded, and
    nothing a terminal acts on in its bytes. Outside strings JSON holds none of them."""
    if document.isascii() and "\x7f" not in document:  # two C scans; the regex took 0.3 s on the corpus
        return document
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", document)
