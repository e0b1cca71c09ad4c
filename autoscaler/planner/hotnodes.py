"""Hot-node mitigation (SPEC §5, `manageHighUtilization.*`): pure decisions from usage.

On bin-pack nodes this autoscaler created that hold two or more managed pods, utilization
from the metrics API (CPU usage / capacity, memory working set / capacity) gives a colour:

- red (cpu >= redCPU or memory >= redMemory): NoSchedule taint `smart-autoscaler.io/hot`, and
  evict the evictable managed pod with the highest use of the hot resource (one per node
  per decision);
- yellow (cpu >= yellowCPU or memory >= yellowMemory): the taint;
- green (cpu < greenCPU and memory < greenMemory): remove the taint;
- steady (between green and yellow): leave the node as it is (the wide gap prevents flapping).

Missing or stale metrics mean no action on that node, and the decision says so. A node's
next eviction waits for metrics measured after its last one, so nothing is evicted twice on
the same (pre-eviction) data. A node that still carries the taint but no longer qualifies
(one managed pod left, or the feature switched off) only has its taint removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Mapping

from autoscaler.cluster import KubeNode, PdbInfo
from autoscaler.config import Config
from autoscaler.model import BIN_PACK, Pod
from autoscaler.nodelabels import ROLE
from autoscaler.planner.needs import is_managed
from autoscaler.nodeload import evictable
from autoscaler.scaledown import eviction_blocker
from autoscaler.snapshot import is_managed_node
from autoscaler.usage import UsageReport, UsageSample
from pricing.types import Taint

HOT_TAINT = Taint("smart-autoscaler.io/hot", "true", "NoSchedule")

GREEN, STEADY, YELLOW, RED, UNKNOWN = "green", "steady", "yellow", "red", "unknown"
COLOURS = (GREEN, STEADY, YELLOW, RED, UNKNOWN)
CPU, MEMORY = "cpu", "memory"


@dataclass(frozen=True, slots=True)
class Utilization:
    cpu: float  # percent of capacity
    memory: float

    def describe(self) -> str:
        return f"cpu {self.cpu:.0f}%, memory {self.memory:.0f}%"


@dataclass(frozen=True, slots=True)
class HotNodeAction:
    """What to do to one node: add or remove the taint, and at most one pod to evict."""

    node: str
    colour: str
    add_taint: bool = False
    remove_taint: bool = False
    evict: str = ""  # namespace/name of the pod to evict
    resource: str = ""  # the hot resource the eviction relieves
    message: str = ""  # for the node's event and the log


@dataclass
class HotNodeDecision:
    actions: list[HotNodeAction] = field(default_factory=list)
    colours: dict[str, str] = field(default_factory=dict)  # every judged node -> colour
    skipped: dict[str, str] = field(default_factory=dict)  # node -> why nothing was done


def utilization(node: KubeNode, sample: UsageSample) -> Utilization:
    capacity = node.capacity if node.capacity.cpu or node.capacity.memory else node.allocatable
    cpu = 100.0 * sample.cpu_millis / capacity.cpu if capacity.cpu else 0.0
    memory = 100.0 * sample.memory_bytes / capacity.memory if capacity.memory else 0.0
    return Utilization(cpu, memory)


def colour_of(used: Utilization, config: Config) -> str:
    hot = config.manage_high_utilization
    if used.cpu >= hot.red_cpu or used.memory >= hot.red_memory:
        return RED
    if used.cpu >= hot.yellow_cpu or used.memory >= hot.yellow_memory:
        return YELLOW
    if used.cpu < hot.green_cpu and used.memory < hot.green_memory:
        return GREEN
    return STEADY


def hot_resource(used: Utilization, config: Config) -> str:
    """The resource furthest past its red threshold (relative to it)."""
    hot = config.manage_high_utilization
    cpu_share = used.cpu / hot.red_cpu if hot.red_cpu else float("inf")
    memory_share = used.memory / hot.red_memory if hot.red_memory else float("inf")
    return CPU if cpu_share >= memory_share else MEMORY


def _fresh(sample: UsageSample | None, now: float, max_age: float, after: float | None) -> str:
    """'' when the sample may be acted on, else why not."""
    if sample is None:
        return "no metrics"
    if sample.age(now) > max_age:
        # The measuring time, not the age, so that the message (and its event) stays the same.
        stamp = datetime.fromtimestamp(sample.timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"its metrics are from {stamp}, older than manageHighUtilization.maxMetricsAge={max_age:g}s"
    if after is not None and sample.timestamp <= after:
        return "metrics predate the last eviction from it"
    return ""


def _qualifies(node: KubeNode, pods: list[Pod], config: Config) -> bool:
    if not is_managed_node(node) or node.labels.get(ROLE) != BIN_PACK:
        return False
    return sum(1 for pod in pods if evictable(pod) and is_managed(pod, config)) >= 2


def _top_pod(
    pods: list[Pod], usage: UsageReport, resource: str, pdbs: list[PdbInfo], config: Config,
    now: float, after: float | None,
) -> tuple[Pod | None, str]:
    max_age = config.manage_high_utilization.max_metrics_age
    ranked: list[tuple[int, str, Pod]] = []
    blocked = []
    for pod in pods:
        if not evictable(pod) or not is_managed(pod, config):
            continue
        blocker = eviction_blocker(pod, pdbs)
        if blocker:
            blocked.append(blocker)
            continue
        sample = usage.pods.get(pod.key)
        if _fresh(sample, now, max_age, after):
            continue
        assert sample is not None
        use = sample.cpu_millis if resource == CPU else sample.memory_bytes
        ranked.append((-use, pod.key, pod))
    if ranked:
        return min(ranked)[2], ""
    if blocked:
        return None, "no managed pod on it may be evicted now: " + "; ".join(blocked)
    return None, "no managed pod on it has fresh metrics"


def decide_hot_nodes(
    nodes: Iterable[KubeNode],
    bound: Mapping[str, list[Pod]],
    pdbs: Iterable[PdbInfo],
    usage: UsageReport,
    config: Config,
    now: float,
    last_eviction: Mapping[str, float] | None = None,
    draining: Iterable[str] = (),
) -> HotNodeDecision:
    """One hot-node pass over the cluster (no I/O)."""
    hot = config.manage_high_utilization
    last_eviction = last_eviction or {}
    draining = set(draining)
    pdbs = list(pdbs)
    decision = HotNodeDecision()
    for node in sorted(nodes, key=lambda n: n.name):
        pods = bound.get(node.name, [])
        tainted = HOT_TAINT.key in {t.key for t in node.taints}
        qualifies = hot.enabled and node.name not in draining and _qualifies(node, pods, config)
        if not qualifies:
            if tainted:
                why = "hot-node mitigation is off" if not hot.enabled else "it no longer qualifies for hot-node mitigation"
                decision.actions.append(HotNodeAction(node.name, UNKNOWN, remove_taint=True, message=f"taint removed: {why}"))
            continue
        sample = usage.nodes.get(node.name)
        stale = usage.error or _fresh(sample, now, hot.max_metrics_age, None)
        if stale:
            decision.colours[node.name] = UNKNOWN
            decision.skipped[node.name] = f"no action on node {node.name}: {stale}"
            continue
        assert sample is not None
        used = utilization(node, sample)
        colour = colour_of(used, config)
        decision.colours[node.name] = colour
        if colour == GREEN and tainted:
            decision.actions.append(HotNodeAction(node.name, colour, remove_taint=True, message=f"node cooled down ({used.describe()}): taint removed"))
        elif colour == YELLOW and not tainted:
            decision.actions.append(HotNodeAction(node.name, colour, add_taint=True, message=f"node is hot ({used.describe()}): tainted {HOT_TAINT.key}:NoSchedule"))
        elif colour == RED:
            decision.actions.append(_red(node, pods, used, usage, pdbs, config, now, last_eviction.get(node.name), tainted, decision))
    return decision


def _red(
    node: KubeNode, pods: list[Pod], used: Utilization, usage: UsageReport, pdbs: list[PdbInfo],
    config: Config, now: float, last: float | None, tainted: bool, decision: HotNodeDecision,
) -> HotNodeAction:
    resource = hot_resource(used, config)
    head = f"node is red ({used.describe()})"
    node_sample = usage.nodes[node.name]
    if last is not None and node_sample.timestamp <= last:
        decision.skipped[node.name] = f"no eviction from node {node.name}: its metrics predate the last eviction from it"
        return HotNodeAction(node.name, RED, add_taint=not tainted, resource=resource, message=f"{head}: waiting for metrics newer than the last eviction")
    pod, why = _top_pod(pods, usage, resource, pdbs, config, now, last)
    if pod is None:
        decision.skipped[node.name] = f"no eviction from node {node.name}: {why}"
        return HotNodeAction(node.name, RED, add_taint=not tainted, resource=resource, message=f"{head}: {why}")
    return HotNodeAction(
        node.name, RED, add_taint=not tainted, evict=pod.key, resource=resource,
        message=f"{head}: evicting {pod.key}, the managed pod using the most {resource}",
    )
