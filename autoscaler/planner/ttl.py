"""Node TTL cycling (SPEC §5, `nodeTTL`): pure decisions.

A managed node expires at `created + nodeTTL - jitter`, where the jitter is a fixed share of
`nodeTTLJitter` (default a tenth of the TTL) hashed from the node's name: a fleet launched
together expires spread over the jitter window, the same way after every restart, and no
node outlives its TTL. At most `nodeTTLMaxParallel` nodes cycle at once, oldest expiry first.

A cycling node carries the NoSchedule taint `smart-autoscaler.io/expired` (nothing new lands
on it). Its pods are then planned as if pending against the cluster without it
(`replacement_step`): when they need new nodes those are launched first; the drain starts
only when every pod has a place on a node that exists and is Ready. `do-not-evict` pods and
bare pods hold the node until they end.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Collection, Iterable, Mapping

from autoscaler.cluster import KubeNode
from autoscaler.config import Config
from autoscaler.model import Pod
from autoscaler.planner.needs import is_managed
from autoscaler.planner.types import NewNode, Plan
from autoscaler.nodeload import evictable
from autoscaler.snapshot import is_managed_node
from pricing.types import Taint

EXPIRED_TAINT = Taint("smart-autoscaler.io/expired", "true", "NoSchedule")

DRAIN, LAUNCH, WAIT, HOLD = "drain", "launch", "wait", "hold"


def jitter_share(node_name: str) -> float:
    """A fixed number in [0, 1) for this node name."""
    digest = hashlib.sha256(node_name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def expires_at(node: KubeNode, config: Config) -> float | None:
    if config.node_ttl is None:
        return None
    jitter = config.node_ttl_jitter if config.node_ttl_jitter is not None else config.node_ttl / 10
    return node.created + config.node_ttl - jitter * jitter_share(node.name)


@dataclass(frozen=True, slots=True)
class Expired:
    node: str
    reason: str


@dataclass
class TtlDecision:
    start: list[Expired] = field(default_factory=list)  # nodes to begin cycling now
    waiting: dict[str, str] = field(default_factory=dict)  # expired, not started yet -> why


def decide_ttl(
    nodes: Iterable[KubeNode],
    config: Config,
    now: float,
    cycling: Collection[str],
    busy: Collection[str] = (),
) -> TtlDecision:
    """Which expired managed nodes start cycling now. `cycling`: nodes already cycling
    (they count against nodeTTLMaxParallel); `busy`: nodes another job is draining."""
    decision = TtlDecision()
    if config.node_ttl is None:
        return decision
    due = []
    for node in nodes:
        if not is_managed_node(node) or node.name in cycling or node.name in busy:
            continue
        expiry = expires_at(node, config)
        if expiry is not None and now >= expiry:
            due.append((expiry, node.name, now - node.created, node.created + config.node_ttl - expiry))
    slots = max(0, config.node_ttl_max_parallel - len(cycling))
    for expiry, name, age, jitter in sorted(due):
        if slots > 0:
            reason = f"node is {_days(age)} old: past nodeTTL={_days(config.node_ttl)} less its jitter of {_days(jitter)}"
            decision.start.append(Expired(name, reason))
            slots -= 1
        else:
            decision.waiting[name] = f"nodeTTLMaxParallel={config.node_ttl_max_parallel} nodes are cycling"
    return decision


def _days(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds:.0f}s"


def pods_to_move(pods: Iterable[Pod]) -> list[Pod]:
    """The node's pods as pending pods (what a drain would put back to the scheduler). A pod the
    planner cannot read is left out: no replacement can be planned for it, and the drain evicts
    it through the Eviction API like any other."""
    return [
        replace(pod, node_name="", phase="Pending", unschedulable=True, unschedulable_message="node expired")
        for pod in pods
        if evictable(pod) and not pod.unreadable
    ]


def wants_room(pod: Pod, config: Config) -> bool:
    """A managed pod waiting for a node now (whether or not the scheduler has said so yet):
    it competes with an expiring node's pods for the room on the other nodes."""
    return not pod.node_name and pod.phase == "Pending" and not pod.scheduling_gates and is_managed(pod, config)


@dataclass(frozen=True)
class ReplacementStep:
    kind: str  # drain, launch, wait, hold
    reason: str
    new_nodes: tuple[NewNode, ...] = ()


def held_by(pods: Iterable[Pod]) -> ReplacementStep | None:
    """HOLD when pods that must not be evicted (do-not-evict, bare) are on the node."""
    pods = list(pods)
    holders = [pod.key for pod in pods if evictable(pod) and (pod.do_not_evict or not pod.owner)]
    if not holders:
        return None
    what = "do-not-evict" if any(p.do_not_evict for p in pods if p.key in holders) else "bare (no controller)"
    return ReplacementStep(HOLD, f"held until pod(s) {', '.join(sorted(holders))} end ({what})")


def replacement_step(pods: Iterable[Pod], placement: Plan, on_the_way: Collection[str]) -> ReplacementStep:
    """What an expired node waits for. `placement`: a plan of its pods (`pods_to_move`) against
    the cluster without it (with any other pods that need room now); `on_the_way`: names of
    the planner's nodes that are not Ready yet (in-flight launches, starting nodes)."""
    pods = list(pods)
    held = held_by(pods)
    if held is not None:
        return held
    mine = {pod.key for pod in pods if evictable(pod)}
    if not mine:
        return ReplacementStep(DRAIN, "it has no pods to move")
    needed = tuple(new for new in placement.new_nodes if mine & set(new.pods))
    if needed:
        return ReplacementStep(LAUNCH, f"launching {len(needed)} replacement node(s) first for its pods", needed)
    if placement.new_nodes:
        # Planned together with the other pods that need room now: they need new nodes, so the
        # room its pods would take is wanted too; scale-up launches for them, then it fits.
        return ReplacementStep(WAIT, "pending pods need the room its pods would take; waiting for their nodes")
    stuck = [u for u in placement.unplaceable if u.pod in mine]
    if stuck and all(u.limit for u in stuck):
        # Only a cluster limit stands in the way: removing this node is what frees it.
        return ReplacementStep(DRAIN, f"no replacement under {stuck[0].limit}; draining frees room for it")
    if stuck:
        first = next(u for u in stuck if not u.limit)
        return ReplacementStep(WAIT, f"no replacement for pod {first.pod}: {first.reason}")
    arriving = sorted({p.node for p in placement.placements if p.pod in mine and p.node in on_the_way})
    if arriving:
        return ReplacementStep(WAIT, f"waiting for replacement node(s) {', '.join(arriving)} to be Ready")
    return ReplacementStep(DRAIN, "its pods fit on the other nodes")


def cycling_nodes(nodes: Iterable[KubeNode]) -> list[str]:
    """Nodes carrying the expired taint (a cycle a previous process started)."""
    return [node.name for node in nodes if any(t.key == EXPIRED_TAINT.key for t in node.taints)]


def expiries(nodes: Iterable[KubeNode], config: Config) -> Mapping[str, float]:
    return {node.name: at for node in nodes if is_managed_node(node) and (at := expires_at(node, config)) is not None}
