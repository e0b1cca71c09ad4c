"""Cost estimates for pods gated with `nodecostestimate` (SPEC §6) — pure.

The estimate is what the planner would allocate if the pods were not gated, ignoring room
on existing nodes and honouring back-offs in force. Pods of one owner form a set; the
message says how many nodes of the chosen type the whole set needs. The format is stable
for scripts:
    NodeCostEstimate: instance-type=g6.8xlarge capacity-type=on-demand cost-per-hour=2.0144 node-count=2 pod-count=2 mode=bin-select
    NodeCostEstimate: unavailable reason="all candidate offerings are backed off: ..."
"""

from __future__ import annotations

from typing import Mapping, Sequence

from autoscaler.config import Config
from autoscaler.model import Pod
from autoscaler.planner import DaemonSetOverhead, OfferingKey, plan
from autoscaler.planner.backoffs import Backoffs
from pricing.types import RegionCatalog

REASON = "NodeCostEstimate"


def format_price(price: float) -> str:
    """2.0144 -> '2.0144', 21.957642 -> '21.957642', 3.0 -> '3'."""
    return f"{round(price, 6):f}".rstrip("0").rstrip(".")


def _set_key(pod: Pod) -> str:
    return pod.owner or pod.key


def estimate_messages(
    gated: Sequence[Pod],
    catalog: RegionCatalog,
    config: Config,
    backoffs: Backoffs | Mapping[OfferingKey, str] | None = None,
    daemonsets: Sequence[DaemonSetOverhead] = (),
) -> dict[str, str]:
    """pod key -> the NodeCostEstimate event message for it."""
    if not gated:
        return {}
    # Gates do not matter to the estimate: plan the pods as if ungated.
    decided = plan(gated, catalog, config, daemonsets=daemonsets, backoffs=backoffs, apply_cluster_limits=False)
    by_key = {pod.key: pod for pod in gated}
    set_size: dict[str, int] = {}
    for pod in gated:
        set_size[_set_key(pod)] = set_size.get(_set_key(pod), 0) + 1
    nodes_of_set: dict[tuple[str, str, str], set[int]] = {}
    node_of_pod: dict[str, int] = {}
    for index, node in enumerate(decided.new_nodes):
        for pod_key in node.pods:
            node_of_pod[pod_key] = index
            key = (_set_key(by_key[pod_key]), node.instance_type, node.capacity_type)
            nodes_of_set.setdefault(key, set()).add(index)
    messages = {}
    for pod_key, index in node_of_pod.items():
        node = decided.new_nodes[index]
        set_key = _set_key(by_key[pod_key])
        count = len(nodes_of_set[(set_key, node.instance_type, node.capacity_type)])
        messages[pod_key] = (
            f"{REASON}: instance-type={node.instance_type} capacity-type={node.capacity_type} "
            f"cost-per-hour={format_price(node.price)} node-count={count} pod-count={set_size[set_key]} mode={node.mode}"
        )
    for blocked in decided.unplaceable:
        reason = blocked.reason.replace('"', "'")
        messages[blocked.pod] = f'{REASON}: unavailable reason="{reason}"'
    return messages
