"""Many Deployments, each spreading its own pods over zones (maxSkew 1, DoNotSchedule), are
planned together (autoscaler/planner/families.py) and each still keeps its own skew: the
Kubernetes rule is per constraint, counted over that Deployment's pods only.

Numbers: AWS us-east-1 (six zones), pods of 250m/512Mi (bin-pack), the default bin-pack node."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from autoscaler.model import Node
from autoscaler.resources import Resources
from tests.helpers import plan_for, replicas

ZONE = "topology.kubernetes.io/zone"
GI = 2**30


def spread(app: str) -> dict:
    return {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                                           "labelSelector": {"matchLabels": {"app": app}}}]}


def deployment(app: str, count: int) -> list:
    return replicas(app, count, "250m", "512Mi", labels={"app": app}, owner=f"ReplicaSet/{app}", spec=spread(app))


def zones_per_app(result) -> dict[str, Counter]:
    per_app: dict[str, Counter] = {}
    for node in result.new_nodes:
        (zone,) = node.option.zones
        for key in node.pods:
            app = key.split("/")[1].rsplit("-", 1)[0]
            per_app.setdefault(app, Counter())[zone] += 1
    return per_app


def test_two_hundred_deployments_of_five_each_keep_their_own_skew_within_one():
    pods = [pod for i in range(200) for pod in deployment(f"d{i}", 5)]
    result = plan_for(pods)
    assert result.unplaceable == ()
    per_app = zones_per_app(result)
    assert len(per_app) == 200
    for counts in per_app.values():
        assert sum(counts.values()) == 5 and len(counts) == 5  # five zones of six, one pod each
    # together they fill nodes as one workload would: 1000 pods of 250m, 15 per t3a.xlarge-size node
    per_zone = Counter(zone for counts in per_app.values() for zone in counts.elements())
    assert sum(per_zone.values()) == 1000


def test_a_deployment_with_pods_already_running_is_planned_by_its_own_counts():
    """d0 already runs 2 pods in us-east-1a: its 4 new pods go to the five other zones first."""
    running = [replace(pod, node_name="n1", phase="Running", unschedulable=False) for pod in deployment("d0", 2)]
    running = [replace(pod, name=f"old-{i}") for i, pod in enumerate(running)]
    existing = Node(name="n1", instance_type="t3a.xlarge", capacity_type="on-demand", zone="us-east-1a",
                    allocatable=Resources(3920, 15 * GI, 0, 58, 10**11), labels={ZONE: "us-east-1a"},
                    managed=True, role="bin-pack", pods=tuple(running))
    pods = deployment("d0", 4) + [pod for i in range(1, 20) for pod in deployment(f"d{i}", 3)]
    result = plan_for(pods, nodes=[existing])
    assert result.unplaceable == ()
    d0 = zones_per_app(result).get("d0", Counter())
    placed_on_existing = sum(1 for p in result.placements if p.pod.startswith("default/d0-"))
    assert d0["us-east-1a"] == 0 and placed_on_existing == 0
    assert sum(d0.values()) == 4 and max(d0.values()) == 1
