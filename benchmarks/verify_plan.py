"""Check that a plan honours every required rule of its pods (benchmarks print the verdict)."""

from __future__ import annotations

from collections import Counter, defaultdict

from autoscaler.model import Pod
from autoscaler.planner import Plan

HOSTNAME = "kubernetes.io/hostname"


def violations(pods: list[Pod], result: Plan, zones: set[str] = frozenset()) -> list[str]:
    """Broken rules in the final layout (zone spreads are measured over `zones` plus the zones
    used; hostname spreads on the nodes holding a pod with the constraint)."""
    node_of: dict[str, int] = {}
    zone_of: dict[int, str] = {}
    for index, node in enumerate(result.new_nodes):
        zone_of[index] = node.option.zones[0] if len(node.option.zones) == 1 else f"any:{index}"
        for key in node.pods:
            node_of[key] = index
    placed = [pod for pod in pods if pod.key in node_of]
    problems: list[str] = []
    by_node: dict[int, list[Pod]] = defaultdict(list)
    for pod in placed:
        by_node[node_of[pod.key]].append(pod)
    for pod in placed:
        here = node_of[pod.key]
        for term in pod.constraints.pod_anti_affinity:
            others = [
                p for p in placed if p is not pod and term.pods.matches(p.namespace, p.labels)
                and (node_of[p.key] == here if term.topology_key == HOSTNAME else zone_of[node_of[p.key]] == zone_of[here])
            ]
            if others:
                problems.append(f"{pod.key}: anti-affinity broken by {others[0].key}")
        for term in pod.constraints.pod_affinity:
            if not any(
                term.pods.matches(p.namespace, p.labels)
                and (node_of[p.key] == here if term.topology_key == HOSTNAME else zone_of[node_of[p.key]] == zone_of[here])
                for p in placed
            ):
                problems.append(f"{pod.key}: affinity not met")
    checked = set()
    for pod in placed:
        for constraint in pod.constraints.spread:
            if (constraint.pods, constraint.topology_key) in checked:
                continue
            checked.add((constraint.pods, constraint.topology_key))
            counts: Counter = Counter()
            domains = set() if constraint.topology_key == HOSTNAME else set(zones)
            for index in by_node:
                holders = any(c == constraint for p in by_node[index] for c in p.constraints.spread)
                if constraint.topology_key == HOSTNAME and not holders:
                    continue
                domain = index if constraint.topology_key == HOSTNAME else zone_of[index]
                if str(domain).startswith("any:"):
                    continue  # a node whose zone the provider picks holds no matching pod
                domains.add(domain)
                counts[domain] += sum(1 for p in by_node[index] if constraint.pods.matches(p.namespace, p.labels))
            lowest = 0 if constraint.topology_key == HOSTNAME else min((counts[d] for d in domains), default=0)
            if max(counts.values(), default=0) - lowest > constraint.max_skew:
                problems.append(f"spread {constraint.pods.describe()} on {constraint.topology_key}: skew {max(counts.values()) - lowest}")
    return problems
