"""One differential run: a generated workload through the planner and through the real
kube-scheduler, and the differences between them.

1. The existing nodes (kwok Nodes) and their pods (bound by spec.nodeName) are created, then
   the workload's ReplicaSets and Pods in a namespace of their own. kube-scheduler places what
   fits on the existing nodes and marks the rest Unschedulable.
2. The daemon's path: the API objects are read back and converted as the daemon converts them
   (`pod_from_manifest`, `node_from_api`, `planner_nodes`), the pods that need capacity
   (`needs_capacity`) are planned with the embedded catalog.
3. Exactly the planned nodes are created as kwok Nodes, labelled, tainted and sized as the
   provider would launch them (`node_labels`, the offering's taints, the type's allocatable
   and devices; one of the offering's zones).
4. kube-scheduler places the pods. The plan holds when every pod it placed is bound, no
   planned node stays empty and every pod it called unplaceable stays pending. Where the
   scheduler's scoring bound a pod to another planned node than the plan's (all fit; it
   prefers the emptiest), the run says so: a difference there may follow from that choice.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from autoscaler.cluster import ClusterView
from autoscaler.config import Config, config_from_mapping
from autoscaler.kube.convert import node_from_api
from autoscaler.nodelabels import HOSTNAME, node_labels
from autoscaler.planner import Plan, plan
from autoscaler.planner.needs import needs_capacity
from autoscaler.planner.options import OptionBook
from autoscaler.podspec import pod_from_manifest
from autoscaler.snapshot import PriceIndex, planner_nodes
from pricing.catalog import region_catalog
from tests.controlplane import kwok_node_manifest
from tests.differential.workloads import CONFIG, RUNTIME_CLASS_OBJECT, Workload

SETTLE_TIMEOUT = 30.0  # s for kube-scheduler to try every pod once
BIND_TIMEOUT = 20.0  # s for the planned pods to be bound once the planned nodes exist
POLL = 0.25


@dataclass
class Outcome:
    workload: Workload
    namespace: str
    pods: int = 0  # pods of the workload
    planned_pods: int = 0
    new_nodes: int = 0
    unplaceable: int = 0
    mismatches: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)  # pods bound to another planned node than planned
    plan_text: str = ""
    seconds: float = 0.0

    def report(self) -> str:
        lines = [f"{len(self.mismatches)} difference(s) between the plan and kube-scheduler:"]
        lines += [f"  - {m}" for m in self.mismatches]
        if self.deviations:
            lines.append("kube-scheduler bound pods to other planned nodes than the plan's:")
            lines += [f"  - {d}" for d in self.deviations]
        lines += ["the plan:", self.plan_text, "reproducer (smart-autoscaler preview -f FILE):", self.workload.manifest()]
        return "\n".join(lines)


@dataclass
class Tally:
    """Counts over many runs: workloads, pods, planned nodes, and the differences by kind, apart
    for the workloads where kube-scheduler followed the plan's assignment (a difference there
    is the plan's) and those where it chose other planned nodes."""

    counts: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        counts = self.counts
        counts["workloads"] += 1
        counts["pods"] += outcome.pods
        counts["planned pods"] += outcome.planned_pods
        counts["planned nodes"] += outcome.new_nodes
        counts["unplaceable"] += outcome.unplaceable
        if outcome.deviations:
            counts["workloads where kube-scheduler chose other planned nodes"] += 1
        if outcome.mismatches:
            counts["workloads with differences"] += 1
            counts["... where kube-scheduler followed the plan" if not outcome.deviations else "... after its own choice"] += 1
            self.kinds.update(_kind(m) for m in outcome.mismatches)

    def summary(self) -> str:
        return f"{dict(self.counts)}; differences by kind: {dict(self.kinds)}"


def _kind(mismatch: str) -> str:
    if "stays empty" in mismatch:
        return "planned node empty"
    if "stay pending" in mismatch:
        return "planned pod pending"
    if "nodes that were there" in mismatch:
        return "pending pod bound to an existing node"
    return "unplaceable pod bound"


class Differential:
    """Runs workloads one after another against one control plane."""

    def __init__(self, core_v1, apps_v1, node_v1, api_client) -> None:
        self.core, self.apps, self.node_api, self.api = core_v1, apps_v1, node_v1, api_client
        self.config: Config = config_from_mapping(CONFIG)
        self.catalog = region_catalog(self.config.cloud, self.config.region)
        self.book = OptionBook(self.catalog, self.config)
        self.runs = 0
        self._runtime_class()

    def _runtime_class(self) -> None:
        try:
            self.node_api.create_runtime_class(RUNTIME_CLASS_OBJECT)
        except Exception as err:  # noqa: BLE001 - 409: made by an earlier session
            if getattr(err, "status", None) != 409:
                raise

    # ---- one workload

    def run(self, workload: Workload) -> Outcome:
        started = time.monotonic()
        self.runs += 1
        namespace = f"diff-{self.runs}-{int(time.time() * 1000) % 100000}"
        outcome = Outcome(workload, namespace, pods=workload.pod_count())
        self.core.create_namespace({"metadata": {"name": namespace}})
        created_nodes: list[str] = []
        try:
            for node in workload.nodes:
                manifest = kwok_node_manifest(node.name, node.cpu, node.memory, zone=node.zone, labels=node.labels,
                                              taints=node.taints or None, instance_type="existing")
                self.core.create_node(manifest)
                created_nodes.append(node.name)
            self._wait_ready(created_nodes)
            for node in workload.nodes:
                for pod in node.pods:
                    self.core.create_namespaced_pod(namespace, pod)
            for obj in workload.objects:
                if obj["kind"] == "ReplicaSet":
                    self.apps.create_namespaced_replica_set(namespace, obj)
                else:
                    self.core.create_namespaced_pod(namespace, obj)
            pods = self._settled(namespace, outcome.pods + sum(len(n.pods) for n in workload.nodes))
            result = self._plan(pods)
            outcome.plan_text = describe_plan(result)
            outcome.planned_pods = sum(len(n.pods) for n in result.new_nodes) + len(result.placements)
            outcome.new_nodes = len(result.new_nodes)
            outcome.unplaceable = len(result.unplaceable)
            names = self._launch(result, created_nodes)
            before = {f"{namespace}/{p.metadata.name}": p.spec.node_name for p in pods if p.spec.node_name}
            outcome.mismatches, outcome.deviations = self._compare(namespace, result, names, before)
        finally:
            self._clean(namespace, created_nodes)
            outcome.seconds = time.monotonic() - started
        return outcome

    def _plan(self, api_pods: list[Any]) -> Plan:
        pods = [pod_from_manifest(self.api.sanitize_for_serialization(p), self.config.annotation_prefixes) for p in api_pods]
        nodes = [node_from_api(self.api.sanitize_for_serialization(n)) for n in self.core.list_node().items]
        view = ClusterView(tuple(pods), tuple(nodes))
        planner = planner_nodes(view, [], PriceIndex.of(self.catalog), now=time.time())
        pending = [pod for pod in pods if needs_capacity(pod, self.config)]
        return plan(pending, self.catalog, self.config, nodes=planner)

    def _launch(self, result: Plan, created: list[str]) -> dict[int, str]:
        """Create the planned nodes; index in new_nodes -> node name."""
        names = {}
        for index, new in enumerate(result.new_nodes):
            option = new.option
            itype = option.instance_type
            name = f"planned-{self.runs}-{index}"
            zone = option.zones[zlib.crc32(name.encode()) % len(option.zones)]  # the provider picks one
            labels = node_labels(self.catalog.cloud, self.catalog.region, itype, option.capacity_type, zone, new.mode,
                                 dict(self.config.node_labels))
            labels[HOSTNAME] = name
            allocatable = itype.allocatable
            extended = {}
            if itype.gpu_count:
                extended[itype.gpu_resource] = str(itype.gpu_count)
            for resource in ("aws.amazon.com/neuron", *(n for n, _, _ in self.config.extended_resources)):
                count = self.book.devices(itype, resource)
                if count:
                    extended[resource] = str(count)
            manifest = kwok_node_manifest(
                name, f"{allocatable.cpu}m", str(allocatable.memory), allocatable.pods, labels,
                taints=[{"key": t.key, "value": t.value, "effect": t.effect} for t in option.taints] or None,
                arch=itype.arch,
            )
            for part in ("capacity", "allocatable"):
                manifest["status"][part].update(extended)
                manifest["status"][part]["ephemeral-storage"] = str(allocatable.ephemeral)
            self.core.create_node(manifest)
            created.append(name)
            names[index] = name
        return names

    def _compare(
        self, namespace: str, result: Plan, names: dict[int, str], before: dict[str, str]
    ) -> tuple[list[str], list[str]]:
        """(differences, deviations). Pods of one ReplicaSet with one spec are interchangeable, so
        they are compared by count: as many bound as the plan placed. A deviation is a pod
        kube-scheduler bound to another planned node than the plan's (its scoring, e.g.
        LeastAllocated, chose among nodes that all fit); differences in a workload with
        deviations may come from them rather than from the plan."""
        planned = {key: names[i] for i, node in enumerate(result.new_nodes) for key in node.pods}
        planned.update({p.pod: p.node for p in result.placements})
        planned.update(before)  # bound before the plan (existing nodes)
        unplaceable = {u.pod: u.reason for u in result.unplaceable}
        deadline = time.monotonic() + BIND_TIMEOUT
        groups = self._groups(namespace)
        while True:
            bound = self._bound(namespace)
            short = [g for g, keys in groups.items()
                     if sum(1 for k in keys if bound.get(k)) < sum(1 for k in keys if k in planned)]
            if not short or time.monotonic() > deadline:
                break
            time.sleep(POLL)
        # Pods called unplaceable: kube-scheduler retries them when nodes are added; give it the
        # time of a retry (its back-off starts at 1 s) before calling them pending.
        time.sleep(2.5 if unplaceable else 0)
        bound = self._bound(namespace)
        differences = []
        for group, keys in groups.items():
            placed = [k for k in keys if k in planned]
            held = [k for k in keys if bound.get(k)]
            if len(held) < len(placed):
                pending = next(k for k in keys if not bound.get(k))
                differences.append(f"{len(placed) - len(held)} pod(s) of {group} the plan placed stay pending, e.g. "
                                   f"{pending}: {self._why_pending(namespace, pending)}")
            elif len(held) > len(placed):
                extra = next(k for k in held if k not in planned)
                differences.append(f"{len(held) - len(placed)} pod(s) of {group} called unplaceable were bound, e.g. "
                                   f"{extra} ({unplaceable.get(extra, 'not planned')}) on {bound[extra]}")
        used = set(bound.values())
        for index, name in names.items():
            if name not in used:
                differences.append(f"planned node {name} ({result.new_nodes[index].instance_type}) stays empty")
        targets = {group: sorted(planned[k] for k in keys if k in planned) for group, keys in groups.items()}
        actual = {group: sorted(bound[k] for k in keys if bound.get(k) and bound[k].startswith("planned-"))
                  for group, keys in groups.items()}
        deviations = [f"{group}: planned on {targets[group]}, bound on {actual[group]}"
                      for group in groups if set(actual[group]) - set(targets[group])]
        # Pods pending before that went to nodes that were there (the new nodes changed what their
        # rules allow there, e.g. a zone spread's skew): the plan did not foresee it.
        existing = {group: sorted(bound[k] for k in keys if bound.get(k) and not bound[k].startswith("planned-")
                                  and k not in before) for group, keys in groups.items()}
        differences += [f"{group}: {len(nodes)} pod(s) pending before the plan were bound to nodes that were there: "
                        f"{nodes}" for group, nodes in existing.items() if nodes]
        return differences, deviations

    def _groups(self, namespace: str) -> dict[str, list[str]]:
        """Interchangeable pods: those of one owner, else each pod alone."""
        groups: dict[str, list[str]] = {}
        for pod in self.core.list_namespaced_pod(namespace).items:
            owners = pod.metadata.owner_references or []
            group = f"{owners[0].kind}/{owners[0].name}" if owners else f"Pod/{pod.metadata.name}"
            groups.setdefault(group, []).append(f"{namespace}/{pod.metadata.name}")
        return groups

    # ---- the API

    def _wait_ready(self, names: list[str]) -> None:
        deadline = time.monotonic() + 30
        for name in names:
            while time.monotonic() < deadline:
                node = self.core.read_node(name)
                ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
                # the node-lifecycle controller lifts node.kubernetes.io/not-ready a moment later
                if ready and not any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or []):
                    break
                time.sleep(POLL)

    def _settled(self, namespace: str, expected: int) -> list[Any]:
        """The namespace's pods once each is bound, gated, or marked Unschedulable."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            pods = self.core.list_namespaced_pod(namespace).items
            if len(pods) >= expected and all(_decided(p) for p in pods):
                return pods
            if time.monotonic() > deadline:
                return pods
            time.sleep(POLL)

    def _bound(self, namespace: str) -> dict[str, str]:
        return {f"{namespace}/{p.metadata.name}": p.spec.node_name or "" for p in self.core.list_namespaced_pod(namespace).items}

    def _why_pending(self, namespace: str, key: str) -> str:
        name = key.split("/", 1)[1]
        pod = self.core.read_namespaced_pod(name, namespace)
        for condition in pod.status.conditions or []:
            if condition.type == "PodScheduled":
                return condition.message or condition.reason or "not scheduled"
        return "not tried yet"

    def _clean(self, namespace: str, nodes: list[str]) -> None:
        for rs in self.apps.list_namespaced_replica_set(namespace).items:
            self.apps.delete_namespaced_replica_set(rs.metadata.name, namespace, propagation_policy="Background")
        self.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        for name in nodes:
            try:
                self.core.delete_node(name)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.core.delete_namespace(namespace)


def _decided(pod: Any) -> bool:
    if pod.spec.node_name or pod.spec.scheduling_gates:
        return True
    return any(c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
               for c in pod.status.conditions or [])


def describe_plan(result: Plan) -> str:
    lines = [f"  new {n.instance_type} {n.mode} zones {','.join(n.option.zones)}: {', '.join(n.pods)}" for n in result.new_nodes]
    lines += [f"  place {p.pod} on {p.node}" for p in result.placements]
    lines += [f"  unplaceable {u.pod}: {u.reason}" for u in result.unplaceable]
    return "\n".join(lines) or "  (nothing)"
