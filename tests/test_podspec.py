"""Reading core/v1 Pods (autoscaler.podspec): requests, constraints, annotations, identity."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.model import AMD_GPU, NVIDIA_GPU, Requirement, Toleration, tolerates_all
from autoscaler.podspec import (
    PodSpecError,
    node_affinity,
    pod_from_manifest,
    pod_requests,
    read_annotations,
)
from autoscaler.resources import Resources
from pricing.types import Taint

GI, MI = 2**30, 2**20
SA = "smart-autoscaler.io/"
LUNA = "node.elotl.co/"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
ARCH = "kubernetes.io/arch"
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
AKS_SPOT_TAINT = Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")


def ctr(name: str = "main", requests: dict | None = None, limits: dict | None = None, **extra: Any) -> dict:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": name, "image": "busybox", "resources": resources, **extra}


def manifest(
    name: str = "web-abc-1",
    *,
    containers: list | None = None,
    annotations: dict | None = None,
    labels: dict | None = None,
    spec: dict | None = None,
    metadata: dict | None = None,
    status: dict | None = None,
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": labels or {"app": "web"},
            "annotations": annotations or {},
            **(metadata or {}),
        },
        "spec": {"containers": containers or [ctr(requests={"cpu": "500m", "memory": "512Mi"})], **(spec or {})},
        "status": status or {"phase": "Pending"},
    }


def requests_of(spec: dict) -> Resources:
    return pod_requests(spec)[0]


# ---- requests


def test_requests_are_the_sum_of_containers():
    spec = {"containers": [ctr("a", {"cpu": "1", "memory": "1Gi"}), ctr("b", {"cpu": "500m", "memory": "512Mi"})]}
    assert requests_of(spec) == Resources(cpu=1500, memory=GI + 512 * MI, pods=1)


def test_init_containers_count_at_their_peak_not_their_sum():
    spec = {
        "containers": [ctr("a", {"cpu": "1", "memory": "1Gi"})],
        "initContainers": [ctr("i1", {"cpu": "2", "memory": "256Mi"}), ctr("i2", {"cpu": "500m", "memory": "3Gi"})],
    }
    assert requests_of(spec) == Resources(cpu=2000, memory=3 * GI, pods=1)


def test_small_init_containers_do_not_raise_requests():
    spec = {"containers": [ctr("a", {"cpu": "1", "memory": "1Gi"})], "initContainers": [ctr("i", {"cpu": "100m"})]}
    assert requests_of(spec) == Resources(cpu=1000, memory=GI, pods=1)


def test_sidecar_init_containers_add_to_the_app_containers():
    spec = {
        "containers": [ctr("a", {"cpu": "1", "memory": "1Gi"})],
        "initContainers": [ctr("proxy", {"cpu": "500m", "memory": "128Mi"}, restartPolicy="Always")],
    }
    assert requests_of(spec) == Resources(cpu=1500, memory=GI + 128 * MI, pods=1)


def test_sidecars_run_beside_later_init_containers():
    spec = {
        "containers": [ctr("a", {"cpu": "1500m"})],
        "initContainers": [
            ctr("first", {"cpu": "2"}),  # runs alone: 2000m
            ctr("proxy", {"cpu": "200m"}, restartPolicy="Always"),
            ctr("migrate", {"cpu": "1900m"}),  # runs beside the sidecar: 2100m
        ],
    }
    assert requests_of(spec).cpu == 2100


def test_sidecar_started_after_an_init_container_does_not_run_beside_it():
    spec = {
        "containers": [ctr("a", {"cpu": "1"})],
        "initContainers": [ctr("first", {"cpu": "3"}), ctr("proxy", {"cpu": "500m"}, restartPolicy="Always")],
    }
    assert requests_of(spec).cpu == 3000


def test_pod_overhead_is_added():
    spec = {"containers": [ctr("a", {"cpu": "1", "memory": "1Gi"})], "overhead": {"cpu": "250m", "memory": "120Mi"}}
    assert requests_of(spec) == Resources(cpu=1250, memory=GI + 120 * MI, pods=1)


def test_a_limit_only_resource_is_requested_at_the_limit():
    spec = {"containers": [ctr("a", requests={"cpu": "500m"}, limits={"cpu": "2", "memory": "2Gi"})]}
    assert requests_of(spec) == Resources(cpu=500, memory=2 * GI, pods=1)


@pytest.mark.parametrize(
    ("resources", "gpus", "gpu_resource"),
    [
        ({"limits": {"nvidia.com/gpu": "2"}}, 2, NVIDIA_GPU),
        ({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 1}}, 1, NVIDIA_GPU),
        ({"limits": {"amd.com/gpu": "1"}}, 1, AMD_GPU),
        ({"limits": {"nvidia.com/gpu": "0"}}, 0, None),
        ({"requests": {"cpu": "1"}}, 0, None),
    ],
)
def test_gpus(resources, gpus, gpu_resource):
    requests, kind = pod_requests({"containers": [{"name": "a", "resources": resources}]})
    assert (requests.gpu, kind) == (gpus, gpu_resource)
    pod = pod_from_manifest(manifest(containers=[{"name": "a", "resources": resources}]))
    assert pod.requests.gpu == gpus
    assert pod.constraints.gpu_resource == gpu_resource


def test_gpus_of_several_containers_add_up():
    spec = {"containers": [ctr("a", limits={"nvidia.com/gpu": 1}), ctr("b", limits={"nvidia.com/gpu": 2})]}
    assert requests_of(spec).gpu == 3


def test_ephemeral_storage():
    spec = {"containers": [ctr("a", {"cpu": "1", "ephemeral-storage": "10Gi"})]}
    assert requests_of(spec).ephemeral == 10 * GI


def test_a_pod_takes_one_pod_slot():
    assert requests_of({"containers": [ctr("a", {"cpu": "1"}), ctr("b", {"cpu": "1"})]}).pods == 1
    assert requests_of({"containers": [ctr("a")]}) == Resources(pods=1)


def test_pod_from_manifest_carries_the_requests():
    pod = pod_from_manifest(manifest(containers=[ctr(requests={"cpu": "3", "memory": "12Gi"})]))
    assert pod.requests == Resources(cpu=3000, memory=12 * GI, pods=1)


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"containers": [ctr("a", {"cpu": "lots"})]}, "spec.containers[0]"),
        ({"containers": [ctr("a", {"cpu": "1"}), ctr("b", {"memory": "1.2.3Gi"})]}, "spec.containers[1]"),
        ({"containers": [ctr("a")], "initContainers": [ctr("i", limits={"memory": "-1"})]}, "spec.initContainers[0]"),
        ({"containers": [ctr("a")], "overhead": {"cpu": "x"}}, "spec.overhead"),
        ({"containers": [ctr("a", limits={"nvidia.com/gpu": "two"})]}, "spec.containers[0]"),
    ],
)
def test_a_bad_quantity_names_the_pod_and_the_field(spec, where):
    with pytest.raises(PodSpecError) as err:
        pod_from_manifest(manifest("broken", spec=spec))
    message = str(err.value)
    assert "default/broken" in message
    assert where in message


def test_a_bad_quantity_names_the_value():
    with pytest.raises(PodSpecError, match="'lots'"):
        pod_from_manifest(manifest(containers=[ctr(requests={"cpu": "lots"})]))


# ---- node affinity and node selector


def test_node_selector_alone_is_one_term():
    affinity = node_affinity({"nodeSelector": {ARCH: "arm64"}})
    assert affinity.terms == ((Requirement(ARCH, "In", ("arm64",)),),)


def test_node_selector_is_folded_into_every_required_term():
    spec = {
        "nodeSelector": {ARCH: "arm64"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-east-1a"]}]},
                        {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g6.xlarge"]}]},
                    ]
                }
            }
        },
    }
    affinity = node_affinity(spec)
    assert len(affinity.terms) == 2
    assert all(Requirement(ARCH, "In", ("arm64",)) in term for term in affinity.terms)
    assert affinity.matches({ARCH: "arm64", ZONE: "us-east-1a"})
    assert affinity.matches({ARCH: "arm64", ZONE: "us-east-1b", "node.kubernetes.io/instance-type": "g6.xlarge"})
    assert not affinity.matches({ARCH: "amd64", ZONE: "us-east-1a"})
    assert not affinity.matches({ARCH: "arm64", ZONE: "us-east-1b"})


def test_no_selector_and_no_affinity_means_no_constraint():
    affinity = node_affinity({})
    assert affinity.terms == ()
    assert affinity.matches({})


def _terms(*terms: dict) -> dict:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}}


PINNED_BY_NAME = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}


def test_match_fields_on_metadata_name_is_met_by_that_node_only_never_by_a_new_one():
    # API reference, NodeSelectorTerm.matchFields: "A list of node selector requirements by
    # node's fields"; the DaemonSet controller pins its pods this way (metadata.name In [node]).
    # A node still to be launched gets a name from the cloud, so it cannot be node-1.
    affinity = node_affinity(_terms(PINNED_BY_NAME))
    assert affinity.matches({}, "node-1")
    assert not affinity.matches({}, "node-2")
    assert not affinity.matches({})  # a new node
    not_there = node_affinity(_terms({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}]}))
    assert not_there.matches({}) and not not_there.matches({}, "node-1")


def test_match_fields_term_beside_a_label_term_is_ored_with_it():
    # API reference, NodeSelector: "The terms are ORed."
    zone_term = {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-east-1a"]}]}
    affinity = node_affinity(_terms(PINNED_BY_NAME, zone_term))
    assert affinity.matches({ZONE: "us-east-1a"})
    assert not affinity.matches({ZONE: "us-east-1b"})
    assert affinity.matches({ZONE: "us-east-1b"}, "node-1")


def test_an_empty_node_selector_term_matches_no_node():
    # API reference, NodeSelectorTerm: "A null or empty node selector term matches no objects."
    # An amd64-only term ORed with an empty one admits amd64 nodes only, and an empty term
    # alone admits none.
    amd64 = {"matchExpressions": [{"key": ARCH, "operator": "In", "values": ["amd64"]}]}
    affinity = node_affinity(_terms(amd64, {}))
    assert affinity.matches({ARCH: "amd64"})
    assert not affinity.matches({ARCH: "arm64"})
    assert not node_affinity(_terms({})).matches({ARCH: "amd64"})
    assert not node_affinity(_terms({"matchExpressions": []})).matches({ARCH: "amd64"}, "node-1")


def test_pod_from_manifest_carries_the_affinity():
    pod = pod_from_manifest(manifest(spec={"nodeSelector": {ZONE: "us-west-2a"}}))
    assert pod.constraints.affinity.matches({ZONE: "us-west-2a"})
    assert not pod.constraints.affinity.matches({ZONE: "us-west-2b"})


# ---- tolerations


def test_tolerations_are_parsed():
    spec = {
        "tolerations": [
            {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
        ]
    }
    pod = pod_from_manifest(manifest(spec=spec))
    assert Toleration("kubernetes.azure.com/scalesetpriority", "Equal", "spot", "NoSchedule") in pod.constraints.tolerations
    assert tolerates_all(pod.constraints.tolerations, (AKS_SPOT_TAINT,))
    assert not tolerates_all(pod.constraints.tolerations, (GPU_TAINT,))


def test_a_gpu_pod_tolerates_the_gpu_taint_by_itself():
    pod = pod_from_manifest(manifest(containers=[ctr(requests={"cpu": "1"}, limits={"nvidia.com/gpu": 1})]))
    assert tolerates_all(pod.constraints.tolerations, (GPU_TAINT,))
    assert tolerates_all(pod.constraints.tolerations, (Taint("nvidia.com/gpu", "", "NoSchedule"),))
    assert not tolerates_all(pod.constraints.tolerations, (AKS_SPOT_TAINT,))


def test_a_pod_without_gpus_does_not_tolerate_the_gpu_taint():
    pod = pod_from_manifest(manifest())
    assert pod.constraints.tolerations == ()
    assert not tolerates_all(pod.constraints.tolerations, (GPU_TAINT,))
    assert tolerates_all(pod.constraints.tolerations, ())


def test_an_exists_toleration_without_key_tolerates_every_taint():
    pod = pod_from_manifest(manifest(spec={"tolerations": [{"operator": "Exists"}]}))
    assert tolerates_all(pod.constraints.tolerations, (GPU_TAINT, AKS_SPOT_TAINT))


def test_prefer_no_schedule_taints_never_block():
    assert tolerates_all((), (Taint("x", "y", "PreferNoSchedule"),))


# ---- one pod per node


def anti_affinity(topology_key: str, selector: dict) -> dict:
    return {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": topology_key, "labelSelector": selector}]
            }
        }
    }


def spread(topology_key: str, max_skew: int = 1, when: str = "DoNotSchedule", selector: dict | None = None) -> dict:
    return {
        "topologySpreadConstraints": [
            {
                "topologyKey": topology_key,
                "maxSkew": max_skew,
                "whenUnsatisfiable": when,
                "labelSelector": selector or {"matchLabels": {"app": "web"}},
            }
        ]
    }


LABELS = {"app": "web", "tier": "front"}


def test_required_anti_affinity_terms_are_read_with_the_pods_namespace():
    pod = pod_from_manifest(manifest(labels=LABELS, spec=anti_affinity(HOSTNAME, {"matchLabels": {"app": "web"}})))
    (term,) = pod.constraints.pod_anti_affinity
    assert term.topology_key == HOSTNAME
    assert term.pods.match_labels == (("app", "web"),)
    assert term.pods.namespaces == frozenset({"default"})
    assert term.pods.matches("default", LABELS) and not term.pods.matches("other", LABELS)


def test_an_empty_selector_matches_every_pod_and_a_missing_one_none():
    empty = pod_from_manifest(manifest(labels=LABELS, spec=anti_affinity(HOSTNAME, {})))
    assert empty.constraints.pod_anti_affinity[0].pods.matches("default", {"x": "y"})
    missing = pod_from_manifest(manifest(labels=LABELS, spec=anti_affinity(HOSTNAME, None)))
    assert missing.constraints.pod_anti_affinity == ()


@pytest.mark.parametrize(
    ("spec", "count", "skew"),
    [
        (spread(HOSTNAME), 1, 1),
        (spread(ZONE, max_skew=2), 1, 2),
        (spread(HOSTNAME, when="ScheduleAnyway"), 0, None),  # best effort: not planned for
        ({}, 0, None),
    ],
)
def test_spread_constraints(spec, count, skew):
    constraints = pod_from_manifest(manifest(labels=LABELS, spec=spec)).constraints
    assert len(constraints.spread) == count
    if count:
        assert constraints.spread[0].max_skew == skew
        assert constraints.spread[0].honor_node_affinity and not constraints.spread[0].honor_taints


def test_match_label_keys_narrow_the_selector_to_the_pods_own_values():
    spec = spread(ZONE)
    spec["topologySpreadConstraints"][0]["matchLabelKeys"] = ["tier", "absent"]
    (constraint,) = pod_from_manifest(manifest(labels=LABELS, spec=spec)).constraints.spread
    assert constraint.pods.matches("default", {"app": "web", "tier": "front"})
    assert not constraint.pods.matches("default", {"app": "web", "tier": "back"})


def test_affinity_match_and_mismatch_label_keys_use_the_pods_own_values():
    # Given an anti-affinity term on app=web with matchLabelKeys [tier] and mismatchLabelKeys
    # [track, absent], on a pod labelled tier=front, track=canary
    spec = anti_affinity(HOSTNAME, {"matchLabels": {"app": "web"}})
    term = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    term["matchLabelKeys"] = ["tier"]
    term["mismatchLabelKeys"] = ["track", "absent"]
    pod = pod_from_manifest(manifest(labels={**LABELS, "track": "canary"}, spec=spec))
    (term,) = pod.constraints.pod_anti_affinity
    # Then it selects web pods of tier front on any track but canary; the absent key is ignored
    assert term.pods.matches("default", {"app": "web", "tier": "front", "track": "stable"})
    assert term.pods.matches("default", {"app": "web", "tier": "front"})
    assert not term.pods.matches("default", {"app": "web", "tier": "front", "track": "canary"})
    assert not term.pods.matches("default", {"app": "web", "tier": "back", "track": "stable"})


# ---- host ports


def test_host_ports_are_collected():
    containers = [
        ctr("a", {"cpu": "1"}, ports=[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 9000}]),
        ctr("b", {"cpu": "1"}, ports=[{"containerPort": 53, "hostPort": 53, "protocol": "UDP"}]),
    ]
    pod = pod_from_manifest(manifest(containers=containers))
    assert pod.constraints.host_ports == frozenset({(8080, "TCP", ""), (53, "UDP", "")})


def test_host_ports_keep_their_address():
    containers = [ctr("a", {"cpu": "1"}, ports=[{"containerPort": 80, "hostPort": 80, "hostIP": "10.0.0.1"}])]
    pod = pod_from_manifest(manifest(containers=containers))
    assert pod.constraints.host_ports == frozenset({(80, "TCP", "10.0.0.1")})


def test_no_host_ports():
    assert pod_from_manifest(manifest()).constraints.host_ports == frozenset()


# ---- annotations (SPEC §3)


@pytest.mark.parametrize(
    ("suffix", "value", "attribute", "expected"),
    [
        ("instance-type-regexp", r"^g6\..*", "type_regexp", r"^g6\..*"),
        ("instance-family-inclusions", "G5, g6", "family_inclusions", frozenset({"g5", "g6"})),
        ("instance-family-exclusions", "P3,p4D", "family_exclusions", frozenset({"p3", "p4d"})),
        ("instance-gpu-skus", "l4,A10g, a10 ,L40S", "gpu_skus", frozenset({"L4", "A10G", "A10", "L40S"})),
        ("instance-max-gpus", "2", "max_gpus", 2),
        ("instance-max-cost", "4.75", "max_cost", 4.75),
        ("instance-offerings", "spot,on-demand", "capacity_types", ("spot", "on-demand")),
        ("instance-offerings", "on-demand", "capacity_types", ("on-demand",)),
    ],
)
@pytest.mark.parametrize("prefix", [SA, LUNA])
def test_selection_annotations(prefix, suffix, value, attribute, expected):
    selection, do_not_evict, problems = read_annotations({prefix + suffix: value}, (SA, LUNA))
    assert getattr(selection, attribute) == expected
    assert selection.given
    assert (do_not_evict, problems) == (False, ())


@pytest.mark.parametrize("prefix", [SA, LUNA])
def test_do_not_evict(prefix):
    pod = pod_from_manifest(manifest(annotations={prefix + "do-not-evict": "true"}), (SA, LUNA))
    assert pod.do_not_evict is True
    assert not pod.constraints.selection.given  # do-not-evict does not constrain the node type
    assert pod_from_manifest(manifest(annotations={prefix + "do-not-evict": "false"}), (SA, LUNA)).do_not_evict is False


def test_annotations_under_both_prefixes_are_read():
    annotations = {SA + "instance-max-cost": "4.75", LUNA + "instance-gpu-skus": "L4,A10G", LUNA + "do-not-evict": "true"}
    pod = pod_from_manifest(manifest(annotations=annotations), prefixes=(SA, LUNA))
    assert pod.constraints.selection.max_cost == 4.75
    assert pod.constraints.selection.gpu_skus == frozenset({"L4", "A10G"})
    assert pod.do_not_evict is True


def test_annotations_under_an_unconfigured_prefix_are_ignored():
    pod = pod_from_manifest(manifest(annotations={LUNA + "instance-max-cost": "4.75", LUNA + "do-not-evict": "true"}))
    assert pod.constraints.selection.max_cost is None
    assert not pod.constraints.selection.given
    assert pod.do_not_evict is False
    assert pod.annotation_problems == ()


def test_no_annotations_no_selection():
    selection, do_not_evict, problems = read_annotations({}, (SA,))
    assert not selection.given
    assert (do_not_evict, problems) == (False, ())


@pytest.mark.parametrize(
    ("suffix", "value", "attribute"),
    [
        ("instance-max-cost", "cheap", "max_cost"),
        ("instance-max-cost", "-1", "max_cost"),
        ("instance-max-gpus", "two", "max_gpus"),
        ("instance-type-regexp", "(", "type_regexp"),
        ("instance-offerings", "sometimes", "capacity_types"),
        ("instance-family-inclusions", " , ", "family_inclusions"),
        ("instance-gpu-skus", "", "gpu_skus"),
    ],
)
def test_malformed_selection_annotation_is_a_problem_and_otherwise_ignored(suffix, value, attribute):
    name = SA + suffix
    pod = pod_from_manifest(manifest("web-abc-1", annotations={name: value}))
    [problem] = pod.annotation_problems
    message = problem.message(pod.key)
    assert "default/web-abc-1" in message
    assert name in message
    assert repr(value) in message
    assert problem.reason
    assert getattr(pod.constraints.selection, attribute) is None
    assert not pod.constraints.selection.given  # planned as if the annotation were absent
    assert pod.requests == Resources(cpu=500, memory=512 * MI, pods=1)


def test_malformed_do_not_evict_is_a_problem_and_the_pod_stays_evictable():
    pod = pod_from_manifest(manifest(annotations={SA + "do-not-evict": "yes"}))
    [problem] = pod.annotation_problems
    message = problem.message(pod.key)
    assert all(part in message for part in ("default/web-abc-1", SA + "do-not-evict", "'yes'"))
    assert pod.do_not_evict is False


def test_one_malformed_annotation_does_not_drop_the_good_ones():
    annotations = {SA + "instance-max-cost": "cheap", SA + "instance-max-gpus": "2", SA + "instance-offerings": "spot"}
    pod = pod_from_manifest(manifest(annotations=annotations))
    assert [p.annotation for p in pod.annotation_problems] == [SA + "instance-max-cost"]
    assert pod.constraints.selection.max_gpus == 2
    assert pod.constraints.selection.capacity_types == ("spot",)
    assert pod.constraints.selection.max_cost is None


# ---- identity, status, gates


def test_owner_is_the_controller_reference():
    refs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "cfg", "uid": "1"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "2", "controller": True},
    ]
    pod = pod_from_manifest(manifest(metadata={"ownerReferences": refs}))
    assert pod.owner == "ReplicaSet/default/web-abc"
    assert pod.owner_kind == "ReplicaSet"
    assert pod.daemonset is False


def test_a_bare_pod_has_no_owner():
    pod = pod_from_manifest(manifest())
    assert (pod.owner, pod.owner_kind) == ("", "")


def test_daemonset_pods_are_marked():
    refs = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "3", "controller": True}]
    assert pod_from_manifest(manifest(metadata={"ownerReferences": refs})).daemonset is True


def test_identity_fields():
    pod = pod_from_manifest(manifest("web-abc-1", metadata={"uid": "u-1"}, spec={"priority": 100}))
    assert (pod.key, pod.namespace, pod.name, pod.uid, pod.priority) == ("default/web-abc-1", "default", "web-abc-1", "u-1", 100)
    assert pod.labels == {"app": "web"}


def test_unschedulable_condition():
    message = "0/5 nodes are available: 5 Insufficient cpu."
    status = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}],
    }
    pod = pod_from_manifest(manifest(status=status))
    assert pod.unschedulable is True
    assert pod.unschedulable_message == message
    assert pod.phase == "Pending"


@pytest.mark.parametrize(
    "conditions",
    [
        [],
        [{"type": "PodScheduled", "status": "True"}],
        [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated", "message": "gated"}],
    ],
)
def test_not_unschedulable(conditions):
    pod = pod_from_manifest(manifest(status={"phase": "Pending", "conditions": conditions}))
    assert pod.unschedulable is False


def test_bound_and_terminal_pods():
    pod = pod_from_manifest(manifest(spec={"nodeName": "node-1"}, status={"phase": "Succeeded"}))
    assert pod.node_name == "node-1"
    assert pod.terminal


def test_scheduling_gates():
    spec = {"schedulingGates": [{"name": "nodecostestimate"}, {"name": "kueue.x-k8s.io/admission"}]}
    pod = pod_from_manifest(manifest(spec=spec))
    assert pod.scheduling_gates == ("nodecostestimate", "kueue.x-k8s.io/admission")
    assert pod_from_manifest(manifest()).scheduling_gates == ()


def test_gke_time_sharing_node_selectors():
    selector = {"cloud.google.com/gke-gpu-sharing-strategy": "time-sharing", "cloud.google.com/gke-max-shared-clients-per-gpu": "2"}
    pod = pod_from_manifest(manifest(containers=[ctr(limits={"nvidia.com/gpu": 1})], spec={"nodeSelector": selector}))
    assert pod.constraints.gpu_time_slices == 2
    assert pod_from_manifest(manifest()).constraints.gpu_time_slices is None


def test_equal_pods_share_one_shape_object():
    a = pod_from_manifest(manifest("web-abc-1"))
    b = pod_from_manifest(manifest("web-abc-2"))
    c = pod_from_manifest(manifest("web-abc-3", containers=[ctr(requests={"cpu": "501m", "memory": "512Mi"})]))
    d = pod_from_manifest(manifest("web-abc-4", spec={"nodeSelector": {ZONE: "us-east-1a"}}))
    assert a.shape is b.shape
    assert a.shape is not c.shape
    assert a.shape is not d.shape


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"topologySpreadConstraints": [{"maxSkew": "x", "topologyKey": "k", "labelSelector": {}}]}, "spec.topologySpreadConstraints"),
        ({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": ["oops"]}}}, "spec.affinity.podAntiAffinity"),
    ],
)
def test_malformed_scheduling_terms_name_the_pod_and_field(spec, field):
    with pytest.raises(PodSpecError, match=f"pod default/p: {field}"):
        pod_from_manifest(manifest(spec=spec) | {"metadata": {"name": "p", "namespace": "default"}})
