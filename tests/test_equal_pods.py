"""Pods listed one by one with equal specs (a `kubectl get pods -o json` dump) are checked and
parsed once per distinct spec (autoscaler/content.py), and nothing about any single pod is lost."""

from __future__ import annotations

import copy
import json

import pytest

from autoscaler.config import Config
from autoscaler.content import EqualValues, content_key
from autoscaler.validate import pods as pod_validation
from autoscaler.manifests import ManifestError, load_manifest_text
from autoscaler.preview import pods_of

ZONE = "topology.kubernetes.io/zone"
SPEC = {"containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}
# Plain specs are told valid without the full validation (autoscaler/validate/fastpod.py); one
# with pod-level resources goes through it, where equal specs are remembered.
IN_DOUBT = {**SPEC, "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}


@pytest.fixture(autouse=True)
def looking_for_equal_specs(monkeypatch):
    """Earlier tests in this process may have found too few equal specs to keep looking."""
    monkeypatch.setattr(pod_validation, "_EQUAL_SPECS", EqualValues())


def pod(name: str, labels: dict, spec: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "web", "labels": labels},
            "spec": copy.deepcopy(spec or SPEC)}


def read(*pods: dict):
    loaded = load_manifest_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(pods)}), "dump.json")
    planner_pods, broken = pods_of(loaded, Config())
    assert not broken
    return {p.name: p for p in planner_pods}


def test_a_pod_whose_spec_equals_a_valid_one_still_has_its_own_metadata_checked():
    # Given two pods with equal specs, the second with a label value Kubernetes refuses
    with pytest.raises(ManifestError) as refused:
        read(pod("a", {"app": "web"}, IN_DOUBT), pod("b", {"app": "-web-"}, IN_DOUBT))
    # Then the file is refused naming the second pod's label (its spec was not checked twice)
    assert "Pod b" in str(refused.value) and "metadata.labels" in str(refused.value)
    assert pod_validation._EQUAL_SPECS.found == 1


def test_a_pod_whose_spec_equals_a_valid_ones_except_a_bad_quantity_is_refused():
    bad = copy.deepcopy(IN_DOUBT)
    bad["containers"][0]["resources"]["requests"]["cpu"] = "half"
    with pytest.raises(ManifestError) as refused:
        read(pod("a", {"app": "web"}, IN_DOUBT), pod("b", {"app": "web"}, bad))
    assert "Pod b" in str(refused.value) and "cpu" in str(refused.value)


def test_equal_specs_keep_each_pods_own_name_and_labels():
    pods = read(pod("a", {"app": "web", "track": "stable"}), pod("b", {"app": "web", "track": "canary"}))
    assert pods["a"].labels["track"] == "stable" and pods["b"].labels["track"] == "canary"
    assert pods["a"].shape is pods["b"].shape  # one parsed shape: the labels do not shape it


def test_match_label_keys_make_equal_specs_with_different_labels_different_shapes():
    # Given a zone spread with matchLabelKeys [version] on two pods of versions v1 and v2
    spec = copy.deepcopy(SPEC)
    spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                                          "labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["version"]}]
    pods = read(pod("a", {"app": "web", "version": "v1"}, spec), pod("b", {"app": "web", "version": "v2"}, spec))
    (first,), (second,) = pods["a"].constraints.spread, pods["b"].constraints.spread
    # Then each counts only its own version's pods
    assert first.pods.matches("web", {"app": "web", "version": "v1"})
    assert not first.pods.matches("web", {"app": "web", "version": "v2"})
    assert second.pods.matches("web", {"app": "web", "version": "v2"})


def test_content_keys_tell_types_apart_and_skip_what_marshal_cannot_write():
    assert content_key({"a": 1}) == content_key({"a": 1})
    assert len({content_key(v) for v in ({"a": 1}, {"a": 1.0}, {"a": True}, {"a": "1"})}) == 4
    import datetime

    assert content_key({"at": datetime.date(2026, 1, 1)}) is None


def test_looking_for_equal_values_rests_when_it_does_not_pay():
    # Given 1,024 lookups of which 51 (under 5 %) found an equal value
    equal = EqualValues(trial=1024, min_share=0.05, rest=100)
    for index in range(1024):
        equal.record(index < 51)
    # Then no key is made for the next 100 values, and a new trial starts after them
    assert [equal.looking() for _ in range(100)] == [False] * 100
    assert equal.looking() and equal.looked == 0
    # while 52 keep it going
    going = EqualValues(trial=1024, min_share=0.05)
    for index in range(1024):
        going.record(index < 52)
    assert going.active
