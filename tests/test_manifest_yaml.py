"""The fast manifest loader reads every YAML document exactly as PyYAML's SafeLoader reads it:
same values, same types, same shared (aliased) objects, same errors."""

from __future__ import annotations

import datetime
import json
import math
import sys
from pathlib import Path

import pytest
import yaml

from autoscaler.manifest_yaml import ManifestLoader
from autoscaler.manifests import ManifestError, load_manifest_text

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])


def shape(value: object, seen: dict[int, int] | None = None) -> object:
    """Value, type and aliasing of a loaded document: each list/dict gets a number when first
    met, and meeting it again gives ("alias", number), so shared objects must match too."""
    seen = {} if seen is None else seen
    if isinstance(value, (dict, list, set)):
        if id(value) in seen:
            return ("alias", seen[id(value)])
        seen[id(value)] = len(seen)
        if isinstance(value, dict):
            return ("dict", [(shape(k, seen), shape(v, seen)) for k, v in value.items()])
        if isinstance(value, set):
            return ("set", sorted(repr(item) for item in value))
        return ("list", [shape(item, seen) for item in value])
    if isinstance(value, tuple):  # !!omap / !!pairs entries
        return ("tuple", [shape(item, seen) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def outcome(text: str, loader: type) -> object:
    try:
        return ("ok", [shape(document) for document in yaml.load_all(text, Loader=loader)])
    except Exception as err:  # noqa: BLE001 - e.g. PyYAML's ValueError for `!!int x` must match too
        return ("error", type(err).__name__, str(err))


def assert_same_as_pyyaml(text: str) -> None:
    """Same outcome as LibYAML's CSafeLoader (what manifests were read with); same documents as
    the pure-Python SafeLoader (whose error messages are worded differently)."""
    fast = outcome(text, ManifestLoader)
    for reference in REFERENCE_LOADERS:
        expected = outcome(text, reference)
        if reference is yaml.SafeLoader and len(REFERENCE_LOADERS) > 1 and expected[0] == "error":
            assert fast[:2] == expected[:2], reference.__name__
        else:
            assert fast == expected, reference.__name__


def yaml_files() -> list[Path]:
    found = []
    for folder in ("examples", "tests", "helm"):  # helm templates: both fail the same way
        found += sorted((ROOT / folder).rglob("*.yaml")) + sorted((ROOT / folder).rglob("*.yml"))
    return found


@pytest.mark.parametrize("path", yaml_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_yaml_file_in_the_repository_reads_as_pyyaml_reads_it(path: Path):
    assert_same_as_pyyaml(path.read_text(encoding="utf-8"))


def test_yaml_11_scalars_resolve_as_pyyaml_resolves_them():
    text = """
booleans: [yes, no, on, off, Yes, NO, On, OFF, true, False, y, n]
quoted: ['yes', "on", '123', "1e3", '', "null"]
ints: [010, 0o17, 0x1F, 0b101, 1_000, "1:30", 1:30, 190:20:30, -7, +3]
floats: [1e3, 1.0e+3, 1.5e3, 6.8523015e+5, .inf, -.Inf, .NaN, 1_000.5, 190:20:30.15, 0.5]
quantities: [100m, 1Gi, 1e3, 2E6, 500M, "0.5", 1.5]
nulls: [~, null, Null, ]
empty:
timestamps: [2001-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10]
explicit: [!!str 123, !!int "12", !!float "1", !!bool "yes", !!null "", !!binary aGVsbG8=]
keys: {7: a, on: b, ~: c, 1.5: d, "2": e, 2001-12-14: f}
strings: [plain text, "double \\t escaped \\u00e9", 'single ''quoted''', -dash]
block: |
  line one
  line two
folded: >-
  folded
  text
"""
    assert_same_as_pyyaml(text)
    document = yaml.load(text, Loader=ManifestLoader)
    assert document["booleans"][:4] == [True, False, True, False]
    assert document["ints"][:2] == [8, "0o17"]  # YAML 1.1: leading 0 is octal, 0o is text
    assert document["floats"][0] == "1e3"  # PyYAML's YAML 1.1 float needs a dot
    assert document["keys"] == {7: "a", True: "b", None: "c", 1.5: "d", "2": "e", datetime.date(2001, 12, 14): "f"}


def test_anchors_aliases_and_merge_keys_give_pyyaml_objects_and_sharing():
    text = """
base: &base {cpu: 100m, memory: 1Gi}
extra: &extra {gpu: 1}
shared: [*base, *base]
merged:
  <<: *base
  memory: 2Gi
merged_list:
  <<: [*base, *extra]
nested_merge:
  inner:
    <<: {a: 1}
    b: 2
value_key: {=: x, y: 1}
seq_anchor: &items [1, 2]
seq_alias: *items
scalar_anchor: &s hello
scalar_alias: *s
"""
    assert_same_as_pyyaml(text)
    document = yaml.load(text, Loader=ManifestLoader)
    assert document["shared"][0] is document["base"] is document["shared"][1]
    assert document["merged"] == {"cpu": "100m", "memory": "2Gi"}
    assert document["merged_list"] == {"cpu": "100m", "memory": "1Gi", "gpu": 1}


def test_recursive_and_alias_bomb_documents_share_objects_instead_of_copying():
    recursive = "a: &a\n  self: *a\n  list: &l [*l, *a]\n"
    assert_same_as_pyyaml(recursive)
    for text in ["a: &a {<<: {x: 1}, self: *a}\n", "a: &a !!omap [x: 1, self: *a]\n",
                 "s: &s !!set {? *s }\n", "a: &a [{<<: {x: 1}, up: *a}]\n", "a: &a {*a : 1}\n"]:
        assert_same_as_pyyaml(text)
    document = yaml.load(recursive, Loader=ManifestLoader)
    assert document["a"]["self"] is document["a"]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    assert_same_as_pyyaml(bomb)
    document = yaml.load(bomb, Loader=ManifestLoader)
    assert document["i"][0] is document["h"]  # 10**9 leaves, but only 9 lists exist


def test_several_documents_empty_ones_and_other_collection_tags():
    text = "---\na: 1\n---\n---\n# only a comment\n---\n- x\n...\n--- !!set {a, b}\n--- !!omap [a: 1, b: 2]\n--- !!pairs [a: 1, a: 2]\n--- text\n"
    assert_same_as_pyyaml(text)
    assert len(list(yaml.load_all(text, Loader=ManifestLoader))) == 8


@pytest.mark.parametrize("text", [
    "a: !custom x\n",
    "!custom {a: 1}\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n: c\n",
    "a: &x [1]\nb: {*x : 1}\n",
    "a: *missing\n",
    "a: &x 1\nb: &x 2\nc: [\n",
    "a: b: c\n",
    "key: 'unterminated\n",
    "a:\n\t- tab\n",
    "<<: not-a-mapping\n",
    "a: {<<: [1, 2]}\n",
    "a: !!binary '!!!'\n",
    "a: [=]\n",
])
def test_bad_documents_fail_with_pyyaml_s_error(text):
    assert_same_as_pyyaml(text)


@pytest.mark.parametrize(("text", "problem"), [
    ("spec:\n  replicas: !!int abc\n", "line 4: YAML syntax error: cannot read tag:yaml.org,2002:int value 'abc'"),
    ("metadata:\n  labels:\n    day: 2024-13-01\n", "line 5: YAML syntax error: cannot read tag:yaml.org,2002:timestamp value '2024-13-01': month must be in 1..12"),
    ("data: !!float 1.5x\n", "line 3: YAML syntax error: cannot read tag:yaml.org,2002:float value '1.5x'"),
])
def test_values_pyyaml_cannot_convert_are_reported_with_their_line(text, problem):
    # PyYAML itself raises a bare ValueError here (a traceback for the user).
    with pytest.raises(ManifestError) as raised:
        load_manifest_text("kind: Pod\n---\n" + text, "bad.yaml")
    assert "bad.yaml" in str(raised.value) and "document 2" in str(raised.value)
    assert problem in str(raised.value)


def test_duplicate_keys_keep_the_last_value_in_first_position_as_pyyaml_does():
    assert_same_as_pyyaml("b: 1\na: 2\nb: 3\n")


def test_nesting_deeper_than_python_recursion_reads_as_pyyaml_does():
    depth = sys.getrecursionlimit() + 200
    text = "[" * depth + "x" + "]" * depth
    try:  # PyYAML 6.0.4 and later refuse nesting this deep in the scanner: then so must we
        yaml.load(text, Loader=REFERENCE_LOADERS[-1])
    except yaml.YAMLError as refused:
        with pytest.raises(type(refused)):
            yaml.load(text, Loader=ManifestLoader)
        return
    for loader in [ManifestLoader, *REFERENCE_LOADERS[1:]]:  # the pure-Python composer recurses too
        document = yaml.load(text, Loader=loader)
        for _ in range(depth):
            assert isinstance(document, list) and len(document) == 1
            document = document[0]
        assert document == "x", loader.__name__


def test_manifest_reading_uses_the_fast_loader_and_keeps_yaml_11_booleans_in_messages():
    loaded = load_manifest_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {managed: 'yes'}\n"
        "spec:\n  containers: [{name: app, image: app}]\n",
        "pod.yaml",
    )
    assert [pod.manifest["metadata"]["labels"] for pod in loaded.pods] == [{"managed": "yes"}]
    with pytest.raises(ManifestError) as raised:
        load_manifest_text("kind: Pod\n---\nkind: [\n", "bad.yaml")
    assert "bad.yaml" in str(raised.value) and "document 2" in str(raised.value)


@pytest.mark.parametrize("levels", [100, 150, 151, 200, 201, 400])
@pytest.mark.parametrize("form", ["json", "block yaml"])
def test_manifests_nested_more_than_200_levels_are_refused_whichever_reader_reads_them(levels, form):
    """Given a Pod whose annotations hide a value `levels` deep (the Pod itself = level 1), when
    it is read, then it is refused as nested too deep exactly when levels > 200 — whether JSON is
    read within the decoder's bound or walked, and whether YAML is read by the block reader or
    by PyYAML."""
    value: object = "x"
    for _ in range(levels - 2):  # the Pod, its metadata, then the annotations with the nesting
        value = {"k": value}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deep", "annotations": value}}
    if form == "json":
        text = json.dumps(pod)
    else:  # as PyYAML writes it (its dumper recurses too deep for 400 levels)
        text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: deep\n  annotations:\n"
        text += "".join(f"{'  ' * (level + 2)}k:\n" for level in range(levels - 3)) + "  " * (levels - 1) + "k: x\n"
    try:
        load_manifest_text(text, "deep." + form.split()[-1])
    except ManifestError as err:
        refused = "nested more than 200 levels deep" in str(err)
    else:
        refused = False
    assert refused == (levels > 200)


def test_json_read_while_other_threads_run_is_walked_not_read_under_a_lowered_recursion_limit():
    """The recursion limit is the interpreter's: lowering it while another thread runs could stop
    that thread. Then the depth is walked instead (same answers, as the test above checks)."""
    import threading

    from autoscaler.validate import yamlbounds
    from autoscaler.validate.yamlbounds import json_tree

    limits: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            limits.append(sys.getrecursionlimit())

    before = sys.getrecursionlimit()
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(200):
            assert json_tree('{"a": [1, {"b": 2}]}') == ({"a": [1, {"b": 2}]}, False)
    finally:
        stop.set()
        watcher.join()
    assert set(limits) == {before}
    # Alone again (unless earlier tests left threads running), it is read within the bound where
    # the interpreter's decoder honours it (CPython 3.11).
    document, shallow = json_tree('{"a": 1}')
    assert document == {"a": 1}
    assert shallow == (threading.active_count() == 1 and bool(yamlbounds._json_stops_deep))
