"""API JSON for the edge tests, shaped as the API server sends it."""

from __future__ import annotations

from typing import Any

from tests.helpers import pod_manifest


def pod(name: str, version: str = "1", **kwargs: Any) -> dict[str, Any]:
    obj = pod_manifest(name, **kwargs)
    obj["metadata"]["resourceVersion"] = version
    return obj


def node(name: str, version: str = "1", **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": version,
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "labels": {"node.kubernetes.io/instance-type": "m5.xlarge", "kubernetes.io/hostname": name},
            "annotations": {
                "smart-autoscaler.io/request-id": "req-7",
                "node.alpha.kubernetes.io/ttl": "0",
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
            },
        },
        "spec": {
            "providerID": f"aws:///us-east-1a/i-{name}",
            "taints": [{"key": "smart-autoscaler.io/hot", "effect": "NoSchedule"}],
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "16101952Ki", "pods": "58", "ephemeral-storage": "83873772Ki"},
            "allocatable": {
                "cpu": "3920m",
                "memory": "15083072Ki",
                "pods": "58",
                "ephemeral-storage": "76224326324",
                "nvidia.com/gpu": "1",
                "amd.com/gpu": "2",
            },
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            ],
        },
    }
    obj.update(extra)
    return obj


def daemonset(name: str, cpu: str = "100m", memory: str = "128Mi", namespace: str = "kube-system") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "agent", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"operator": "Exists"}],
                }
            }
        },
    }


def pdb(name: str, selector: dict[str, Any] | None, allowed: int = 1, namespace: str = "default") -> dict[str, Any]:
    spec: dict[str, Any] = {"minAvailable": 1}
    if selector is not None:
        spec["selector"] = selector
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": spec,
        "status": {"disruptionsAllowed": allowed, "currentHealthy": 2, "desiredHealthy": 1},
    }


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def bookmark(version: str) -> dict[str, Any]:
    return event("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": version}})


def error_event(code: int, reason: str, message: str) -> dict[str, Any]:
    return event(
        "ERROR",
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code},
    )
