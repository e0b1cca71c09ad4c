"""Zone spread scales with the pods (issue 18): 6,000 Deployments x 3 replicas, each with its own
zone topology spread (maxSkew 1, DoNotSchedule), against the same pods without the spread.

Run: python benchmarks/bench_spread.py [--deployments N] [--replicas R] [--repeat N] [--cloud aws]
Target: the spread plan takes at most 2x the time and 2x the memory (tracemalloc peak) of the
plain plan. Prints both figures and their ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.model import Pod, PodConstraints, PodSelector, PodShape, SpreadConstraint  # noqa: E402
from autoscaler.nodelabels import ZONE  # noqa: E402
from autoscaler.planner import plan  # noqa: E402
from autoscaler.resources import Resources  # noqa: E402
from pricing.catalog import DEFAULT_REGIONS, region_catalog  # noqa: E402

MI = 2**20


def deployments(count: int, replicas: int, spread: bool) -> list[Pod]:
    """`count` Deployments of `replicas` small pods (250m, 512Mi); with `spread`, each spreads its
    own pods (app=<name>) over zones with maxSkew 1."""
    pods = []
    for index in range(count):
        app = f"d{index}"
        constraints = PodConstraints()
        if spread:
            selector = PodSelector(match_labels=(("app", app),))
            constraints = PodConstraints(spread=(SpreadConstraint(selector, ZONE, max_skew=1),))
        shape = PodShape.of(Resources(cpu=250, memory=512 * MI, pods=1), constraints)
        for replica in range(replicas):
            pods.append(
                Pod(namespace="bench", name=f"{app}-{replica}", shape=shape, owner=f"ReplicaSet/bench/{app}",
                    labels={"app": app}, unschedulable=True)
            )
    return pods


def measure(pods: list[Pod], cloud: str, repeat: int) -> tuple[float, float, object]:
    catalog = region_catalog(cloud, DEFAULT_REGIONS[cloud])
    config = config_from_mapping({})
    plan(pods[:30], catalog, config)  # option book built once, as in the daemon
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = plan(pods, catalog, config)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    plan(pods, catalog, config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / MI, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=6000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cloud", default="aws")
    args = parser.parse_args()
    figures = {}
    for spread in (False, True):
        pods = deployments(args.deployments, args.replicas, spread)
        seconds, mib, result = measure(pods, args.cloud, args.repeat)
        zones = sorted({node.option.zones[0] for node in result.new_nodes if node.option.zones})
        figures[spread] = (seconds, mib)
        print(
            f"{'zone spread' if spread else 'no spread':<12} pods={len(pods):>6} new_nodes={len(result.new_nodes):>5} "
            f"unplaceable={len(result.unplaceable):>5} zones={len(zones)} median={seconds:.3f}s peak={mib:.1f} MiB"
        )
    time_ratio = figures[True][0] / figures[False][0]
    memory_ratio = figures[True][1] / figures[False][1]
    verdict = "ok" if time_ratio <= 2 and memory_ratio <= 2 else "SLOW"
    print(f"spread/plain: time x{time_ratio:.2f}, memory x{memory_ratio:.2f} (target <= 2x both) {verdict}")


if __name__ == "__main__":
    main()
