"""A faster PyYAML safe loader for big manifest files, with exactly PyYAML's results.

PyYAML's LibYAML loader (CSafeLoader) parses and composes nodes in C but resolves every plain
scalar through a list of regular expressions and builds every object through a generic,
generator-based constructor in Python. For Kubernetes manifests almost every node is a plain
string, a mapping or a sequence, so this loader:

- remembers the tag each distinct plain scalar resolved to (the SafeLoader's implicit resolvers
  depend on the text alone, so the answer is the same every time);
- builds `str` scalars, plain mappings and sequences directly from the node tree, registering
  each container as PyYAML does, so that aliases give the same (shared) object and recursive
  documents come out as PyYAML builds them;
- hands every other node to PyYAML's own SafeConstructor: mappings with merge (`<<`) or value
  (`=`) keys or non-scalar keys, ints, floats, booleans (`yes`/`no`/`on`/`off`), nulls,
  timestamps, `!!binary`, `!!set`, `!!omap`, and unknown tags (which raise PyYAML's error).

One deliberate difference: a value PyYAML cannot convert (`!!int abc`, a plain `2024-13-01`)
raises a YAML ConstructorError with its line instead of PyYAML's bare ValueError.

YAML 1.1 semantics therefore stay PyYAML's (as kubectl-era tooling reads them); native YAML 1.2
libraries were not used because they read `yes`, `on`, `010` and `1e3` differently.
"""

from __future__ import annotations

from collections.abc import Callable
from sys import intern as _intern

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class ManifestLoader(_BASE):  # type: ignore[misc, valid-type]
    """CSafeLoader (SafeLoader without LibYAML) that returns the same Python objects faster."""

    def __init__(self, stream: object) -> None:
        super().__init__(stream)
        if not self.yaml_path_resolvers:
            # LibYAML's composer calls these three for every node. Without path resolvers (the
            # SafeLoader has none) descending and ascending do nothing, and a scalar's tag
            # depends only on its text and whether it was plain, so C-level callables and a
            # per-stream cache of resolved plain scalars stand in for the Python methods.
            self.descend_resolver = {}.get  # (parent, index) -> ignored
            self.ascend_resolver = tuple  # () -> ignored
            self.resolve = _cached_resolver(super().resolve)

    def construct_document(self, node: yaml.Node) -> object:
        try:
            data = self._build(node)
        except RecursionError:
            # Nesting deeper than Python's recursion limit: PyYAML's generator-based constructor
            # has no such limit, so let it build the whole document.
            self.constructed_objects = {}
            self.recursive_objects = {}
            self.state_generators = []
            self.deep_construct = False
            return super().construct_document(node)
        return _finish(self, data)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        # PyYAML lets int()/float()/date()/base64 errors escape as plain ValueErrors (`!!int abc`,
        # a plain `2024-13-01` that looks like a timestamp): make them YAML errors with a place.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as err:
            problem = f"cannot read {node.tag} value {_show(node)}: {err}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None

    def _build(self, node: yaml.Node) -> object:
        # Other nodes go to PyYAML as its construct_document would take them (not deep): a
        # collection it builds is registered at once and filled by generators run in _finish,
        # which is what lets a merged or !!omap mapping refer to itself.
        cls = node.__class__
        tag = node.tag
        if cls is ScalarNode:
            if tag == _STR:
                return node.value
            return self.construct_object(node)
        memo = self.constructed_objects
        if node in memo:
            return memo[node]
        build = self._build
        if cls is MappingNode and tag == _MAP:
            pairs = node.value
            for key_node, _ in pairs:
                if key_node.__class__ is not ScalarNode or key_node.tag in _DELEGATED_KEY_TAGS:
                    return self.construct_object(node)
            mapping: dict = {}
            memo[node] = mapping
            for key_node, value_node in pairs:
                # Interned like the keys json.loads and source code use: later lookups of
                # "spec", "containers"... then match by identity, not by comparing text.
                key = _intern(key_node.value) if key_node.tag == _STR else self.construct_object(key_node)
                mapping[key] = build(value_node)
            return mapping
        if cls is SequenceNode and tag == _SEQ:
            sequence: list = []
            memo[node] = sequence
            sequence.extend([build(child) for child in node.value])
            return sequence
        return self.construct_object(node)


def _cached_resolver(resolve: Callable[[type, object, tuple[bool, bool]], str]) -> Callable[..., str]:
    plain_tags: dict[str, str] = {}
    get = plain_tags.get

    def cached(kind: type, value: object, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0]:
                return _STR
            tag = get(value)  # type: ignore[arg-type]
            if tag is None:
                tag = plain_tags[value] = resolve(kind, value, implicit)  # type: ignore[index]
            return tag
        return _MAP if kind is MappingNode else _SEQ

    return cached


def _show(node: yaml.Node) -> str:
    value = node.value if isinstance(node, ScalarNode) else node.id
    return repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."


# Keys that make SafeConstructor rewrite a mapping (flatten_mapping) before building it.
_DELEGATED_KEY_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def _finish(loader: ManifestLoader, data: object) -> object:
    """What BaseConstructor.construct_document does after building: finish any deferred
    generators and forget this document's objects (anchors do not cross documents)."""
    while loader.state_generators:
        generators = loader.state_generators
        loader.state_generators = []
        for generator in generators:
            for _ in generator:
                pass
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.deep_construct = False
    return data
