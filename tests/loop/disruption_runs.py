"""Seeded random runs of the real loop on the in-memory cluster, with every disruption at once.

Each run interleaves, on the simulated clock: workloads arriving and leaving (some with
PodDisruptionBudgets, some marked do-not-evict), usage changes read through the simulated
metrics-server, scale-down, hot-node mitigation and node TTL cycling. Every eviction is
checked as it happens, against the cluster as it is at that moment:

- a PDB violation: the eviction went through while the budget allowed no disruption;
- a do-not-evict pod evicted;
- a drained pod with nowhere to go: the pods a drain evicts from a node in one loop, placed
  together (largest first) on the other nodes as they are at that moment, do not all fit (no
  cluster limit is set in these runs, so a replacement was always possible);
- a node drained by two jobs at once, or a hot-node eviction from a node being drained;
- more than nodeTTLMaxParallel nodes cycling after any step.

`run(seed)` returns the counts; tests/loop/test_disruption_properties.py asserts them over
hundreds of seeds and benchmarks/bench_disruptions.py runs more.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from autoscaler.cluster import EvictionOutcome
from autoscaler.config import config_from_mapping
from autoscaler.quantity import parse_count, parse_cpu_millis
from autoscaler.nodeload import evictable
from autoscaler.sim.cluster import PdbSpec
from autoscaler.sim.scenario import Scenario, ScenarioEvent, Simulation

MI = 2**20


@dataclass
class Counts:
    evictions: dict[str, int] = field(default_factory=dict)  # by reason: hot-node, ttl, unneeded
    refused: int = 0  # 429s (PDB) the loop got and respected
    pdb_violations: int = 0
    do_not_evict_evicted: int = 0
    nowhere_to_go: int = 0
    double_drains: int = 0
    hot_evictions_while_draining: int = 0
    over_cycling_limit: int = 0
    nodes_cycled: int = 0
    hot_taints: int = 0
    launches: int = 0

    def add(self, other: "Counts") -> None:
        for name, value in vars(other).items():
            if isinstance(value, dict):
                for key, count in value.items():
                    self.evictions[key] = self.evictions.get(key, 0) + count
            else:
                setattr(self, name, getattr(self, name) + value)

    @property
    def violations(self) -> int:
        return (self.pdb_violations + self.do_not_evict_evicted + self.nowhere_to_go + self.double_drains
                + self.hot_evictions_while_draining + self.over_cycling_limit)


def _deployment(name: str, replicas: int, cpu: str, memory: str, do_not_evict: bool) -> str:
    annotations = '{smart-autoscaler.io/do-not-evict: "true"}' if do_not_evict else "{}"
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: run}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}, smart-autoscaler.io/managed: "true"}}
      annotations: {annotations}
    spec:
      containers:
      - {{name: main, image: app, resources: {{requests: {{cpu: "{cpu}", memory: {memory}}}}}}}
"""


class DisruptionRun:
    def __init__(self, seed: int, hours: float = 1.0, step: float = 60.0, cloud: str = "gcp", region: str = "us-central1") -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.max_parallel = rng.choice((1, 1, 2))
        config = config_from_mapping({
            "nodeTTL": f"{rng.randint(20, 45)}m",
            "nodeTTLJitter": "5m",
            "nodeTTLMaxParallel": self.max_parallel,
            "manageHighUtilization": {"enabled": True, "loopPeriod": "1m"},
            "scaleDown": {"nodeUnneededDuration": "3m", "binPackNodeUtilizationThreshold": 0.3, "maxParallel": 2},
        })
        scenario = Scenario(
            name=f"disruptions seed {seed}", cloud=cloud, region=region, duration=hours * 3600, step=step,
            config=config, launch_delay=60.0, events=[], base_dir=Path("."), ready_delay=rng.choice((0.0, 20.0)),
        )
        self.sim = Simulation(scenario, track_cheapest=False)
        self.loop = self.sim.reconciler
        self.counts = Counts()
        self.plan: list[tuple[float, str, object]] = []
        self._state = self.sim.cluster.placement_state()
        self._verdicts: dict[str, bool] = {}
        self._state_at = -1.0
        self._make_plan(hours * 3600)
        self._instrument()

    # ---- what happens when

    def _make_plan(self, duration: float) -> None:
        rng = self.rng
        for index in range(rng.randint(4, 9)):
            name = f"w{index}"
            at = rng.uniform(0, duration * 0.6)
            cpu = rng.choice(("250m", "500m", "750m", "1", "1500m", "2500m"))
            memory = f"{rng.choice((256, 512, 1024, 2048))}Mi"
            replicas = rng.randint(1, 6)
            self.plan.append((at, "apply", (name, replicas, cpu, memory, rng.random() < 0.15)))
            if rng.random() < 0.35:
                blocking = rng.random() < 0.4
                self.plan.append((at, "pdb", (name, replicas, blocking)))
            for _ in range(rng.randint(1, 4)):
                share = rng.choice((0.05, 0.3, 0.7, 1.2, 2.0))
                self.plan.append((rng.uniform(at, duration), "usage", (name, cpu, memory, share)))
            if rng.random() < 0.5:
                self.plan.append((rng.uniform(at + 600, duration + 600), "delete", name))
        self.plan.sort(key=lambda item: item[0])

    def _do(self, action: str, spec) -> None:
        sim = self.sim
        if action == "apply":
            name, replicas, cpu, memory, dne = spec
            sim._apply(ScenarioEvent(0.0, "apply", _deployment(name, replicas, cpu, memory, dne)))
        elif action == "pdb":
            name, replicas, blocking = spec
            if blocking:
                pdb = PdbSpec("run", name, {"app": name}, max_unavailable=0)
            else:
                pdb = PdbSpec("run", name, {"app": name}, min_available=max(0, replicas - 1))
            sim.cluster.add_pdb(pdb)
        elif action == "usage":
            name, cpu, memory, share = spec
            for owner in sim.workloads.get(f"Deployment/run/{name}", ()):
                sim.metrics_server.set_usage(owner, int(parse_cpu_millis(cpu) * share), int(parse_count(memory) * min(share, 1.0)))
        elif action == "delete":
            for owner in sim.workloads.get(f"Deployment/run/{spec}", ()):
                sim.cluster.remove_workload(owner)

    # ---- checks, as things happen

    def _instrument(self) -> None:
        cluster, drainer = self.sim.cluster, self.loop.drainer
        evict, request = cluster.evict_pod, drainer.request

        def checked_evict(namespace: str, name: str) -> str:
            pod = cluster.pods.get(f"{namespace}/{name}")
            if pod is None:
                return evict(namespace, name)
            drain = drainer.drains.get(pod.node_name)
            reason = drain.kind if drain is not None else "hot-node"
            allowed = min((p.disruptions_allowed for p in cluster._pdb_infos() if p.selects(pod)), default=None)
            self._new_loop()
            state, verdicts = self._state.copy(), dict(self._verdicts)
            room = self._room_elsewhere(pod)
            outcome = evict(namespace, name)
            if outcome == EvictionOutcome.BLOCKED:
                self.counts.refused += 1
            if outcome != EvictionOutcome.EVICTED:
                self._state, self._verdicts = state, verdicts  # a refused pod takes no room
                return outcome
            self.counts.evictions[reason] = self.counts.evictions.get(reason, 0) + 1
            if allowed is not None and allowed <= 0:
                self.counts.pdb_violations += 1
            if pod.do_not_evict:
                self.counts.do_not_evict_evicted += 1
            if reason != "hot-node" and not room:
                self.counts.nowhere_to_go += 1
            return outcome

        def checked_request(node, reason: str, kind: str, now: float, recheck=None) -> bool:
            current = drainer.drains.get(node.name)
            if current is not None and current.kind != kind:
                self.counts.double_drains += 1
            return request(node, reason, kind, now, recheck)

        cluster.evict_pod = checked_evict
        drainer.request = checked_request
        hot = self.loop.hot_nodes
        hot_act = hot._evict

        def hot_evict(node, pod, action, now):
            if node.name in drainer.drains:
                self.counts.hot_evictions_while_draining += 1
            return hot_act(node, pod, action, now)

        hot._evict = hot_evict

    def _room_elsewhere(self, pod) -> bool:
        """Whether the pod has somewhere to go: the drain evicts every pod of its node in one
        loop, so all of them are placed together, largest first, on the other nodes as the
        cluster's scheduler sees them now (the one placement simulation; room given to the pods
        of other drains this loop counts as used)."""
        self._new_loop()
        if pod.key not in self._verdicts:
            cluster = self.sim.cluster
            group = [p for p in cluster.pods.values() if p.node_name == pod.node_name and evictable(p)]
            names = [name for name in sorted(cluster.nodes) if name != pod.node_name]
            for member in sorted(group, key=lambda p: (p.requests.cpu, p.requests.memory, p.key), reverse=True):
                chosen, _ = self._state.first_fit(member, names)
                if chosen is not None:
                    self._state.place(member, chosen)
                self._verdicts[member.key] = chosen is not None
        return self._verdicts.get(pod.key, False)

    def _new_loop(self) -> None:
        now = self.sim.clock.now()
        if self._state_at != now:
            self._state_at, self._state, self._verdicts = now, self.sim.cluster.placement_state(), {}

    # ---- running

    def run(self) -> Counts:
        sim = self.sim
        end = sim.start + sim.scenario.duration
        while sim.clock.now() < end:
            now = sim.clock.now() - sim.start
            while self.plan and self.plan[0][0] <= now:
                _, action, spec = self.plan.pop(0)
                self._do(action, spec)
            sim.step()
            cycling = sum(1 for cycle in self.loop.ttl.cycles.values() if not cycle.held)
            ttl_drains = sum(1 for d in self.loop.drainer.drains.values() if d.kind == "ttl")
            if max(cycling, ttl_drains) > self.max_parallel:
                self.counts.over_cycling_limit += 1
        self.counts.nodes_cycled = len(self.loop.ttl.cycled)
        self.counts.hot_taints = sum(1 for e in sim.cluster.events if e.reason == "HotNodeTainted")
        self.counts.launches = len(sim.provider.launched)
        return self.counts


def run(seed: int, hours: float = 1.0, step: float = 60.0, cloud: str = "gcp", region: str = "us-central1") -> Counts:
    """One run; GCP's catalog by default (the properties hold for any cloud, and its 814
    offerings plan faster than AWS's 12,000)."""
    return DisruptionRun(seed, hours, step, cloud, region).run()
