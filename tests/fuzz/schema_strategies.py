"""Hypothesis strategies from the JSON Schemas the validation models publish
(`Model.model_json_schema()`): the subset pydantic emits for our models ($ref/$defs, anyOf,
enum/const, object properties and required keys, arrays, strings with patterns, bounded
integers, booleans, null). Optional properties are included or left out at random, so the
generated objects are valid documents of every shape the schema allows."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_TEXT = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _strategy(schema, schema.get("$defs", {}), 0)


def _strategy(node: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: _strategy(defs[name], defs, depth + 1))
    if "anyOf" in node:
        return st.one_of([_strategy(option, defs, depth) for option in node["anyOf"]])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "const" in node:
        return st.just(node["const"])
    kind = node.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(node.get("minimum", -1000), node.get("maximum", 1000))
    if kind == "number":
        return st.floats(node.get("minimum", 0), node.get("maximum", 1000), allow_nan=False)
    if kind == "string":
        if "pattern" in node:
            return st.from_regex(node["pattern"], fullmatch=True)
        return _TEXT
    if kind == "array":
        items = _strategy(node.get("items", {}), defs, depth + 1)
        return st.lists(items, min_size=node.get("minItems", 0), max_size=3 if depth < 6 else 1)
    if kind == "object" or "properties" in node:
        return _object(node, defs, depth)
    return st.one_of(st.none(), st.booleans(), st.integers(0, 100), _TEXT)


def _object(node: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy[dict]:
    properties = node.get("properties", {})
    required = set(node.get("required", ()))
    extra = node.get("additionalProperties")
    fields = {name: _strategy(sub, defs, depth + 1) for name, sub in properties.items()}

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        out = {}
        for name, strategy in fields.items():
            if name in required or draw(st.booleans()):
                out[name] = draw(strategy)
        if isinstance(extra, dict) and not properties:
            values = _strategy(extra, defs, depth + 1)
            out.update(draw(st.dictionaries(_TEXT, values, max_size=3)))
        return out

    return build()
