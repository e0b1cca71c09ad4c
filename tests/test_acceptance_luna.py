"""Published results of the Luna smart autoscaler, reproduced through the preview path.

Manifests are read as a user would write them, expanded into pods, planned against the
embedded catalog, and the chosen nodes and totals compared with Luna's figures.
"""

from __future__ import annotations

import pytest

from autoscaler.config import config_from_mapping
from autoscaler.manifests import load_manifest_text
from autoscaler.preview import Target, run_preview

LUNA_THRESHOLDS = {"binSelectPodCpuThreshold": 2, "binSelectPodMemoryThreshold": "8Gi", "binSelectPodGPUThreshold": 1}


def rayservice(workers: int, gpus_each: int, skus: str = "L4,A10G,A10,L40S") -> str:
    return f"""
apiVersion: ray.io/v1
kind: RayService
metadata: {{name: llm, namespace: default}}
spec:
  rayClusterConfig:
    headGroupSpec:
      template:
        metadata: {{labels: {{smart-autoscaler.io/managed: "true"}}}}
        spec:
          containers:
          - name: head
            resources: {{requests: {{cpu: "2", memory: 16Gi}}}}
    workerGroupSpecs:
    - groupName: gpu
      replicas: {workers}
      minReplicas: {workers}
      maxReplicas: 16
      template:
        metadata:
          labels: {{smart-autoscaler.io/managed: "true"}}
          annotations: {{smart-autoscaler.io/instance-gpu-skus: "{skus}"}}
        spec:
          containers:
          - name: worker
            resources:
              requests: {{cpu: "16", memory: 16Gi, nvidia.com/gpu: "{gpus_each}"}}
              limits: {{nvidia.com/gpu: "{gpus_each}"}}
"""


def gpu_deployment() -> str:
    return """
apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu-test, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: gpu-test}}
  template:
    metadata: {labels: {app: gpu-test, smart-autoscaler.io/managed: "true"}}
    spec:
      containers:
      - name: cuda
        resources:
          requests: {cpu: "1", memory: 2G}
          limits: {nvidia.com/gpu: "1"}
"""


def preview(text: str, target: str, **options: object):
    cloud, region = target.split(":")
    config = config_from_mapping(options)
    result = run_preview(load_manifest_text(text, "test.yaml"), [Target(cloud, region)], config)
    (only,) = result.targets
    assert only.unplaceable == []
    return only


def nodes(result) -> list[tuple[str, str, int]]:
    return [(line.instance_type, line.capacity_type, line.count) for line in result.nodes]


def test_rayservice_two_one_gpu_workers_get_a_g6_8xlarge_each():
    """Given 2 workers of 16 CPU / 16Gi / 1 GPU (L4, A10G, A10 or L40S) and a 2 CPU / 16Gi head
    on aws us-west-2, then the head gets an r5a.xlarge at $0.2260 and each worker a
    g6.8xlarge at $2.0144: $4.2548/h in all."""
    result = preview(rayservice(2, 1), "aws:us-west-2", **LUNA_THRESHOLDS)
    assert nodes(result) == [("r5a.xlarge", "on-demand", 1), ("g6.8xlarge", "on-demand", 2)]
    assert [line.hourly_cost_each for line in result.nodes] == [0.226, 2.0144]
    assert result.total_hourly_cost == pytest.approx(4.2548, abs=1e-9)


def test_rayservice_four_workers_stay_one_per_node():
    """A bigger node could hold all four workers for less, but the cheapest node for one
    worker has room for only one: each gets its own g6.8xlarge, $8.2836/h in all."""
    result = preview(rayservice(4, 1), "aws:us-west-2", **LUNA_THRESHOLDS)
    assert nodes(result) == [("r5a.xlarge", "on-demand", 1), ("g6.8xlarge", "on-demand", 4)]
    assert result.total_hourly_cost == pytest.approx(8.2836, abs=1e-9)


def test_rayservice_two_gpu_workers_share_one_g6_12xlarge():
    """The cheapest node for one 2-GPU worker (g6.12xlarge, 4 GPUs) has room for both."""
    result = preview(rayservice(2, 2), "aws:us-west-2", **LUNA_THRESHOLDS)
    assert nodes(result) == [("r5a.xlarge", "on-demand", 1), ("g6.12xlarge", "on-demand", 1)]
    assert result.nodes[1].hourly_cost_each == 4.6016
    assert len(result.nodes[1].pods) == 2
    assert result.total_hourly_cost == pytest.approx(4.8276, abs=1e-9)


def test_rayservice_a100_only_workers_share_a_p4d_24xlarge():
    result = preview(rayservice(2, 1, skus="A100"), "aws:us-west-2", **LUNA_THRESHOLDS)
    assert nodes(result) == [("r5a.xlarge", "on-demand", 1), ("p4d.24xlarge", "on-demand", 1)]
    assert len(result.nodes[1].pods) == 2


TIME_SLICING = {"binPackingNodeGPU": 2, "binSelectPodGPUThreshold": 2}


def test_time_slicing_one_slice_packs_both_pods_on_a_g3_8xlarge():
    result = preview(gpu_deployment(), "aws:us-east-1", nvidiaGPUTimeSlices=1, **TIME_SLICING)
    assert nodes(result) == [("g3.8xlarge", "on-demand", 1)]
    assert result.nodes[0].mode == "bin-pack"
    assert result.total_hourly_cost == pytest.approx(2.28)


def test_time_slicing_excluding_g3_by_regexp_gives_a_g4dn_12xlarge():
    result = preview(
        gpu_deployment(),
        "aws:us-east-1",
        nvidiaGPUTimeSlices=1,
        binPackingNodeTypeRegexp="^([^g]|g($|[^3])).*$",
        **TIME_SLICING,
    )
    assert nodes(result) == [("g4dn.12xlarge", "on-demand", 1)]
    assert result.total_hourly_cost == pytest.approx(3.912)


def test_time_slicing_two_slices_fit_both_pods_on_one_t4():
    result = preview(gpu_deployment(), "aws:us-east-1", nvidiaGPUTimeSlices=2, **TIME_SLICING)
    assert nodes(result) == [("g4dn.xlarge", "on-demand", 1)]
    assert result.total_hourly_cost == pytest.approx(0.526)
