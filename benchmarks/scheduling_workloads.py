"""Workloads of the peers' own scheduling benchmarks, as core/v1 Pod manifests.

- Karpenter (sigs.k8s.io/karpenter, pkg/controllers/provisioning/scheduling/
  scheduling_benchmark_test.go, `makeDiversePods`): equal groups of plain pods, zone spread,
  hostname spread, zone pod affinity and hostname anti-affinity; CPU from {100m, 250m, 500m,
  1, 1500m}, memory from {100Mi, 256Mi, 512Mi, 1Gi, 2Gi, 4Gi}, labels my-label / my-affininity
  with values a..g drawn at random (seeded), selectors drawn the same way.
- Cluster Autoscaler (cluster-autoscaler/estimator, BenchmarkBinpackingEstimate): 50,000 pods
  of 50m / 100 B and 1,000 of 95m / 190 B, on nodes of 1 CPU.
"""

from __future__ import annotations

import random
from typing import Any

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
_VALUES = "abcdefg"


def _pod(index: int, labels: dict[str, str], cpu: str, memory: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{index}", "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/0 nodes are available"}]},
    }


def diverse_pods(count: int, seed: int = 42) -> list[dict[str, Any]]:
    rng = random.Random(seed)

    def cpu() -> str:
        return f"{rng.choice([100, 250, 500, 1000, 1500])}m"

    def memory() -> str:
        return f"{rng.choice([100, 256, 512, 1024, 2048, 4096])}Mi"

    def value() -> str:
        return rng.choice(_VALUES)

    per_group = count // 5
    pods: list[dict[str, Any]] = []

    def add(labels, **spec) -> None:
        pods.append(_pod(len(pods), labels, cpu(), memory(), **spec))

    for _ in range(per_group):
        add({"my-label": value()})
    for key in (ZONE, HOSTNAME):
        for _ in range(per_group):
            add(
                {"my-label": value()},
                topologySpreadConstraints=[
                    {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
                     "labelSelector": {"matchLabels": {"my-label": value()}}}
                ],
            )
    for _ in range(per_group):
        add(
            {"my-affininity": value()},
            affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"my-affininity": value()}}}]}},
        )
    for _ in range(per_group):
        add(
            {"app": "nginx"},
            affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": "nginx"}}}]}},
        )
    while len(pods) < count:
        add({"my-label": value()})
    return pods


def binpacking_estimate_pods() -> list[dict[str, Any]]:
    pods = [_pod(i, {"app": "small"}, "50m", "100") for i in range(50_000)]
    pods += [_pod(50_000 + i, {"app": "large"}, "95m", "190") for i in range(1_000)]
    return pods
