"""The fast block-YAML reader gives exactly what PyYAML's safe loader gives, or nothing.

The property that keeps it safe: whenever it returns documents they equal PyYAML's (types
included: YAML 1.1's `yes`, `010`, dates), and whenever PyYAML refuses a text it returns None
(so PyYAML's error, with its line, reaches the user).
"""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.block_yaml import read_block_yaml
from autoscaler.manifest_yaml import ManifestLoader

ROOT = Path(__file__).resolve().parent.parent
# CI runs a fixed set of examples; BLOCK_YAML_EXAMPLES=N runs N new random ones per property.
_RUN = os.environ.get("BLOCK_YAML_EXAMPLES")
_SETTINGS = {"deadline": None, "derandomize": _RUN is None, "database": None,
             "suppress_health_check": [HealthCheck.too_slow]}


def pyyaml(text: str):
    return list(yaml.load_all(text, Loader=ManifestLoader))


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def agrees(text: str) -> bool:
    """True when the fast reader gives PyYAML's documents, or declines."""
    fast = read_block_yaml(text, 200)
    try:
        slow = pyyaml(text)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
        return fast is None
    return fast is None or same(fast, slow)


def test_a_pod_as_kubectl_writes_it_reads_as_pyyaml_reads_it():
    text = """\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    note: 'it''s: quoted'
  labels:
    app: web   # a comment after a value
  name: web-0
spec:
  containers:
  - image: nginx:1.25
    name: web
    ports:
    - containerPort: 80
      protocol: TCP
    resources: {}
  tolerations: []
"""
    [pod] = read_block_yaml(text, 200)
    assert pod == pyyaml(text)[0]
    assert pod["metadata"]["annotations"]["note"] == "it's: quoted"
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert pod["spec"]["containers"][0]["resources"] == {} and pod["spec"]["tolerations"] == []


@pytest.mark.parametrize(
    "scalar, value",
    [
        ("yes", True), ("Off", False), ("010", 8), ("0x10", 16), ("1_000", 1000), ("1:30", 90),
        ("1e3", "1e3"), ("1.5e3", "1.5e3"), ("1.0e+3", 1000.0), (".inf", math.inf), ("~", None), ("null", None),
        ("2024-01-02", datetime.date(2024, 1, 2)), ("'true'", "true"), ('"010"', "010"), ("100m", "100m"),
        ("-1", -1), ("a,b]c", "a,b]c"), ("it's", "it's"),
    ],
)
def test_scalars_resolve_as_yaml_1_1_does_in_pyyaml(scalar, value):
    [document] = read_block_yaml(f"key: {scalar}\n", 200)
    assert same(document["key"], value) and same(document, pyyaml(f"key: {scalar}\n")[0])


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "a: |\n  text\n",  # block scalars
        "a: {b: 1}\n",  # flow collections
        "a: b\n  c\n",  # a multi-line plain scalar
        "a:\tb\n",  # a tab
        "a: 1\r\nb: 2\r\n",  # CR line breaks
        "%YAML 1.1\n---\na: 1\n",  # a directive
        "<<: {a: 1}\n",  # a merge key
        "a: \"x\\ty\"\n",  # an escape
        "- - a\n",  # a nested compact sequence
        "a:\n    b: 1\n  c: 2\n",  # indentation that does not line up
        "a: 2024-13-01\n",  # a date PyYAML cannot build
        "key: value: more\n",  # mapping values inside a plain scalar
    ],
)
def test_texts_outside_the_block_subset_are_left_to_pyyaml(text):
    assert read_block_yaml(text, 200) is None
    assert agrees(text)


def test_documents_are_counted_as_pyyaml_counts_them():
    texts = ("", "# only a comment\n", "---\n", "a: 1\n---\n", "---\na: 1\n---\n---\nb: 2\n", "a: 1\n---\n- x\n-\n- y\n")
    for text in texts:
        assert same(read_block_yaml(text, 200), pyyaml(text)), text


def test_nesting_deeper_than_the_limit_is_left_to_pyyaml():
    deep = "".join(f"{'  ' * level}k{level}:\n" for level in range(10)) + "  " * 10 + "leaf: 1\n"
    assert read_block_yaml(deep, 11) == pyyaml(deep)
    assert read_block_yaml(deep, 10) is None


def test_every_yaml_file_in_the_repository_reads_as_pyyaml_reads_it():
    paths = [p for p in ROOT.rglob("*.y*ml") if ".git" not in p.parts and "node_modules" not in p.parts]
    read = 0
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert agrees(text), path
        read += read_block_yaml(text, 200) is not None
    assert len(paths) > 20 and read >= 5  # the rest use block scalars, flow lists or Helm templating


_TRICKY = st.sampled_from(
    ["yes", "no", "on", "010", "0o10", "1e3", "0x1F", "1:20", "2024-01-02", "2001-12-14t21:59:43.10-05:00", "~", "null",
     "", " ", "a: b", "a #b", "#", "'", '"', "''", " lead", "trail ", "-", "- a", "a:", ":", "?", "[x]", "{}", "[]",
     "&a", "*a", "!x", "|", ">", "%", "@", "`", "é", "x\ny", "<<", "=", ".inf", "-.5", "+1", "0b101", "true", "1_0"]
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TRICKY, st.text(max_size=8),
)
_KEYS = st.one_of(_TRICKY, st.text(min_size=1, max_size=6), st.integers(0, 20))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=int(_RUN or 400), **_SETTINGS)
@given(
    documents=st.lists(
        st.one_of(st.dictionaries(_KEYS, _VALUES, max_size=5), st.lists(_VALUES, max_size=4)), min_size=1, max_size=3
    ),
    indent=st.sampled_from([2, 4]),
    start=st.booleans(),
)
def test_documents_pyyaml_writes_in_block_style_read_the_same(documents, indent, start):
    text = yaml.safe_dump_all(
        documents, default_flow_style=False, indent=indent, explicit_start=start, allow_unicode=True
    )
    assert agrees(text)


_EDITS = st.sampled_from(
    [" ", ":", "-", "#", "'", '"', "\t", "{", "}", "[", "]", "|", ">", "&", "*", "!", "%", "?", "\n", "x", ": ", "- "]
)


@settings(max_examples=int(_RUN or 600), **_SETTINGS)
@given(data=st.data(), document=st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=5))
def test_a_broken_text_is_either_refused_by_both_or_read_the_same(data, document):
    text = yaml.safe_dump(document, default_flow_style=False, allow_unicode=True)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 2))
        text = text[:at] + data.draw(_EDITS) + text[at + cut:]
    assert agrees(text)
