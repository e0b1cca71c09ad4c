"""What kube-scheduler and the API server do with a pod, and so what the planner must plan.

Each case is written from the Kubernetes documentation (cited per test) with the numbers of
the embedded aws us-east-1 catalog; the differential tier (tests/e2e/test_differential.py)
checks the same rules against the real kube-scheduler.
"""

from __future__ import annotations

from autoscaler.nodelabels import HOSTNAME, ZONE
from tests.helpers import launched, make_pod, plan_for, replicas

ARCH = "kubernetes.io/arch"


def _required_terms(*terms: dict) -> dict:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}}


def test_an_empty_node_selector_term_beside_an_amd64_term_still_gives_an_amd64_node():
    # API reference, NodeSelectorTerm: "A null or empty node selector term matches no objects";
    # NodeSelector: "The terms are ORed". So [arch In (amd64), {}] admits amd64 nodes only.
    amd64 = {"matchExpressions": [{"key": ARCH, "operator": "In", "values": ["amd64"]}]}
    pod = make_pod("p", "2", "4Gi", spec=_required_terms(amd64, {}))
    result = plan_for([pod])
    assert launched(result) == [("t3a.xlarge", "on-demand", 1)]
    assert result.new_nodes[0].option.instance_type.arch == "amd64"
    assert result.new_nodes[0].option.price == 0.1504


def test_a_pod_whose_only_node_selector_term_is_empty_gets_no_node():
    result = plan_for([make_pod("p", "2", "4Gi", spec=_required_terms({}))])
    assert result.new_nodes == ()
    assert [u.pod for u in result.unplaceable] == ["default/p"]
    assert "empty nodeSelectorTerm" in result.unplaceable[0].reason


def test_match_fields_on_a_node_name_launches_nothing():
    # API reference, NodeSelectorTerm.matchFields: requirements on the node's fields
    # (metadata.name). A launched node gets its name from the cloud, never "node-7", so a pod
    # pinned to node-7 is one no new node can take.
    pinned = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}
    result = plan_for([make_pod("p", "2", "4Gi", spec=_required_terms(pinned))])
    assert result.new_nodes == ()
    assert "metadata.name In (node-7)" in result.unplaceable[0].reason


def test_a_cpu_only_pod_never_gets_an_inferentia_node():
    # SPEC: a pod that asks for no accelerator never gets an accelerator node. inf1.6xlarge
    # (24 vCPU, 48 GiB, 4 Inferentia chips, $1.18/h) is the cheapest fit for 20 CPU / 40 GiB by
    # price alone; the pod gets the general-purpose c6a.8xlarge ($1.224/h) instead.
    result = plan_for([make_pod("p", "20", "40Gi")])
    assert launched(result) == [("c6a.8xlarge", "on-demand", 1)]
    assert result.new_nodes[0].option.price == 1.224


def test_one_replica_per_zone_by_required_zone_anti_affinity_to_its_own_label():
    # Assigning Pods to Nodes, "Inter-pod affinity and anti-affinity": a required anti-affinity
    # term on topology.kubernetes.io/zone to the pod's own label allows one such pod per zone.
    # 3 replicas of 4 CPU (bin-select) in us-east-1 (6 zones): 3 nodes in 3 different zones;
    # 1 replica: 1 node (this raised ZeroDivisionError).
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "db"}}}]}}}
    for count in (1, 3):
        result = plan_for(replicas("db", count, "4", "8Gi", labels={"app": "db"}, spec=anti))
        assert len(result.new_nodes) == count and result.unplaceable == ()
        assert len({node.option.zones for node in result.new_nodes}) == count
        assert all(len(node.option.zones) == 1 for node in result.new_nodes)
    seven = plan_for(replicas("db", 7, "4", "8Gi", labels={"app": "db"}, spec=anti))
    assert len(seven.new_nodes) == 6 and len(seven.unplaceable) == 1
