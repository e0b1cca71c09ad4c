"""The fast check for plain pods (autoscaler/validate/fastpod.py) never calls a pod valid that
the full validation (autoscaler/validate/pods.py) would refuse, and calls the plain pods of
real manifests valid without loading pydantic."""

from __future__ import annotations

import copy
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.validate.fastpod import pod_certainly_valid
from autoscaler.validate.pods import pod_problems
from tests.fuzz.harness import WORKLOADS, mutated

PLAIN = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-7d9f-abcde", "namespace": "shop", "uid": "0b1c", "generateName": "web-7d9f-",
                 "labels": {"app": "web", "pod-template-hash": "7d9f"}, "annotations": {"kubernetes.io/psp": "x"},
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f", "uid": "9",
                                      "controller": True}]},
    "spec": {
        "containers": [{"name": "app", "image": "nginx:1.27", "command": ["nginx"],
                        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                        "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090, "hostPort": 9090}]}],
        "initContainers": [{"name": "init", "image": "busybox"}],
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
                        {"operator": "Exists", "tolerationSeconds": 300, "effect": "NoExecute"}],
        "priority": 1000, "priorityClassName": "high", "schedulerName": "default-scheduler", "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
    },
    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                   "message": "0/3 nodes are available"}]},
}


AFFINE = copy.deepcopy(PLAIN)
AFFINE["spec"]["affinity"] = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]},
                                  {"key": "example.com/rank", "operator": "Gt", "values": ["2"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "spot", "operator": "Exists"}]}}]},
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}},
             "matchLabelKeys": ["pod-template-hash"], "namespaces": ["shop"]}],
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {
                "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}}}]},
}
AFFINE["spec"]["topologySpreadConstraints"] = [
    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
     "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2, "nodeAffinityPolicy": "Honor",
     "nodeTaintsPolicy": "Ignore", "matchLabelKeys": ["pod-template-hash"]}]


def _plain_variants():
    """PLAIN with one field changed, to a valid or an invalid value."""
    paths = [("metadata", "name"), ("metadata", "namespace"), ("metadata", "labels"), ("spec", "priority"),
             ("spec", "tolerations"), ("spec", "containers"), ("status", "phase"), ("spec", "nodeSelector"),
             ("spec", "restartPolicy"), ("spec", "hostNetwork"), ("metadata", "ownerReferences"), ("status", "conditions")]
    values = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=True),
                       st.text(max_size=8), st.lists(st.text(max_size=3), max_size=2),
                       st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2))

    @st.composite
    def variant(draw):
        pod = copy.deepcopy(PLAIN)
        first, second = draw(st.sampled_from(paths))
        pod[first][second] = draw(values)
        return pod

    return variant()


@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.one_of(mutated(WORKLOADS), _plain_variants(), mutated(st.builds(lambda: copy.deepcopy(PLAIN))),
                 mutated(st.builds(lambda: copy.deepcopy(AFFINE)))))
def test_a_pod_the_fast_check_calls_valid_has_no_problems(obj):
    if isinstance(obj, dict) and obj.get("kind") not in (None, "Pod"):
        obj = {"metadata": obj.get("metadata"), "spec": (obj.get("spec") or {}).get("template", {}).get("spec")
               if isinstance(obj.get("spec"), dict) and isinstance(obj["spec"].get("template"), dict) else None}
    if pod_certainly_valid(obj):
        assert pod_problems(obj) == [], obj


def test_plain_pods_are_called_valid():
    assert pod_certainly_valid(PLAIN) and pod_problems(PLAIN) == []
    assert pod_certainly_valid(AFFINE) and pod_problems(AFFINE) == []
    bad_port = copy.deepcopy(PLAIN)
    bad_port["spec"]["containers"][0]["ports"][0]["containerPort"] = 0
    assert not pod_certainly_valid(bad_port) and pod_problems(bad_port)


def test_pods_in_doubt_are_left_to_the_full_validation():
    gated = copy.deepcopy(PLAIN)
    gated["spec"]["schedulingGates"] = [{"name": "example.com/wait"}]
    assert not pod_certainly_valid(gated)
    exists_with_values = copy.deepcopy(AFFINE)
    exists_with_values["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0][
        "preference"]["matchExpressions"][0]["values"] = ["x"]
    assert not pod_certainly_valid(exists_with_values) and pod_problems(exists_with_values)


def test_preview_of_plain_pods_does_not_load_pydantic(tmp_path):
    manifest = tmp_path / "pods.json"
    pod = copy.deepcopy(PLAIN)
    pod["metadata"]["labels"]["smart-autoscaler.io/managed"] = "true"
    import json

    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod]}))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "autoscaler", "preview", "-f", str(manifest),
                           "-o", "json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "autoscaler.planner" in imported and "pydantic" not in imported
