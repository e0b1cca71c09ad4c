"""Ways to make pods land on the nodes launched for them, measured on the real control plane.

Starts the e2e control plane (tests/controlplane: kube-apiserver with ExtendedResourceToleration,
kube-scheduler, kwok) and, for each candidate, prints what an operator pays and gets:

1. device taints: a GPU node tainted `nvidia.com/gpu=present:NoSchedule` (as the daemon
   launches it) and a CPU node; a GPU pod and a small pod created. Create-to-bound latency, where
   each went, and whether the admission plugin gave the GPU pod its toleration.
2. scheduling gates + narrowed node affinity (the Kueue pattern): a pod created with a gate; a
   controller (this script, standing in for the daemon) narrows its node affinity to one node
   while gated, then lifts the gate. Create-to-bound latency with the gate lifted at once (the
   floor: the daemon would add up to one loopPeriod); and a gated pod nobody lifts (the daemon
   down): its state after 10 s.
3. a Luna-style mutating webhook adding a node selector: not run (it needs a TLS webhook
   server); its costs are one webhook round trip per pod create and the failurePolicy choice.

Usage: python3 benchmarks/landing_candidates.py [rounds]   (default 5 rounds per measurement)
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.controlplane import ControlPlane, ensure_binaries, kwok_node_manifest  # noqa: E402

GPU = "nvidia.com/gpu"
PAUSE = "registry.k8s.io/pause:3.10"


def pod(name: str, gpu: bool = False, gate: bool = False) -> dict:
    resources = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    if gpu:
        resources["limits"] = {GPU: "1"}
    spec: dict = {"terminationGracePeriodSeconds": 0, "containers": [{"name": "m", "image": PAUSE, "resources": resources}]}
    if gate:
        spec["schedulingGates"] = [{"name": "smart-autoscaler.io/placement"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def bound_after(core, namespace: str, name: str, t0: float, timeout: float = 30.0) -> tuple[float, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = core.read_namespaced_pod(name, namespace)
        if got.spec.node_name:
            return (time.monotonic() - t0) * 1000, got.spec.node_name
        time.sleep(0.01)
    raise TimeoutError(f"{name} not bound in {timeout}s")


def main(rounds: int) -> None:
    import kubernetes

    with ControlPlane(bin_dir=ensure_binaries()) as cp:
        api = kubernetes.config.new_client_from_config(config_file=str(cp.kubeconfig))
        core = kubernetes.client.CoreV1Api(api)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        core.create_namespace({"metadata": {"name": namespace}})
        cp.wait_for(lambda: core.read_namespaced_service_account("default", namespace), what="default SA")
        taint = [{"key": GPU, "value": "present", "effect": "NoSchedule"}]
        core.create_node(kwok_node_manifest("gpu-node", "64", "256Gi", gpus=64, taints=taint))
        core.create_node(kwok_node_manifest("cpu-node", "64", "256Gi"))
        for name in ("gpu-node", "cpu-node"):
            cp.wait_for(lambda n=name: any(c.type == "Ready" and c.status == "True"
                                           for c in core.read_node(n).status.conditions or []), what=name)

        taint_ms, gpu_nodes, small_nodes, tolerated = [], set(), set(), True
        for i in range(rounds):
            t0 = time.monotonic()
            core.create_namespaced_pod(namespace, pod(f"gpu-{i}", gpu=True))
            core.create_namespaced_pod(namespace, pod(f"small-{i}"))
            ms, node = bound_after(core, namespace, f"gpu-{i}", t0)
            taint_ms.append(ms)
            gpu_nodes.add(node)
            small_nodes.add(bound_after(core, namespace, f"small-{i}", t0)[1])
            stored = core.read_namespaced_pod(f"gpu-{i}", namespace)
            tolerated &= any(t.key == GPU and t.operator == "Exists" for t in stored.spec.tolerations or [])
        print("1. device taints")
        print(f"   GPU pod create-to-bound: median {statistics.median(taint_ms):.0f} ms, max {max(taint_ms):.0f} ms")
        print(f"   GPU pods on {sorted(gpu_nodes)}, small pods on {sorted(small_nodes)}; "
              f"toleration added by ExtendedResourceToleration: {tolerated}")

        gate_ms, narrowed_nodes = [], set()
        for i in range(rounds):
            t0 = time.monotonic()
            core.create_namespaced_pod(namespace, pod(f"gated-{i}", gate=True))
            affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["cpu-node"]}]}]}}}
            core.patch_namespaced_pod(f"gated-{i}", namespace, {"spec": {"affinity": affinity}})
            core.patch_namespaced_pod(f"gated-{i}", namespace, {"spec": {"schedulingGates": None}})
            ms, node = bound_after(core, namespace, f"gated-{i}", t0)
            gate_ms.append(ms)
            narrowed_nodes.add(node)
        core.create_namespaced_pod(namespace, pod("gated-forever", gate=True))
        time.sleep(10)
        stuck = core.read_namespaced_pod("gated-forever", namespace)
        condition = next((c for c in stuck.status.conditions or [] if c.type == "PodScheduled"), None)
        print("2. scheduling gates + node affinity narrowed while gated")
        print(f"   create, narrow, ungate, bound: median {statistics.median(gate_ms):.0f} ms, max {max(gate_ms):.0f} ms "
              f"(+ up to one loopPeriod in the daemon); landed on {sorted(narrowed_nodes)}")
        print(f"   gate never lifted (daemon down), after 10 s: node {stuck.spec.node_name or 'none'}, "
              f"PodScheduled {condition.status if condition else '?'} {condition.reason if condition else ''}")
        print("3. mutating webhook adding a node selector: not run (needs a TLS webhook server); one webhook "
              "round trip per pod create, failurePolicy Fail blocks creation while the daemon is down")
        core.delete_namespace(namespace)
        api.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
