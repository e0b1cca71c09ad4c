"""A fast reader for the plain block-style YAML that `kubectl get -o yaml`, `helm template`
and PyYAML's dumper write, giving exactly what PyYAML's safe loader gives, or nothing.

LibYAML through PyYAML builds a node object (with two position marks) for every key and value
before anything is constructed; for a file of 20,000 Pods that is most of `preview`'s time. Most
manifests use a small part of YAML: block mappings and sequences, plain or quoted one-line
scalars, comments. This reader takes those line by line and builds the values directly.

It gives up — returns None, and the caller reads the text with PyYAML, which then also names
any error with its line — on anything outside that part: tabs, CR or other line breaks YAML
counts (NEL, LS, PS), characters YAML refuses, directives, `...`, anchors, aliases, tags, flow
collections other than `{}` and `[]`, block scalars (`|`, `>`), multi-line scalars, escapes in
double quotes, `? ` keys, merge keys, null keys, nested compact sequences (`- - x`), indentation
that does not line up, or nesting deeper than `max_depth`. Comments (whole lines, or after a
value or a key) are read as YAML reads them.

Scalars resolve as YAML 1.1 does in PyYAML (its own implicit resolvers decide the type, its own
safe constructor builds ints, floats, booleans, nulls and timestamps): `yes` is True, `010` is 8,
`1e3` is a string, as with the loader it stands in for. tests/test_block_yaml.py checks the two
agree on generated documents and on every manifest in the repository.
"""

from __future__ import annotations

import re
from sys import intern
from typing import Any

# Characters PyYAML refuses or reads as line breaks or as a byte-order mark, and tabs (whose
# role in indentation the reader does not model).
_DECLINED_CHARACTERS = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\ufeff\u2028\u2029\ud800-\udfff\ufffe\uffff]"
)
# First characters a plain scalar cannot start with (YAML 1.1 c-indicator), or that the reader
# leaves to PyYAML: `-`, `?` and `:` are taken only when followed by something other than a space.
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")

_STR_TAG = "tag:yaml.org,2002:str"
_BUILT_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null", "timestamp")
)


class _Decline(Exception):
    """Outside the part of YAML this reader takes."""


class _Scalars:
    """Plain scalars resolved and built as PyYAML's safe loader does (the reader remembers the
    texts it has read, so each is resolved once)."""

    def __init__(self) -> None:
        import yaml

        # first character -> [(tag, regexp)]; None: the resolvers tried for every first character
        self._first = yaml.resolver.Resolver.yaml_implicit_resolvers
        self._tried: dict[str, tuple] = {}  # first character -> every resolver it is tried with
        self._constructor = yaml.constructor.SafeConstructor()
        self._node = yaml.nodes.ScalarNode

    def plain(self, text: str) -> Any:
        if text == "":
            return None
        first = text[0]
        if first in _INDICATORS and (first not in "-?:" or len(text) == 1 or text[1] == " "):
            raise _Decline
        if ": " in text or " #" in text or text[-1] == ":" or text[-1] == " ":
            raise _Decline
        tried = self._tried.get(first)
        if tried is None:
            tried = self._tried[first] = (*self._first.get(first, ()), *self._first.get(None, ()))
        tag = _STR_TAG
        for candidate, pattern in tried:
            if pattern.match(text):
                tag = candidate
                break
        if tag == _STR_TAG:
            return text
        if tag not in _BUILT_TAGS:
            raise _Decline  # `<<` (merge), `=` (value): PyYAML's constructor decides
        try:
            return self._constructor.construct_object(self._node(tag, text))
        except Exception:  # noqa: BLE001 - a value PyYAML cannot build: its loader names the error
            raise _Decline from None


def _quoted(text: str) -> str:
    """A single- or double-quoted scalar (without escapes) ending on this line, perhaps followed by
    a comment, else _Decline."""
    quote = text[0]
    if quote == "'":
        start = 1
        while True:
            end = text.find("'", start)
            if end < 0:
                raise _Decline  # continues on the next line
            if text[end + 1:end + 2] != "'":
                break
            start = end + 2
        value = text[1:end].replace("''", "'")
    else:
        end = text.find('"', 1)
        if end < 0:
            raise _Decline
        value = text[1:end]
        if "\\" in value:
            raise _Decline
    after = text[end + 1:]
    if after and not (after[0] == " " and after.lstrip(" ")[0] == "#"):
        raise _Decline
    return value


def read_block_yaml(text: str, max_depth: int) -> list[Any] | None:
    """The documents of `text` as PyYAML's load_all gives them, or None when the text is outside
    what this reader takes. Documents nest at most `max_depth` levels (a document = level 1)."""
    if _DECLINED_CHARACTERS.search(text) is not None:
        return None
    try:
        return _Reader(max_depth).read(text)
    except (_Decline, RecursionError):
        return None


# What a line is, read on its own (_Reader.decode): its kind, indent, whether it starts with
# `- `, and for entries the key, the value (or the type of an empty `{}`/`[]`) and the column
# where the entry's mapping is. Kinds: a blank or comment line, `---`, a mapping entry with its
# value, with its value below, with `{}`/`[]`; the same three as sequence items (`- value`, `-`,
# `- {}`); and `- key: ...`, an item that opens a mapping (its entry one of the first three).
SKIP, DOCUMENT, ENTRY, ENTRY_BELOW, ENTRY_EMPTY, ITEM, ITEM_BELOW, ITEM_EMPTY = range(8)
ITEM_MAPPING = 8  # + ENTRY, ENTRY_BELOW or ENTRY_EMPTY - ENTRY
_SKIP = (SKIP, 0, False, None, None, 0)


class _Reader:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.scalars = _Scalars()
        self.keys: dict[str, Any] = {}  # key text -> key
        self.values: dict[str, tuple[int, Any]] = {}  # text after `: ` -> (ENTRY or ENTRY_EMPTY, value)

    def value(self, text: str) -> tuple[int, Any]:
        """(ENTRY, scalar) or (ENTRY_EMPTY, dict or list)."""
        first = text[0]
        if first == "'" or first == '"':
            return ENTRY, _quoted(text)
        if first == "{" or first == "[":
            if text == "{}" or text.startswith("{} #"):
                return ENTRY_EMPTY, dict
            if text == "[]" or text.startswith("[] #"):
                return ENTRY_EMPTY, list
            raise _Decline
        comment = text.find(" #")
        if comment > 0:
            text = text[:comment].rstrip(" ")
        return ENTRY, self.scalars.plain(text)

    def key(self, text: str) -> Any:
        if not text or text[-1] == " ":
            raise _Decline
        if text[0] == "'" or text[0] == '"':
            return intern(_quoted(text))
        if text[0] in _INDICATORS:
            raise _Decline
        value = self.scalars.plain(text)
        if type(value) is str:
            return intern(value)
        if value is None or isinstance(value, (dict, list)):
            raise _Decline
        return value

    def entry(self, body: str) -> tuple[int, Any, Any]:
        """(ENTRY, key, value), (ENTRY_BELOW, key, None) or (ENTRY_EMPTY, key, type) of `key: ...`."""
        colon = body.find(": ")
        if colon < 0:
            if body[-1] != ":":
                raise _Decline  # a plain scalar where a key belongs
            colon = len(body) - 1
        text = body[:colon]
        key = self.keys.get(text)
        if key is None:
            key = self.keys[text] = self.key(text)
        written = body[colon + 2:]
        known = self.values.get(written)
        if known is not None:
            return known[0], key, known[1]
        rest = written.lstrip(" ")
        if not rest or rest[0] == "#":
            return ENTRY_BELOW, key, None
        kind, value = self.values[written] = self.value(rest)
        return kind, key, value

    def decode(self, line: str) -> tuple[int, int, bool, Any, Any, int]:
        """What `line` is on its own: (kind, indent, dash, key, value, column); see SKIP."""
        content = line.rstrip(" ")
        body = content.lstrip(" ")
        if not body or body[0] == "#":
            return _SKIP
        indent = len(content) - len(body)
        first = body[0]
        if indent == 0 and first in "-.%" and (first == "%" or body[:3] in ("---", "...")):
            if body != "---":
                raise _Decline  # a directive, a document end, or content after `---`
            return DOCUMENT, 0, False, None, None, 0
        if not (first == "-" and (len(body) == 1 or body[1] == " ")):
            kind, key, value = self.entry(body)
            return kind, indent, False, key, value, indent
        item = body[1:].lstrip(" ")
        if not item or item[0] == "#":
            return ITEM_BELOW, indent, True, None, None, indent
        first = item[0]
        if first == "-" and (len(item) == 1 or item[1] == " "):
            raise _Decline  # `- - x`
        if first in "'\"{[" or not (item[-1] == ":" or ": " in item):
            kind, value = self.value(item)
            return (ITEM if kind == ENTRY else ITEM_EMPTY), indent, True, None, value, indent
        kind, key, value = self.entry(item)
        return ITEM_MAPPING + kind - ENTRY, indent, True, key, value, indent + len(body) - len(item)

    def read(self, text: str) -> list[Any]:
        documents: list[Any] = []
        # One open document at a time. `root` holds its value once it has one; `stack` its open
        # collections as [indent, container, is a sequence], `frame` the innermost (no_frame when
        # none is open); `pending` a key, or a `-` (key None), whose value starts on a later line,
        # as (container, key, indent of the key).
        root: list[Any] = []
        started = False  # an explicit `---` opened the current document
        no_frame: list[Any] = [-1, None, False]
        stack: list[list[Any]] = []
        frame = no_frame
        pending: tuple[Any, Any, int] | None = None
        lines: dict[str, tuple] = {}  # line -> what it is: most lines of a big file repeat
        known = lines.get
        decode = self.decode
        max_depth = self.max_depth
        for line in text.split("\n"):
            op = known(line)
            if op is None:
                op = lines[line] = decode(line)
            kind = op[0]
            if kind == SKIP:
                continue
            indent = op[1]
            if pending is not None:
                container, key, at = pending
                pending = None
                child: Any = None
                if indent > at or (indent == at and op[2] and key is not None and not frame[2]):
                    child = [] if op[2] else {}
                    frame = [indent, child, op[2]]
                    stack.append(frame)
                if key is None:
                    container.append(child)
                else:
                    container[key] = child
            if indent == frame[0] and not frame[2]:  # the common lines: entries of the open mapping
                if kind == ENTRY:
                    frame[1][op[3]] = op[4]
                    continue
                if kind == ENTRY_BELOW:
                    if len(stack) >= max_depth:
                        raise _Decline
                    pending = (frame[1], op[3], indent)
                    continue
            if kind == DOCUMENT:
                if root or started:
                    documents.append(root[0] if root else None)
                root, stack, frame, started = [], [], no_frame, True
                continue
            dash = op[2]
            if not stack:
                if root:
                    raise _Decline  # a second top-level value in one document
                root.append([] if dash else {})
                frame = [indent, root[0], dash]
                stack.append(frame)
            while frame[0] > indent:
                stack.pop()
                if not stack:
                    raise _Decline  # less indented than the document's top level
                frame = stack[-1]
            if frame[2] and frame[0] == indent and not dash:
                stack.pop()  # a sequence written at its key's indent ends at the next key
                if not stack:
                    raise _Decline
                frame = stack[-1]
            if frame[0] != indent:
                raise _Decline  # deeper than the open collection: a multi-line scalar, or a bad indent
            container = frame[1]
            if frame[2] != dash:
                raise _Decline  # a `-` among a mapping's keys, or a key among a sequence's items
            if dash:
                if kind == ITEM:
                    container.append(op[4])
                    continue
                if len(stack) >= max_depth:
                    raise _Decline
                if kind == ITEM_EMPTY:
                    container.append(op[4]())
                    continue
                if kind == ITEM_BELOW:
                    pending = (container, None, indent)
                    continue
                mapping: dict = {}
                container.append(mapping)
                frame = [op[5], mapping, False]
                stack.append(frame)
                container = mapping
                kind -= ITEM_MAPPING - ENTRY
            if kind == ENTRY:
                container[op[3]] = op[4]
                continue
            if len(stack) >= max_depth:
                raise _Decline
            if kind == ENTRY_BELOW:
                pending = (container, op[3], frame[0])
            else:
                container[op[3]] = op[4]()
        if pending is not None:
            _set(pending[0], pending[1], None)
        if root or started:
            documents.append(root[0] if root else None)
        return documents


def _set(container: Any, key: Any, value: Any) -> None:
    if key is None:
        container.append(value)
    else:
        container[key] = value
