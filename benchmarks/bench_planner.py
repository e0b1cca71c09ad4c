"""Planner speed on big clusters (issue: foundation). Prints seconds per scenario.

Run: python benchmarks/bench_planner.py [--repeat N]
Targets on a 2-core machine, full AWS us-east-1 catalog:
  50,000 identical bin-pack pods <= 0.2 s; 50,000 pods in 100 shapes <= 1 s;
  20,000 pods with all-distinct requests <= 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.config import Config, config_from_mapping  # noqa: E402
from autoscaler.model import NVIDIA_GPU, Pod, PodConstraints, PodShape, Toleration  # noqa: E402
from autoscaler.planner import plan  # noqa: E402
from autoscaler.resources import Resources  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402

GI = 2**30
MI = 2**20
GPU_CONSTRAINTS = PodConstraints(
    tolerations=(Toleration(NVIDIA_GPU, "Exists", "", "NoSchedule"),), gpu_resource=NVIDIA_GPU
)


def _pod(index: int, shape: PodShape, owner: str) -> Pod:
    return Pod(namespace="bench", name=f"p-{index}", shape=shape, owner=owner, unschedulable=True)


def identical_bin_pack(count: int) -> list[Pod]:
    shape = PodShape.of(Resources(cpu=250, memory=512 * MI, pods=1))
    return [_pod(i, shape, "ReplicaSet/bench/web") for i in range(count)]


def hundred_shapes(count: int, rng: random.Random) -> list[Pod]:
    shapes = []
    for index in range(100):
        kind = index % 4
        if kind in (0, 1):  # bin-pack
            shapes.append(PodShape.of(Resources(cpu=rng.choice([100, 250, 500, 1000]), memory=rng.choice([128, 256, 512, 1024, 2048]) * MI, pods=1)))
        elif kind == 2:  # bin-select CPU/memory
            shapes.append(PodShape.of(Resources(cpu=rng.choice([2000, 4000, 8000]), memory=rng.choice([8, 16, 32]) * GI, pods=1)))
        else:  # GPU
            shapes.append(PodShape.of(Resources(cpu=rng.choice([4000, 8000]), memory=rng.choice([16, 32]) * GI, gpu=rng.choice([1, 2, 4]), pods=1), GPU_CONSTRAINTS))
    return [_pod(i, shapes[i % 100], f"ReplicaSet/bench/w{i % 100}") for i in range(count)]


def all_distinct(count: int, rng: random.Random) -> list[Pod]:
    pods = []
    for index in range(count):
        if index % 10 < 7:  # mostly small bin-pack pods
            requests = Resources(cpu=50 + index % 1900, memory=(64 + (index * 7919) % 4000) * MI, pods=1)
            pods.append(_pod(index, PodShape.of(requests), f"ReplicaSet/bench/a{index}"))
        elif index % 10 < 9:
            requests = Resources(cpu=2000 + (index * 13) % 30000, memory=(8 * 1024 + (index * 104729) % 100000) * MI, pods=1)
            pods.append(_pod(index, PodShape.of(requests), f"ReplicaSet/bench/b{index}"))
        else:
            requests = Resources(cpu=1000 + (index * 7) % 15000, memory=(4 * 1024 + index % 60000) * MI, gpu=1 + index % 4, pods=1)
            pods.append(_pod(index, PodShape.of(requests, GPU_CONSTRAINTS), f"ReplicaSet/bench/g{index}"))
    rng.shuffle(pods)
    return pods


def measure(name: str, pods: list[Pod], config: Config, repeat: int, target: float) -> None:
    catalog = region_catalog("aws", "us-east-1")
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = plan(pods, catalog, config)
        times.append(time.perf_counter() - start)
    assert result is not None
    placed = sum(len(node.pods) for node in result.new_nodes)
    verdict = "ok" if min(times) <= target else "SLOW"
    print(
        f"{name:<40} pods={len(pods):>6} new_nodes={len(result.new_nodes):>6} placed={placed:>6} "
        f"unplaceable={len(result.unplaceable):>5} $/h={result.hourly_cost:>10.4f}  "
        f"best={min(times):.3f}s median={statistics.median(times):.3f}s target<={target}s {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    start = time.perf_counter()
    region_catalog("aws", "us-east-1")
    print(f"catalog aws us-east-1 built in {time.perf_counter() - start:.3f}s (once per process)")
    config = config_from_mapping({})
    measure("50,000 identical bin-pack pods", identical_bin_pack(50_000), config, args.repeat, 0.2)
    measure("50,000 pods in 100 shapes", hundred_shapes(50_000, rng), config, args.repeat, 1.0)
    measure("20,000 pods, all-distinct requests", all_distinct(20_000, rng), config, args.repeat, 2.0)


if __name__ == "__main__":
    main()
