"""Generated workloads for the differential tier: pods over the pod-spec surface the planner
claims, and existing nodes with pods, as plain Kubernetes objects (hypothesis strategies).

The surface, each field as the API reference defines it: node affinity (In, NotIn, Exists,
DoesNotExist, Gt, Lt; several terms; empty terms; matchFields metadata.name), nodeSelector,
tolerations against tainted nodes, topology spread on zone and hostname (maxSkew, minDomains,
matchLabelKeys, nodeAffinityPolicy, nodeTaintsPolicy), required pod affinity and anti-affinity
on zone and hostname (to a pod's own workload and to others; matchLabelKeys, mismatchLabelKeys),
host ports, init and sidecar containers, RuntimeClass overhead, pod-level resources, extended
resources (GPUs, a device declared in the configuration), ephemeral storage, huge pages,
scheduling gates.

Workloads are ReplicaSets (the controller-manager makes the pods, so the planner sees real
owner references) and bare Pods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import strategies as st

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
ARCH = "kubernetes.io/arch"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
RANK = "example.com/rank"  # a numeric label existing nodes carry (Gt / Lt)
FPGA = "example.com/fpga"  # the configuration declares it on c6a types (CONFIG below)
MANAGED = {"smart-autoscaler.io/managed": "true"}
APPS = ("a", "b", "c")
RUNTIME_CLASS = "sandboxed"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f")

# What the autoscaler is configured with in every run (SPEC names).
CONFIG: dict[str, Any] = {
    "cloud": "aws",
    "region": "us-east-1",
    "extendedResources": {FPGA: {"typeRegexp": "^c6a\\.", "count": 2}},
}

RUNTIME_CLASS_OBJECT = {
    "apiVersion": "node.k8s.io/v1",
    "kind": "RuntimeClass",
    "metadata": {"name": RUNTIME_CLASS},
    "handler": "runsc",
    "overhead": {"podFixed": {"cpu": "250m", "memory": "256Mi"}},
}


@dataclass
class ExistingNode:
    """A node that is there before the workload (not the autoscaler's), with its pods."""

    name: str
    cpu: str
    memory: str
    zone: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)
    pods: list[dict] = field(default_factory=list)  # bound pods (spec.nodeName set)


@dataclass
class Workload:
    objects: list[dict]  # ReplicaSets and Pods, pending
    nodes: list[ExistingNode] = field(default_factory=list)

    def pod_count(self) -> int:
        return sum(o["spec"]["replicas"] if o["kind"] == "ReplicaSet" else 1 for o in self.objects)

    def manifest(self, namespace: str = "default") -> str:
        """The workload as a manifest `smart-autoscaler preview -f` reads (the existing nodes,
        which preview cannot take, as a comment)."""
        docs = [RUNTIME_CLASS_OBJECT] + [_in_namespace(o, namespace) for o in self.objects]
        head = "".join(
            f"# existing node {n.name}: cpu {n.cpu}, memory {n.memory}, zone {n.zone}, labels {n.labels}, "
            f"taints {n.taints}, pods {[p['metadata']['name'] for p in n.pods]}\n"
            for n in self.nodes
        )
        head += "".join(f"---\n# bound to {n.name}\n" + yaml.safe_dump(_in_namespace(p, namespace), sort_keys=False)
                        for n in self.nodes for p in n.pods)
        return head + "---\n" + yaml.safe_dump_all(docs, sort_keys=False)


def _in_namespace(obj: dict, namespace: str) -> dict:
    return {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}


# ---- pieces of a pod spec

_CPU = ("100m", "250m", "500m", "1", "1500m", "2", "3", "4", "6")
_MEMORY = ("128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi")


@st.composite
def _resources(draw, big: bool = True) -> dict:
    requests = {"cpu": draw(st.sampled_from(_CPU if big else _CPU[:5])), "memory": draw(st.sampled_from(_MEMORY))}
    limits: dict = {}
    if draw(st.integers(0, 9)) == 0:
        requests["ephemeral-storage"] = draw(st.sampled_from(("1Gi", "20Gi", "200Gi")))
    return {"requests": requests, **({"limits": limits} if limits else {})}


def _container(name: str, resources: dict, **extra: Any) -> dict:
    return {"name": name, "image": "registry.k8s.io/pause:3.10", "resources": resources, **extra}


@st.composite
def _selector(draw, own: str) -> dict:
    app = draw(st.sampled_from((own,) + APPS))
    if draw(st.booleans()):
        return {"matchLabels": {"app": app}}
    return {"matchExpressions": [{"key": "app", "operator": "In", "values": sorted({app, draw(st.sampled_from(APPS))})}]}


@st.composite
def _node_selector_term(draw) -> dict:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return {}  # "a null or empty node selector term matches no objects"
    if kind == 1:
        return {"matchFields": [{"key": "metadata.name", "operator": draw(st.sampled_from(("In", "NotIn"))),
                                 "values": ["existing-0"]}]}
    expressions = []
    for _ in range(draw(st.integers(1, 2))):
        choice = draw(st.integers(0, 6))
        if choice == 0:
            expressions.append({"key": ARCH, "operator": draw(st.sampled_from(("In", "NotIn"))),
                                "values": [draw(st.sampled_from(("amd64", "arm64")))]})
        elif choice == 1:
            expressions.append({"key": ZONE, "operator": draw(st.sampled_from(("In", "NotIn"))),
                                "values": sorted(set(draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3))))})
        elif choice == 2:
            expressions.append({"key": CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]})
        elif choice == 3:
            expressions.append({"key": RANK, "operator": draw(st.sampled_from(("Gt", "Lt"))),
                                "values": [str(draw(st.integers(0, 4)))]})
        elif choice == 4:
            expressions.append({"key": RANK, "operator": draw(st.sampled_from(("Exists", "DoesNotExist")))})
        elif choice == 5:
            expressions.append({"key": "karpenter.k8s.aws/instance-family", "operator": "In",
                                "values": sorted(set(draw(st.lists(st.sampled_from(("m5", "c6a", "t3a", "r5", "m6g")), min_size=1, max_size=2))))})
        else:
            expressions.append({"key": INSTANCE_TYPE, "operator": "NotIn", "values": ["t3a.xlarge"]})
    return {"matchExpressions": expressions}


@st.composite
def _affinity(draw, app: str) -> dict:
    affinity: dict = {}
    if draw(st.integers(0, 3)) == 0:
        terms = draw(st.lists(_node_selector_term(), min_size=1, max_size=3))
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
    for kind in ("podAffinity", "podAntiAffinity"):
        if draw(st.integers(0, 4)) == 0:
            term = {"topologyKey": draw(st.sampled_from((HOSTNAME, ZONE))), "labelSelector": draw(_selector(app))}
            label_keys = draw(st.sampled_from((None, None, None, "matchLabelKeys", "mismatchLabelKeys")))
            if label_keys:
                term[label_keys] = ["version"]
            affinity[kind] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    return affinity


@st.composite
def _spread(draw, app: str) -> list:
    constraints = []
    for key in draw(st.lists(st.sampled_from((ZONE, HOSTNAME)), max_size=2, unique=True)):
        item: dict = {"maxSkew": draw(st.integers(1, 2)), "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
                      "labelSelector": draw(_selector(app))}
        if draw(st.integers(0, 3)) == 0:
            item["minDomains"] = draw(st.integers(1, 4))
        if draw(st.integers(0, 3)) == 0:
            item["matchLabelKeys"] = ["version"]
        if draw(st.integers(0, 4)) == 0:
            item["nodeAffinityPolicy"] = draw(st.sampled_from(("Honor", "Ignore")))
        if draw(st.integers(0, 4)) == 0:
            item["nodeTaintsPolicy"] = draw(st.sampled_from(("Honor", "Ignore")))
        constraints.append(item)
    return constraints


@st.composite
def pod_template(draw, app: str) -> dict:
    """metadata + spec of one workload's pods."""
    labels = {**MANAGED, "app": app, "version": draw(st.sampled_from(("v1", "v2")))}
    main = draw(_resources())
    spec: dict = {"containers": [_container("main", main)], "terminationGracePeriodSeconds": 0}
    extra = draw(st.integers(0, 19))
    if extra == 0:
        main.setdefault("limits", {})["nvidia.com/gpu"] = "1"
        main["requests"]["nvidia.com/gpu"] = "1"
        # ExtendedResourceToleration is not enabled in the test control plane; the pod
        # tolerates the GPU taint itself, as it must on a cluster without the plugin.
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    elif extra == 1:
        main.setdefault("limits", {})[FPGA] = "1"
        main["requests"][FPGA] = "1"
    elif extra == 2:
        main.setdefault("limits", {})["hugepages-2Mi"] = "64Mi"
        main["limits"]["memory"] = main["requests"]["memory"]
        main["requests"]["hugepages-2Mi"] = "64Mi"
    if draw(st.integers(0, 5)) == 0:
        spec["containers"].append(_container("helper", draw(_resources(big=False))))
    init = draw(st.integers(0, 7))
    if init == 0:
        spec["initContainers"] = [_container("setup", draw(_resources()))]
    elif init == 1:
        spec["initContainers"] = [_container("proxy", draw(_resources(big=False)), restartPolicy="Always")]
    if draw(st.integers(0, 9)) == 0:
        spec["resources"] = {"requests": {"cpu": draw(st.sampled_from(_CPU)), "memory": draw(st.sampled_from(_MEMORY))}}
        spec["resources"]["limits"] = dict(spec["resources"]["requests"])
        for container in spec["containers"] + spec.get("initContainers", []):
            container["resources"] = {}
    if draw(st.integers(0, 7)) == 0:
        spec["runtimeClassName"] = RUNTIME_CLASS
    if draw(st.integers(0, 5)) == 0:
        spec["nodeSelector"] = draw(st.sampled_from(({ARCH: "amd64"}, {ARCH: "arm64"}, {ZONE: "us-east-1b"},
                                                     {CAPACITY_TYPE: "on-demand"})))
    affinity = draw(_affinity(app))
    if affinity:
        spec["affinity"] = affinity
    spread = draw(_spread(app)) if draw(st.integers(0, 2)) == 0 else []
    if spread:
        spec["topologySpreadConstraints"] = spread
    if draw(st.integers(0, 6)) == 0:
        spec["containers"][0]["ports"] = [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]
    if draw(st.integers(0, 4)) == 0:
        spec.setdefault("tolerations", []).append({"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"})
    if draw(st.integers(0, 24)) == 0:
        spec["schedulingGates"] = [{"name": "example.com/not-yet"}]
    return {"metadata": {"labels": labels}, "spec": spec}


@st.composite
def _object(draw, index: int) -> dict:
    app = draw(st.sampled_from(APPS))
    template = draw(pod_template(app))
    name = f"w{index}-{app}"
    if draw(st.integers(0, 2)) == 0:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **template["metadata"]},
                "spec": template["spec"]}
    template["metadata"]["labels"]["workload"] = name
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": draw(st.integers(1, 4)),
            "selector": {"matchLabels": {"workload": name}},
            "template": template,
        },
    }


@st.composite
def _existing_node(draw, index: int) -> ExistingNode:
    node = ExistingNode(
        name=f"existing-{index}",
        cpu=draw(st.sampled_from(("2", "4", "8"))),
        memory=draw(st.sampled_from(("4Gi", "8Gi", "16Gi"))),
        zone=draw(st.sampled_from(ZONES)),
        labels={RANK: str(draw(st.integers(0, 4)))},
    )
    if draw(st.integers(0, 2)) == 0:
        node.taints = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    for p in range(draw(st.integers(0, 2))):
        app = draw(st.sampled_from(APPS))
        template = draw(pod_template(app))
        spec = {**template["spec"], "nodeName": node.name}
        spec.pop("schedulingGates", None)  # a bound pod has passed its gates
        spec.pop("runtimeClassName", None)
        spec["containers"] = [_container("main", {"requests": {"cpu": "100m", "memory": "128Mi"}})]
        spec.pop("initContainers", None)
        spec.pop("resources", None)
        node.pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{node.name}-p{p}", **template["metadata"]},
                          "spec": spec})
    return node


@st.composite
def workloads(draw) -> Workload:
    objects = [draw(_object(i)) for i in range(draw(st.integers(1, 4)))]
    nodes = [draw(_existing_node(i)) for i in range(draw(st.integers(0, 2)))]
    return Workload(objects, nodes)


def over_workloads(count: int, seed_value: int, shrink: bool = True):
    """Decorator: run the function on `count` generated workloads from a fixed seed (no example
    database, no deadline: each runs against a control plane); `shrink` shrinks a failure to
    the smallest workload that still fails."""
    from hypothesis import HealthCheck, Phase, given, seed, settings

    def decorate(function):
        phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)
        return seed(seed_value)(settings(max_examples=count, deadline=None, database=None, phases=phases,
                                         suppress_health_check=list(HealthCheck))(given(workloads())(function)))

    return decorate


def offline_pods(workload: Workload, namespace: str = "offline") -> list[dict]:
    """The workload's pending pods as the API would hold them, without a cluster (ReplicaSet
    replicas named <rs>-<i> with an owner reference; no admission: RuntimeClass overhead is left
    out), each marked Unschedulable as kube-scheduler would leave it."""
    status = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/0 nodes are available"}]}
    pods = []
    for obj in workload.objects:
        if obj["kind"] == "Pod":
            pods.append({**obj, "metadata": {**obj["metadata"], "namespace": namespace}, "status": status})
            continue
        template, name = obj["spec"]["template"], obj["metadata"]["name"]
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": f"uid-{name}", "controller": True}
        for index in range(obj["spec"]["replicas"]):
            metadata = {**template["metadata"], "name": f"{name}-{index}", "namespace": namespace, "ownerReferences": [owner]}
            pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"], "status": status})
    return pods
