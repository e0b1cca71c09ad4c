"""One reconcile on a big cluster (issue: the daemon). Prints seconds and cache memory.

Run: python benchmarks/bench_reconcile.py
Targets on a 2-core machine (issue "faster than every peer, cold"): one reconcile of 5,000 nodes
and 50,000 pods (1,000 pending) <= 0.2 s; the process's RSS with that cluster cached <= 200 MB.
The loop runs as the daemon's does: one Reconciler, loop after loop (the first loop is timed too).

Pods and nodes are built from API-shaped JSON through the same converters the watch caches
use (`pod_from_manifest`, `node_from_api`), so the memory figure is what the caches hold.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.clock import SimClock  # noqa: E402
from autoscaler.config import Config  # noqa: E402
from autoscaler.kube.convert import node_from_api  # noqa: E402
from autoscaler.sim.cluster import InMemoryCluster  # noqa: E402
from autoscaler.podspec import pod_from_manifest  # noqa: E402
from autoscaler.loop.reconcile import Reconciler  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from autoscaler.sim.cloud import SimulatedProvider  # noqa: E402

NODES, PODS, PENDING = 5_000, 50_000, 1_000


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * 4096 / 2**20


def node_json(index: int) -> dict:
    name = f"ip-10-0-{index // 250}-{index % 250}.ec2.internal"
    return {
        "metadata": {
            "name": name,
            "uid": f"node-uid-{index}",
            "resourceVersion": str(1000 + index),
            "creationTimestamp": "2026-11-01T00:00:00Z",
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m6a.4xlarge",
                "topology.kubernetes.io/zone": f"us-east-1{'abcdf'[index % 5]}",
                "topology.kubernetes.io/region": "us-east-1",
                "smart-autoscaler.io/created-by": "smart-autoscaler",
                "smart-autoscaler.io/node-type": "bin-pack",
                "smart-autoscaler.io/capacity-type": "on-demand",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"providerID": f"aws:///us-east-1a/i-{index:017x}"},
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "234", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "15890m", "memory": "57Gi", "pods": "234", "ephemeral-storage": "90Gi"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod_json(index: int, node: str | None) -> dict:
    app = f"svc-{index % 400}"
    status: dict = {"phase": "Running" if node else "Pending"}
    if not node:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "message": "0/5000 nodes are available: 5000 Insufficient cpu."}]
    return {
        "metadata": {
            "name": f"{app}-7d9f8b6c4-{index:05d}",
            "namespace": f"team-{index % 20}",
            "uid": f"pod-uid-{index}",
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "labels": {"app": app, "pod-template-hash": "7d9f8b6c4", "smart-autoscaler.io/managed": "true"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-7d9f8b6c4",
                                 "uid": f"rs-{app}", "controller": True}],
        },
        "spec": {
            "nodeName": node or "",
            "containers": [{"name": "app", "image": "example/app:1", "resources": {
                "requests": {"cpu": f"{100 + (index % 8) * 50}m", "memory": f"{128 * (1 + index % 6)}Mi"}}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
        },
        "status": status,
    }


def main() -> None:
    gc.collect()
    before = rss_mb()
    clock = SimClock()
    cluster = InMemoryCluster(clock)
    start = time.perf_counter()
    for index in range(NODES):
        cluster.add_node(node_from_api(node_json(index)))
    node_names = list(cluster.nodes)
    for index in range(PODS):
        bound = index >= PENDING
        cluster.add_pod(pod_from_manifest(pod_json(index, node_names[index % NODES] if bound else None)))
    built = time.perf_counter() - start
    gc.collect()
    after = rss_mb()
    print(f"cluster: {NODES} nodes, {PODS} pods ({PENDING} pending) converted from API JSON in {built:.2f}s")
    print(f"cache memory: {after - before:.1f} MB RSS for the converted objects (process RSS {after:.0f} MB)")
    catalog = region_catalog("aws", "us-east-1")
    provider = SimulatedProvider(clock, "bench")
    reconciler = Reconciler(cluster, provider, catalog, Config(), clock)
    times, cpu = [], []
    for _ in range(6):
        started, started_cpu = time.perf_counter(), time.process_time()
        report = reconciler.reconcile_once()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        for instance in provider.list_instances():  # forget launches so each loop does the same work
            provider.terminate(instance.instance_id)
    rss = rss_mb()
    steady, steady_cpu = min(times[1:]), min(cpu[1:])
    verdict = "ok" if steady <= 0.2 else "SLOW"
    print(
        f"reconcile_once: pending={report.pending} launched={len(report.launched)} unplaceable={report.unplaceable} "
        f"first={times[0]:.3f}s best={steady:.3f}s (cpu {steady_cpu:.3f}s) median={statistics.median(times[1:]):.3f}s "
        f"target<=0.2s {verdict}; process RSS {rss:.0f} MB target<=200 MB {'ok' if rss <= 200 else 'MISS'}"
    )

if __name__ == "__main__":
    main()
