"""Flex sizing speed on OCI (issue: OCI provider). Prints seconds per scenario.

Each distinct need sizes every Flex shape once (pricing.flex.cheapest_config: a scan over
OCPU counts with a binary search over memory, cut short once a size cannot be cheaper).

Run: python benchmarks/bench_flex.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.config import Config  # noqa: E402
from autoscaler.model import Pod, PodShape  # noqa: E402
from autoscaler.planner import plan  # noqa: E402
from autoscaler.resources import Resources  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402

MI = 2**20


def distinct(count: int) -> list[Pod]:
    """Bin-select pods, every one with its own CPU and memory request."""
    return [
        Pod(namespace="bench", name=f"p-{i}", owner=f"ReplicaSet/bench/p-{i}", unschedulable=True,
            shape=PodShape.of(Resources(cpu=2000 + 7 * i, memory=(8192 + 13 * i) * MI, pods=1)))
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    catalog = region_catalog("oci", "us-ashburn-1")
    config = Config(cloud="oci", region="us-ashburn-1")
    for count in (100, 2000):
        pods = distinct(count)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = plan(pods, catalog, config)
            times.append(time.perf_counter() - started)
        flex = sum(1 for node in result.new_nodes if node.option.instance_type.flexible)
        print(f"{count:>5} distinct Flex-sized pods  new_nodes={len(result.new_nodes):>5} flex={flex:>5} "
              f"$/h={result.hourly_cost:10.4f}  best={min(times):.3f}s median={statistics.median(times):.3f}s")


if __name__ == "__main__":
    main()
