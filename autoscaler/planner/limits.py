"""Cluster limits (SPEC §4): maxNodes, clusterGPULimit, maxClusterHourlyCost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from autoscaler.config import Config
from autoscaler.model import Node
from autoscaler.planner.types import NewNode, Unplaceable


@dataclass
class LimitUsage:
    nodes: int = 0
    gpus: int = 0
    hourly_cost: float = 0.0

    @classmethod
    def of(cls, nodes: Sequence[Node]) -> LimitUsage:
        managed = [node for node in nodes if node.managed]
        return cls(len(managed), sum(node.gpus for node in managed), sum(node.price for node in managed))


def _blocking_limit(config: Config, usage: LimitUsage, node: NewNode) -> tuple[str, str] | None:
    if config.max_nodes is not None and usage.nodes + 1 > config.max_nodes:
        return "maxNodes", f"maxNodes={config.max_nodes} reached ({usage.nodes} managed nodes)"
    gpus = node.option.instance_type.gpu_count
    if config.cluster_gpu_limit is not None and gpus and usage.gpus + gpus > config.cluster_gpu_limit:
        return (
            "clusterGPULimit",
            f"clusterGPULimit={config.cluster_gpu_limit} would be exceeded "
            f"({usage.gpus} GPUs on managed nodes + {gpus} on a new {node.instance_type})",
        )
    if config.max_cluster_hourly_cost is not None and usage.hourly_cost + node.price > config.max_cluster_hourly_cost + 1e-9:
        return (
            "maxClusterHourlyCost",
            f"maxClusterHourlyCost=${config.max_cluster_hourly_cost:g}/h would be exceeded "
            f"(${usage.hourly_cost:.4f}/h now + ${node.price:g}/h for a new {node.instance_type})",
        )
    return None


def apply_limits(
    new_nodes: list[NewNode], config: Config, usage: LimitUsage
) -> tuple[list[NewNode], list[Unplaceable]]:
    """Keep new nodes, in the given order, while every limit holds; the rest's pods wait."""
    kept: list[NewNode] = []
    blocked: list[Unplaceable] = []
    for node in new_nodes:
        limit = _blocking_limit(config, usage, node)
        if limit is not None:
            name, reason = limit
            blocked.extend(Unplaceable(pod, f"scale-up blocked: {reason}", name) for pod in node.pods)
            continue
        kept.append(node)
        usage.nodes += 1
        usage.gpus += node.option.instance_type.gpu_count
        usage.hourly_cost += node.price
    return kept, blocked
