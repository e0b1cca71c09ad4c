"""InMemoryCluster: a named simulator of a Kubernetes cluster, for `simulate` and loop tests.

It models what the autoscaler depends on, the way the real control plane behaves:
- a minimal scheduler binds pending pods to ready, schedulable nodes that fit them (the one
  placement simulation, `autoscaler.placement`: requests, node selectors/affinity, taints,
  host ports, required inter-pod (anti-)affinity, topology spread) and otherwise marks them
  `PodScheduled=False`, reason `Unschedulable`, with a kube-scheduler-style message;
  gated pods stay `SchedulingGated` and are never bound;
- controllers recreate the evicted or orphaned pods of a workload (Deployment, ReplicaSet,
  StatefulSet, Job...) under a new name, as Pending;
- the Eviction API honours PodDisruptionBudgets (429 when no disruption is allowed) and
  never touches DaemonSet pods' owners; deleting a Node deletes the pods bound to it;
- Events expire after `event_ttl` seconds, as the API server's do (about an hour).
It does not model: priorities and preemption, preferred (soft) terms and scoring, volumes,
or scheduling latency.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from autoscaler.clock import Clock
from autoscaler.cluster import ClusterError, ClusterView, DaemonSetInfo, EvictionOutcome, KubeNode, ObjectRef, PdbInfo
from autoscaler.model import Pod
from autoscaler.placement.check import UNSCHEDULABLE, NodeState, PlacementState
from autoscaler.resources import Resources
from pricing.types import Taint


NOT_READY_TAINT = Taint("node.kubernetes.io/not-ready", "", "NoSchedule")
# The cloud controller manager's start-up taint: on until it has initialised the node, which
# may be after the kubelet reports Ready (kubernetes.io/docs/tasks/administer-cluster/
# running-cloud-controller, "node controller").
UNINITIALIZED_TAINT = Taint("node.cloudprovider.kubernetes.io/uninitialized", "true", "NoSchedule")
NOT_READY = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"


@dataclass
class StoredEvent:
    ref: ObjectRef
    event_type: str
    reason: str
    message: str
    time: float


@dataclass
class PdbSpec:
    namespace: str
    name: str
    match_labels: dict[str, str]
    min_available: int | None = None
    max_unavailable: int | None = None


@dataclass
class _Workload:
    """Recreates pods of one controller: replacements reuse the template of an existing pod."""

    key: str
    template: Pod
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))


class InMemoryCluster:
    def __init__(self, clock: Clock, event_ttl: float = 3600.0) -> None:
        self.clock = clock
        self.event_ttl = event_ttl
        self.pods: dict[str, Pod] = {}  # namespace/name -> pod
        self.nodes: dict[str, KubeNode] = {}
        self.daemonsets: list[DaemonSetInfo] = []
        self.pdbs: dict[str, PdbSpec] = {}
        self.events: list[StoredEvent] = []
        self.started: dict[str, float] = {}  # pod key -> time it was bound
        self.run_for: dict[str, float] = {}  # pod key -> seconds it runs before it succeeds
        self._workloads: dict[str, _Workload] = {}
        self._changes = 0
        self._ready_at: dict[str, float] = {}  # node -> when its kubelet reports Ready
        self._initialized_at: dict[str, float] = {}  # node -> when the cloud controller initialises it
        self.held: dict[str, str] = {}  # pod key -> message of a queueing scheduler holding it
        self.evictions: list[str] = []
        self.deleted_nodes: list[str] = []
        self.on_pod_bound: Callable[[Pod, str], None] | None = None
        self._outage: ClusterView | None = None  # the view the caches hold while the API is down

    # ---- faults: the API server goes away and comes back

    def api_down(self) -> None:
        """The API server stops answering: the daemon's caches keep what they last saw, every
        call fails, and nothing the control plane does (scheduling, node registration by a
        kubelet) happens until `api_up()` -- as when kube-apiserver is stopped."""
        if self._outage is None:
            self._outage = self._current_view()

    def api_up(self) -> None:
        self._outage = None
        self._changes += 1

    def _reachable(self, what: str) -> None:
        if self._outage is not None:
            raise ClusterError(f"{what}: dial tcp 127.0.0.1:6443: connect: connection refused")

    def api_error(self) -> str:
        return "list pods: connection refused (simulated API outage)" if self._outage is not None else ""

    # ---- what tests and scenarios do to the cluster

    def add_pod(self, pod: Pod, run_for: float | None = None) -> None:
        self.pods[pod.key] = pod
        if pod.owner and pod.owner_kind != "DaemonSet":
            self._workloads.setdefault(pod.owner, _Workload(pod.owner, pod))
        if run_for is not None:
            self.run_for[pod.key] = run_for
        self._changes += 1

    def hold(self, pod_key: str, message: str) -> None:
        """A queueing scheduler (e.g. KAI) keeps the pod pending on purpose with this message."""
        self.held[pod_key] = message

    def release(self, pod_key: str) -> None:
        self.held.pop(pod_key, None)

    def remove_workload(self, owner: str) -> None:
        """Scale a workload to zero: its pods go away and are not recreated."""
        self._workloads.pop(owner, None)
        for key in [k for k, p in self.pods.items() if p.owner == owner]:
            self._drop_pod(key)
        self._changes += 1

    def add_node(self, node: KubeNode, ready_after: float = 0.0, initialized_after: float = 0.0) -> None:
        """Register a node. With `ready_after`, it starts NotReady with the
        `node.kubernetes.io/not-ready:NoSchedule` taint, as a kubelet's node does until it
        reports Ready, and turns Ready that many seconds later. With `initialized_after`, it
        carries `node.cloudprovider.kubernetes.io/uninitialized` that long, Ready or not."""
        self._reachable(f"create node {node.name}")
        if ready_after > 0:
            node = replace(node, ready=False, taints=tuple(node.taints) + (NOT_READY_TAINT,))
            self._ready_at[node.name] = self.clock.now() + ready_after
        if initialized_after > 0:
            node = replace(node, taints=tuple(node.taints) + (UNINITIALIZED_TAINT,))
            self._initialized_at[node.name] = self.clock.now() + initialized_after
        self.nodes[node.name] = node
        self._changes += 1

    def add_pdb(self, pdb: PdbSpec) -> None:
        self.pdbs[f"{pdb.namespace}/{pdb.name}"] = pdb
        self._changes += 1

    def set_pod(self, pod: Pod) -> None:
        self.pods[pod.key] = pod
        self._changes += 1

    # ---- the control plane's own work

    def schedule(self) -> None:
        """One pass of the minimal scheduler plus pod completion; call once per simulated step."""
        if self._outage is not None:
            return  # the scheduler and the controllers cannot reach the API server either
        now = self.clock.now()
        for name, at in list(self._ready_at.items()):
            node = self.nodes.get(name)
            if node is None or at <= now:
                del self._ready_at[name]
            if node is not None and at <= now:
                taints = tuple(t for t in node.taints if t.key != NOT_READY_TAINT.key)
                self.nodes[name] = replace(node, ready=True, taints=taints)
                self._changes += 1
        for name, at in list(self._initialized_at.items()):
            node = self.nodes.get(name)
            if node is None or at <= now:
                del self._initialized_at[name]
            if node is not None and at <= now:
                self.nodes[name] = replace(node, taints=tuple(t for t in node.taints if t.key != UNINITIALIZED_TAINT.key))
                self._changes += 1
        for key, seconds in list(self.run_for.items()):
            started = self.started.get(key)
            pod = self.pods.get(key)
            if pod is not None and started is not None and now - started >= seconds and not pod.terminal:
                self.pods[key] = replace(pod, phase="Succeeded")
                self._changes += 1
        state = self.placement_state()
        order = sorted(self.nodes)
        pending = sorted(
            (p for p in self.pods.values() if not p.node_name and p.phase == "Pending"),
            key=lambda p: (-p.priority, p.created, p.key),
        )
        for pod in pending:
            if pod.scheduling_gates:
                continue
            if pod.key in self.held:
                message = self.held[pod.key]
                if pod.unschedulable_message != message:
                    self.pods[pod.key] = replace(pod, unschedulable=True, unschedulable_message=message)
                    self._changes += 1
                continue
            chosen, reasons = state.first_fit(pod, order)
            if chosen is None:
                message = _scheduler_message(len(self.nodes), reasons)
                if not pod.unschedulable or pod.unschedulable_message != message:
                    self.pods[pod.key] = replace(pod, unschedulable=True, unschedulable_message=message)
                    self._changes += 1
                continue
            state.place(pod, chosen)
            self.pods[pod.key] = replace(pod, node_name=chosen, phase="Running", unschedulable=False, unschedulable_message="")
            self.started[pod.key] = now
            self._changes += 1
            if self.on_pod_bound:
                self.on_pod_bound(pod, chosen)

    def placement_state(self) -> PlacementState:
        """The cluster as the one placement simulation sees it (bound, unfinished pods)."""
        bound: dict[str, list[Pod]] = {name: [] for name in self.nodes}
        for pod in self.pods.values():
            if pod.node_name in bound and not pod.terminal:
                bound[pod.node_name].append(pod)
        states = []
        for name, node in self.nodes.items():
            used = Resources.total(pod.requests for pod in bound[name])
            states.append(
                NodeState(
                    name,
                    node.labels,
                    node.taints,
                    node.allocatable - used,
                    bound[name],
                    schedulable=node.ready and not node.unschedulable,
                    blocked=NOT_READY if not node.ready else UNSCHEDULABLE,
                )
            )
        return PlacementState(states)

    # ---- Cluster protocol

    def view(self) -> ClusterView:
        return self._outage if self._outage is not None else self._current_view()

    def _current_view(self) -> ClusterView:
        return ClusterView(
            pods=tuple(self.pods.values()),
            nodes=tuple(self.nodes.values()),
            daemonsets=tuple(self.daemonsets),
            pdbs=tuple(self._pdb_infos()),
        )

    def wait_for_change(self, timeout: float) -> bool:
        return False  # simulated time moves in steps; nothing to wait for

    def create_event(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> None:
        self._reachable(f"create event {reason}")
        self.events.append(StoredEvent(ref, event_type, reason, message, self.clock.now()))

    def has_event(self, ref: ObjectRef, reason: str) -> bool:
        now = self.clock.now()
        return any(
            e.reason == reason and _same_object(e.ref, ref) and now - e.time < self.event_ttl for e in self.events
        )

    def patch_node(
        self,
        name: str,
        labels: Mapping[str, str | None] | None = None,
        add_taints: tuple[Taint, ...] = (),
        remove_taint_keys: tuple[str, ...] = (),
    ) -> None:
        self._reachable(f"patch node {name}")
        node = self.nodes.get(name)
        if node is None:
            raise ClusterError(f"patch node {name}: 404 Not Found")
        if labels:
            merged = dict(node.labels)
            for key, value in labels.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            node = replace(node, labels=merged)
        if add_taints or remove_taint_keys:
            replaced = {t.key for t in add_taints} | set(remove_taint_keys)
            node = replace(node, taints=tuple(t for t in node.taints if t.key not in replaced) + tuple(add_taints))
        self.nodes[name] = node
        self._changes += 1

    def evict_pod(self, namespace: str, name: str) -> str:
        key = f"{namespace}/{name}"
        self._reachable(f"evict pod {key}")
        pod = self.pods.get(key)
        if pod is None:
            return EvictionOutcome.GONE
        for pdb in self._pdb_infos():
            if pdb.selects(pod) and pdb.disruptions_allowed <= 0:
                return EvictionOutcome.BLOCKED
        self.evictions.append(key)
        self._drop_pod(key)
        return EvictionOutcome.EVICTED

    def delete_node(self, name: str) -> None:
        self._reachable(f"delete node {name}")
        if self.nodes.pop(name, None) is None:
            return
        self.deleted_nodes.append(name)
        for key in [k for k, p in self.pods.items() if p.node_name == name]:
            self._drop_pod(key)
        self._changes += 1

    # ---- helpers

    def _drop_pod(self, key: str) -> None:
        pod = self.pods.pop(key, None)
        self.started.pop(key, None)
        run_for = self.run_for.pop(key, None)
        self._changes += 1
        if pod is None or pod.terminal:
            return
        workload = self._workloads.get(pod.owner)
        if workload is None or pod.owner_kind == "DaemonSet":
            return
        template = workload.template
        new_name = f"{pod.name.rsplit('-', 1)[0] if '-' in pod.name else pod.name}-r{next(workload.counter)}"
        replacement = replace(
            template,
            name=new_name,
            uid=f"{template.uid}-r{new_name}",
            node_name="",
            phase="Pending",
            unschedulable=False,
            unschedulable_message="",
            created=self.clock.now(),
        )
        self.pods[replacement.key] = replacement
        if run_for is not None:
            self.run_for[replacement.key] = run_for

    def _pdb_infos(self) -> list[PdbInfo]:
        infos = []
        for spec in self.pdbs.values():
            info = PdbInfo(spec.namespace, spec.name, dict(spec.match_labels))
            covered = [p for p in self.pods.values() if info.selects(p) and not p.terminal]
            healthy = sum(1 for p in covered if p.node_name and p.phase == "Running")
            if spec.max_unavailable is not None:
                allowed = spec.max_unavailable - (len(covered) - healthy)
            elif spec.min_available is not None:
                allowed = healthy - spec.min_available
            else:
                allowed = 0
            infos.append(replace(info, disruptions_allowed=max(0, allowed)))
        return infos

    def events_for(self, pod_key: str, reason: str | None = None) -> list[StoredEvent]:
        namespace, _, name = pod_key.partition("/")
        return [
            e
            for e in self.events
            if e.ref.namespace == namespace and e.ref.name == name and (reason is None or e.reason == reason)
        ]


def _same_object(a: ObjectRef, b: ObjectRef) -> bool:
    if a.uid and b.uid:
        return a.uid == b.uid
    return (a.kind, a.namespace, a.name) == (b.kind, b.namespace, b.name)


def _scheduler_message(node_count: int, reasons: dict[str, int]) -> str:
    """Like kube-scheduler: '0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were unschedulable.'"""
    if node_count == 0:
        return "no nodes available to schedule pods"
    parts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    return f"0/{node_count} nodes are available: {parts}."
