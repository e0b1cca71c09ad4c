"""Node objects that the loopback control plane's kwok keeps alive.

What kwok (v0.8, started by ``cluster.ControlPlane``) needs from a Node:

* the annotation ``kwok.x-k8s.io/node: fake`` -- kwok runs with
  ``--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake`` and ignores
  every other Node (a Node without it stays NotReady forever, like a real
  machine whose kubelet never came up);
* nothing else. kwok's "node-initialize" stage fills ``status`` (Ready and the
  other conditions, addresses, nodeInfo, phase) and keeps ``status.capacity`` /
  ``status.allocatable`` as written at creation -- if they are missing it puts
  1k CPU / 1Ti / 1M pods there, so always give them. kwok then renews the
  node's Lease in ``kube-node-lease`` (every ~10 s, duration 40 s), so the
  node-lifecycle controller keeps it Ready; the "pod-ready" stage marks pods
  bound to it Running/Ready, and "pod-delete" removes pods that get a
  deletionTimestamp (so evictions and drains complete).

``status`` given at creation is kept by the API server (Node create, unlike
update, does not reset it -- that is how a kubelet registers its capacity);
later changes to capacity must go through the ``status`` subresource.
``spec.taints`` is honoured as given; the node-lifecycle controller adds
``node.kubernetes.io/not-ready`` until kwok has reported Ready (about a
second) and removes it afterwards.
"""

from __future__ import annotations

from typing import Mapping

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_ANNOTATION_VALUE = "fake"
KWOK_ANNOTATION_SELECTOR = f"{KWOK_ANNOTATION}={KWOK_ANNOTATION_VALUE}"
# Where metrics-server finds this node's kubelet resource metrics: kwok serves them per node
# (tests/controlplane/metrics/metrics-resource.yaml) on its port, at the node's InternalIP.
RESOURCE_METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"


def resource_metrics_path(node_name: str) -> str:
    return f"/metrics/nodes/{node_name}/metrics/resource"
GPU_RESOURCE = "nvidia.com/gpu"
_NODE_INFO_FIELDS = (
    "architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
    "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID",
)


def kwok_node_manifest(
    name: str,
    cpu: str | int,
    memory: str,
    pods: str | int = 110,
    labels: Mapping[str, str] | None = None,
    provider_id: str | None = None,
    gpus: int = 0,
    *,
    zone: str | None = None,
    instance_type: str | None = None,
    arch: str = "amd64",
    taints: list[dict] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict:
    """A Node (plain dict, for ``CoreV1Api.create_node``) that kwok keeps Ready.

    ``cpu``/``memory``/``pods`` are Kubernetes quantities ("4", "3500m",
    "8Gi"); they are both capacity and allocatable. ``labels`` are merged over
    the well-known ones (hostname, arch, os, and zone / instance type when
    given). ``provider_id`` becomes ``spec.providerID`` (e.g.
    ``"sim://zone-a/i-0001"``); ``gpus`` adds ``nvidia.com/gpu``.
    """
    node_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": "linux",
        "type": "kwok",
    }
    if zone:
        node_labels["topology.kubernetes.io/zone"] = zone
    if instance_type:
        node_labels["node.kubernetes.io/instance-type"] = instance_type
    node_labels.update(labels or {})

    resources = {"cpu": str(cpu), "memory": str(memory), "pods": str(pods)}
    if gpus:
        resources[GPU_RESOURCE] = str(gpus)

    spec: dict = {}
    if provider_id:
        spec["providerID"] = provider_id
    if taints:
        spec["taints"] = list(taints)

    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels,
            "annotations": {
                KWOK_ANNOTATION: KWOK_ANNOTATION_VALUE,
                "node.alpha.kubernetes.io/ttl": "0",
                RESOURCE_METRICS_PATH_ANNOTATION: resource_metrics_path(name),
                **(annotations or {}),
            },
        },
        "spec": spec,
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            # The Python client (v37) validates a dict body against the model, where
            # every nodeInfo field is required; kwok fills the empty ones.
            "nodeInfo": {
                **{f: "" for f in _NODE_INFO_FIELDS},
                "architecture": arch,
                "operatingSystem": "linux",
            },
        },
    }
