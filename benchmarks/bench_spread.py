"""Zone spread scales with the pods (issue 18): 6,000 Deployments x 3 replicas, each with its own
zone topology spread (maxSkew 1, DoNotSchedule), against the same pods without the spread.

Run: python benchmarks/bench_spread.py [--deployments N] [--replicas R] [--repeat N] [--cloud aws]
Target: the spread plan takes at most 2x the time and 2x the memory (tracemalloc peak) of the
plain plan, planned as `preview` plans (the first plan of a process: cold), judged on CPU time
(wall time on a shared machine measures the queue for a core). Prints both
figures, their ratios, and the warm ratio (the daemon's repeated plans, option book built).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
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


def measure(pods: list[Pod], cloud: str, repeat: int, memory: bool) -> dict:
    """Cold: the first plan of a process (the option book built from the catalog, as `preview`
    plans); warm: the median of `repeat` plans after it (the daemon). With `memory`, the cold
    plan's tracemalloc peak instead (tracing slows it: never timed together)."""
    catalog = region_catalog(cloud, DEFAULT_REGIONS[cloud])
    config = config_from_mapping({})
    if memory:
        tracemalloc.start()
        plan(pods, catalog, config)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"mib": peak / MI}
    start, cpu = time.perf_counter(), time.process_time()
    result = plan(pods, catalog, config)
    cold, cold_cpu = time.perf_counter() - start, time.process_time() - cpu
    times, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        plan(pods, catalog, config)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    zones = sorted({node.option.zones[0] for node in result.new_nodes if len(node.option.zones) == 1})
    return {
        "cold": cold, "warm": statistics.median(times), "cold_cpu": cold_cpu, "warm_cpu": statistics.median(cpus), "nodes": len(result.new_nodes),
        "unplaceable": len(result.unplaceable), "zones": len(zones), "pods": len(pods),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=6000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cloud", default="aws")
    parser.add_argument("--one", choices=["plain", "spread"], help=argparse.SUPPRESS)  # one scenario, JSON out
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        pods = deployments(args.deployments, args.replicas, args.one == "spread")
        print(json.dumps(measure(pods, args.cloud, args.repeat, args.memory)))
        return
    figures = {}
    for name in ("plain", "spread"):  # each in a fresh process: cold figures are a first plan's
        command = [sys.executable, __file__, "--one", name, "--deployments", str(args.deployments),
                   "--replicas", str(args.replicas), "--repeat", str(args.repeat), "--cloud", args.cloud]
        found = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        found.update(json.loads(subprocess.run(command + ["--memory"], check=True, capture_output=True, text=True).stdout))
        figures[name] = found
        print(
            f"{'zone spread' if name == 'spread' else 'no spread':<12} pods={found['pods']:>6} new_nodes={found['nodes']:>5} "
            f"unplaceable={found['unplaceable']:>5} zones={found['zones']}  cold={found['cold']:.3f}s "
            f"(cpu {found['cold_cpu']:.3f}s) warm={found['warm']:.3f}s (cpu {found['warm_cpu']:.3f}s) peak={found['mib']:.1f} MiB"
        )
    cold = figures["spread"]["cold_cpu"] / figures["plain"]["cold_cpu"]
    warm = figures["spread"]["warm_cpu"] / figures["plain"]["warm_cpu"]
    memory = figures["spread"]["mib"] / figures["plain"]["mib"]
    verdict = "ok" if cold <= 2 and memory <= 2 else "SLOW"
    print(f"spread/plain (CPU time): cold x{cold:.2f}, memory x{memory:.2f} (target <= 2x both) {verdict}; warm x{warm:.2f}")


if __name__ == "__main__":
    main()
