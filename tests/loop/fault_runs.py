"""Seeded fault schedules for the real loop on the in-memory cluster and the simulated cloud
(issue 19, item 7).

Each run interleaves, on the simulated clock (2 s loops): workloads arriving, scaling and
leaving; pods bound to nodes whose spec the planner cannot read (random invalid fields, bare or owned,
read through `autoscaler.podrecord.read_pod` as the daemon's pod cache reads them); and faults:

- API outages (the in-memory cluster's `api_down()` / `api_up()`: caches keep what they saw,
  every call fails, nothing is scheduled or registered), some as short as one loop (a
  watch dropped and resumed);
- stale nodes: a node turns NotReady with the `not-ready` / `unreachable` taints for a while;
- cloud errors: listing instances throttled for a few loops;
- out-of-band deletions: a managed Node deleted by hand (its instance keeps running);
- operator drains through the drain machine;
- crashes at every step: the process dies right after one of its calls (a launch, a
  termination, a node patch, an eviction, a node deletion) -- the call took effect, its
  answer is lost -- or between loops, and a new process starts from what the cluster and the
  cloud say.

Checked as things happen and at the end:
- no pod disappears without an eviction: when the autoscaler deletes a Node, no workload pod
  is bound to it (pods go only through the Eviction API);
- no instance outlives its need: after a quiet last quarter, every instance has a Node, and
  every managed pod with a readable spec that still exists runs;
- no offering is backed off for a node that registered (an out-of-band deletion is no
  launch failure), and no two live instances answer the same request id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from autoscaler.cluster import KubeNode
from autoscaler.config import config_from_mapping
from autoscaler.loop.reconcile import Reconciler
from autoscaler.podrecord import read_pod
from autoscaler.podspec import PodSpecError
from autoscaler.nodeload import evictable
from autoscaler.sim.scenario import Scenario, Simulation
from autoscaler.snapshot import is_managed_node
from pricing.types import Taint
from providers.base import Throttled
from tests.helpers import pod_manifest

STEP = 2.0
NOT_READY = Taint("node.kubernetes.io/not-ready", "", "NoExecute")
UNREACHABLE = Taint("node.kubernetes.io/unreachable", "", "NoSchedule")
# Specs the API server may hold but the planner refuses (values past Kubernetes' own limits,
# wrong types an older API server or a webhook let through), applied to a valid pod spec.
BAD_SPECS = (
    lambda spec: spec["containers"][0]["resources"]["requests"].update(cpu="1e30"),
    lambda spec: spec["containers"][0]["resources"]["requests"].update(cpu="99999999999999999999"),
    lambda spec: spec["containers"][0]["resources"]["requests"].update(memory="-1Gi"),
    lambda spec: spec["containers"][0]["resources"]["requests"].update({"nvidia.com/gpu": "1.5"}),
    lambda spec: spec.update(priority="high"),
    lambda spec: spec.update(tolerations="all"),
    lambda spec: spec.update(nodeSelector=["not", "a", "map"]),
    lambda spec: spec["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 70000}]),
)


class Crash(BaseException):
    """The process dies (a BaseException: no `except Exception` in the loop contains it)."""


@dataclass
class Counts:
    launched: int = 0
    crashes: int = 0
    outages: int = 0
    deleted_by_hand: int = 0
    unreadable_pods: int = 0
    evictions: int = 0
    lost_pods: list[str] = field(default_factory=list)  # bound to a node the autoscaler deleted
    leaked: list[str] = field(default_factory=list)  # instances without a Node at the end
    waiting: list[str] = field(default_factory=list)  # readable managed pods not running at the end
    duplicate_requests: int = 0
    bad_backoffs: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        found = [f"pod {p} lost without an eviction" for p in self.lost_pods]
        found += [f"instance {i} leaked" for i in self.leaked]
        found += [f"pod {p} still waits" for p in self.waiting]
        found += [f"{self.duplicate_requests} instances share a request id"] if self.duplicate_requests else []
        return found + self.bad_backoffs


class FaultRun:
    def __init__(self, seed: int, duration: float = 480.0) -> None:
        self.rng = rng = random.Random(seed)
        self.duration = duration
        config = config_from_mapping({
            "loopPeriod": f"{STEP:g}s",
            "scaleUpTimeout": "90s",
            "scaleDown": {"nodeUnneededDuration": f"{rng.choice((10, 20, 40))}s", "maxParallel": 2,
                          "binPackNodeUtilizationThreshold": rng.choice((0.0, 0.3))},
            **({"nodeTTL": f"{rng.randint(120, 240)}s", "nodeTTLJitter": "10s"} if rng.random() < 0.5 else {}),
        })
        self.config = config
        scenario = Scenario(f"faults seed {seed}", "aws", "us-east-1", duration, STEP, config,
                            rng.choice((6.0, 10.0, 20.0)), [], Path("."), ready_delay=rng.choice((0.0, 4.0)))
        self.sim = sim = Simulation(scenario, track_cheapest=False)
        sim.cloud_init_delay = rng.choice((0.0, 3.0, 8.0))
        self.counts = Counts()
        self.by_hand: set[str] = set()  # instances whose Node was deleted by hand
        self.gone_by_hand: set[str] = set()  # pods bound to nodes deleted by hand (not ours to keep)
        self.unreadable: set[str] = set()
        self.crash_after: int | None = None
        self.crash_between = False
        self._list_fails_until = -1.0
        self._plan = self._schedule()
        self._instrument()

    # ---- the schedule

    def _schedule(self) -> list[tuple[float, str, object]]:
        rng, quiet = self.rng, self.duration * 0.7
        plan: list[tuple[float, str, object]] = []
        for index in range(rng.randint(3, 6)):
            at = rng.uniform(0, quiet * 0.8)
            plan.append((at, "apply", (f"w{index}", rng.randint(1, 5), rng.choice(("250m", "500m", "1", "1500m", "3")))))
            if rng.random() < 0.4:
                plan.append((rng.uniform(at + 30, quiet), "delete", f"w{index}"))
        faults = ("outage", "blip", "stale", "cloud", "by-hand", "drain", "crash", "crash", "unreadable", "unreadable")
        for _ in range(rng.randint(8, 16)):
            plan.append((rng.uniform(10, quiet), rng.choice(faults), rng.random()))
        return sorted(plan, key=lambda item: item[0])

    def _do(self, action: str, spec) -> None:
        sim, rng, now = self.sim, self.rng, self.sim.clock.now()
        managed = sorted(n for n, node in sim.cluster.nodes.items() if is_managed_node(node))
        if action == "apply":
            name, replicas, cpu = spec
            for i in range(replicas):
                manifest = pod_manifest(f"{name}-{i}", cpu, "1Gi", owner=f"ReplicaSet/{name}")
                sim.cluster.add_pod(replace(read_pod(manifest), unschedulable=False, created=now))
        elif action == "delete":
            sim.cluster.remove_workload(f"ReplicaSet/default/{spec}")
        elif action == "outage":
            self.counts.outages += 1
            sim.cluster.api_down()
            self._at(now + rng.uniform(4, 30), sim.cluster.api_up)
        elif action == "blip":  # a watch dropped and resumed: one loop without the API
            sim.cluster.api_down()
            self._at(now + STEP, sim.cluster.api_up)
        elif action == "stale" and managed:
            name = rng.choice(managed)
            node = sim.cluster.nodes[name]
            sim.cluster.nodes[name] = replace(node, ready=False, taints=tuple(node.taints) + (NOT_READY, UNREACHABLE))
            self._at(now + rng.uniform(4, 20), lambda: self._recover(name))
        elif action == "cloud":
            self._list_fails_until = now + rng.uniform(2, 12)
        elif action == "by-hand" and managed and not sim.cluster._outage:
            name = rng.choice(managed)
            self.by_hand.add(sim.cluster.nodes[name].provider_id.rsplit("/", 1)[-1])  # its instance id
            self.gone_by_hand |= {k for k, p in sim.cluster.pods.items() if p.node_name == name}
            self.counts.deleted_by_hand += 1
            self._delete(name)
        elif action == "drain" and managed:
            try:
                sim.reconciler.drainer.request(sim.cluster.nodes[managed[0]], "an operator asked", "operator", now)
            except Crash:
                self._restart()
        elif action == "crash":
            if spec < 0.3:
                self.crash_between = True
            else:
                self.crash_after = rng.randint(0, 3)  # the process dies after its next few calls
        elif action == "unreadable" and managed:
            name = rng.choice(managed)
            pod_name = f"odd-{len(self.unreadable)}"
            owner = rng.choice((f"ReplicaSet/odd-{len(self.unreadable)}", None))  # some bare
            manifest = pod_manifest(pod_name, rng.choice(("100m", "2")), "1Gi", owner=owner,
                                    labels={"smart-autoscaler.io/managed": rng.choice(("true", "false"))})
            rng.choice(BAD_SPECS)(manifest["spec"])
            manifest["spec"]["nodeName"] = name
            manifest["status"] = {"phase": "Running"}
            try:
                pod = read_pod(manifest)
            except PodSpecError:
                return
            self.unreadable.add(pod.key)
            self.counts.unreadable_pods += 1
            sim.cluster.add_pod(pod)

    def _recover(self, name: str) -> None:
        node = self.sim.cluster.nodes.get(name)
        if node is not None:
            taints = tuple(t for t in node.taints if t not in (NOT_READY, UNREACHABLE))
            self.sim.cluster.nodes[name] = replace(node, ready=True, taints=taints)

    def _at(self, when: float, action) -> None:
        self._plan.append((when - self.sim.start, "call", action))
        self._plan.sort(key=lambda item: item[0])

    # ---- instruments: crashes, and what every Node deletion takes with it

    def _instrument(self) -> None:
        sim = self.sim
        cluster, provider = sim.cluster, sim.provider
        self._delete = cluster.delete_node

        def crashing(call):
            def wrapped(*args, **kwargs):
                result = call(*args, **kwargs)
                if self.crash_after is not None:
                    if self.crash_after <= 0:
                        self.crash_after = None
                        self.crash_between = True  # a cloud call's answer is lost with the process
                        if call.__name__ != "launch" and call.__name__ != "terminate":
                            raise Crash(call.__name__)
                    else:
                        self.crash_after -= 1
                return result
            wrapped.__name__ = call.__name__
            return wrapped

        def autoscaler_deletes(name: str) -> None:
            bound = [k for k, p in cluster.pods.items() if p.node_name == name and evictable(p)]
            self.counts.lost_pods.extend(bound)
            self._delete(name)

        def listing():
            if sim.clock.now() < self._list_fails_until:
                raise Throttled("Rate exceeded", code="RequestLimitExceeded")
            return list_instances()

        list_instances = provider.list_instances
        cluster.patch_node = crashing(cluster.patch_node)
        cluster.evict_pod = crashing(cluster.evict_pod)
        cluster.delete_node = crashing(autoscaler_deletes)
        provider.launch = crashing(provider.launch)
        provider.terminate = crashing(provider.terminate)
        provider.list_instances = listing
        # The simulated cloud's registrar deletes a terminated instance's Node: the cloud's
        # doing, after the autoscaler's own checks (its instance is gone), not a by-hand deletion.
        sim._terminated = lambda instance: self._delete_quietly(instance)

    def _delete_quietly(self, instance) -> None:
        from autoscaler.sim.kubelet import node_name_for

        name = node_name_for(instance)
        if name in self.sim.cluster.nodes:
            bound = [k for k, p in self.sim.cluster.pods.items() if p.node_name == name and evictable(p)]
            self.counts.lost_pods.extend(bound)
            self._delete(name)

    def _restart(self) -> None:
        sim = self.sim
        self.counts.crashes += 1
        self.crash_between = False
        sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, self.config, sim.clock, usage=sim.metrics_server)

    # ---- running

    def run(self) -> Counts:
        sim = self.sim
        end = sim.start + self.duration
        while sim.clock.now() < end:
            now = sim.clock.now()
            while self._plan and sim.start + self._plan[0][0] <= now:
                _, action, spec = self._plan.pop(0)
                spec() if action == "call" else self._do(action, spec)
            sim.provider.tick()
            sim.cluster.schedule()
            try:
                sim.reconciler.reconcile_once()
            except Crash:
                self._restart()
            if self.crash_between:
                self._restart()
            sim.cluster.schedule()
            sim.clock.advance(STEP)
        self._finish()
        return self.counts

    def _finish(self) -> None:
        sim, counts = self.sim, self.counts
        counts.launched = len(sim.provider.launched)
        counts.evictions = len(sim.cluster.evictions)
        counts.lost_pods = [k for k in counts.lost_pods if k not in self.gone_by_hand]
        nodes = {node.provider_id for node in sim.cluster.nodes.values()}
        live = [i for i in sim.provider.list_instances()]
        counts.leaked = [i.instance_id for i in live if i.provider_id not in nodes and sim.clock.now() - i.launched_at > 60]
        requests = [i.request_id for i in live]
        counts.duplicate_requests = len(requests) - len(set(requests))
        counts.waiting = sorted(
            k for k, p in sim.cluster.pods.items()
            if not p.node_name and not p.terminal and not p.unreadable and k not in self.unreadable
            and p.labels.get("smart-autoscaler.io/managed") == "true"
        )
        for entry in sim.reconciler.timeline:
            if entry.kind == "timeout" and any(f"instance {iid} " in entry.message for iid in self.by_hand):
                counts.bad_backoffs.append(f"backed off after an out-of-band deletion: {entry.message}")


def run(seed: int, duration: float = 480.0) -> Counts:
    return FaultRun(seed, duration).run()
