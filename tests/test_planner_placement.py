"""The planner plans the way kube-scheduler will place (Kubernetes' documented semantics):
topology spread, inter-pod affinity and anti-affinity, host ports, extended resources and
pod-level resources, with numbers — how many nodes, which zones, which pods together."""

from __future__ import annotations

from collections import Counter

import pytest

from autoscaler.model import BIN_PACK, Node
from autoscaler.planner import DaemonSetOverhead
from autoscaler.podspec import PodSpecError
from autoscaler.resources import Resources
from tests.helpers import config, make_pod, plan_for, replicas

GI, MI = 2**30, 2**20
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
THREE_ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def in_zones(zones: list[str]) -> dict:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": zones}]}]
            }
        }
    }


def spread_spec(key: str, max_skew: int = 1, zones: list[str] | None = None, **extra) -> dict:
    spec: dict = {
        "topologySpreadConstraints": [
            {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": {"app": "web"}}, **extra}
        ]
    }
    if zones:
        spec["affinity"] = in_zones(zones)
    return spec


def anti_spec(key: str, app: str, zones: list[str] | None = None) -> dict:
    affinity: dict = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}}]
        }
    }
    if zones:
        affinity.update(in_zones(zones))
    return {"affinity": affinity}


def ports_spec(port: int, cpu: str = "200m") -> dict:
    return {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "128Mi"}},
                            "ports": [{"containerPort": port, "hostPort": port}]}]}


def pods_per_zone(result) -> dict[str, int]:
    counts: Counter = Counter()
    for node in result.new_nodes:
        (zone,) = node.option.zones
        counts[zone] += len(node.pods)
    return dict(counts)


def existing(name: str, zone: str, pods=(), free_cpu: int = 3000, role: str = BIN_PACK) -> Node:
    used = Resources()
    for pod in pods:
        used += pod.requests
    allocatable = Resources(free_cpu, 14 * GI, 0, 58, 0) + used
    return Node(name=name, instance_type="t3a.xlarge", capacity_type="on-demand", zone=zone, allocatable=allocatable,
                labels={ZONE: zone, HOSTNAME: name, "node.kubernetes.io/instance-type": "t3a.xlarge"},
                managed=True, role=role, used=used, pods=tuple(pods), workload_pods=len(pods))


# ---- topology spread


def test_six_pods_spread_over_three_zones_with_max_skew_1_get_two_per_zone():
    pods = replicas("web", 6, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(ZONE, zones=THREE_ZONES))
    result = plan_for(pods)
    assert pods_per_zone(result) == {zone: 2 for zone in THREE_ZONES}
    assert len(result.new_nodes) == 3 and result.unplaceable == ()


def test_zone_spread_counts_matching_pods_already_running():
    """Given 2 matching pods running in us-east-1a, 4 more spread with maxSkew 1 over a, b, c go
    2 to b and 2 to c (2/2/2), none to a."""
    running = [make_pod(f"old-{i}", labels={"app": "web"}, owner="ReplicaSet/web") for i in range(2)]
    node = existing("n-a", "us-east-1a", running, free_cpu=0)
    pods = replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(ZONE, zones=THREE_ZONES))
    assert pods_per_zone(plan_for(pods, nodes=[node])) == {"us-east-1b": 2, "us-east-1c": 2}


def test_zone_spread_with_min_domains_above_the_allowed_zones_keeps_one_per_zone():
    """minDomains 3 with only two allowed zones: the global minimum counts as 0, so each zone
    takes at most maxSkew (1) pod; the other two pods are unplaceable with the reason."""
    spec = spread_spec(ZONE, zones=THREE_ZONES[:2], minDomains=3)
    result = plan_for(replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=spec))
    assert pods_per_zone(result) == {"us-east-1a": 1, "us-east-1b": 1}
    assert len(result.unplaceable) == 2
    assert "topology spread on topology.kubernetes.io/zone (maxSkew 1" in result.unplaceable[0].reason


def test_hostname_spread_with_max_skew_2_puts_two_pods_per_node():
    result = plan_for(replicas("web", 6, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(HOSTNAME, 2)))
    assert sorted(len(n.pods) for n in result.new_nodes) == [2, 2, 2]


def _full_nodes_running_web(count: int, web_each: int, start: int = 0) -> list[Node]:
    """`count` full t3a.xlarge nodes, each running `web_each` replicas of the hostname-spread web."""
    nodes = []
    for i in range(start, start + count):
        running = [make_pod(f"old-{i}-{j}", labels={"app": "web"}, owner="ReplicaSet/web", spec=spread_spec(HOSTNAME))
                   for j in range(web_each)]
        nodes.append(existing(f"n-{i}", "us-east-1a", running, free_cpu=0))
    return nodes


def test_hostname_spread_over_a_full_pool_running_3_replicas_per_node_puts_4_on_each_new_node():
    """Given 3 full nodes each running 3 web replicas (hostname spread, maxSkew 1), when 12 more
    are pending, then kube-scheduler's global minimum stays 3 (the full nodes) and each new node
    may hold 3 + 1: 3 new nodes of 4, not 12 of 1."""
    pods = replicas("web", 12, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(HOSTNAME))
    result = plan_for(pods, nodes=_full_nodes_running_web(3, 3))
    assert [len(n.pods) for n in result.new_nodes] == [4, 4, 4]
    assert result.unplaceable == ()


def test_hostname_spread_new_nodes_get_equal_shares_so_the_last_keeps_the_skew():
    """Given the same pool, when 9 are pending, then 3 nodes of 3 (not 4, 4, 1: the node of 1
    would hold the minimum at 1 and stop the others at 2)."""
    pods = replicas("web", 9, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(HOSTNAME))
    result = plan_for(pods, nodes=_full_nodes_running_web(3, 3))
    assert [len(n.pods) for n in result.new_nodes] == [3, 3, 3]


def test_hostname_spread_with_a_node_running_no_replica_keeps_one_per_new_node():
    """Given 2 full nodes running 3 web replicas each and a full node running none, when 4 are
    pending, then the minimum stays 0 (that node is a domain too): one per new node."""
    nodes = _full_nodes_running_web(2, 3) + _full_nodes_running_web(1, 0, start=2)
    pods = replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(HOSTNAME))
    assert [len(n.pods) for n in plan_for(pods, nodes=nodes).new_nodes] == [1, 1, 1, 1]


def test_hostname_spread_falls_back_to_max_skew_per_node_when_another_new_node_would_hold_the_minimum():
    """Given 3 full nodes running 3 web replicas each, when 8 web replicas and a 3.5-CPU pod the
    web pods' node affinity also admits are pending, then the 3.5-CPU pod's new node is a domain
    holding no web pod (no room for one): the minimum would stay 0, so 4 per node could not be
    reached and every web node gets 1."""
    web = replicas("web", 8, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(HOSTNAME))
    big = replicas("big", 1, "3500m", "1Gi")
    result = plan_for(web + big, nodes=_full_nodes_running_web(3, 3))
    web_counts = sorted(sum(1 for key in n.pods if "/web-" in key) for n in result.new_nodes)
    assert max(web_counts) == 1 and sum(web_counts) == 8


def test_hostname_spread_with_min_domains_above_the_existing_domains_keeps_one_per_new_node():
    """minDomains 5 with 3 existing domains: the minimum counts as 0 until 5 domains exist, so
    the floor is not used."""
    nodes = _full_nodes_running_web(3, 3)
    pods = replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(HOSTNAME, minDomains=5))
    assert [len(n.pods) for n in plan_for(pods, nodes=nodes).new_nodes] == [1, 1, 1, 1]


def test_hostname_spread_selecting_other_pods_does_not_make_one_per_node():
    spec = spread_spec(HOSTNAME)
    spec["topologySpreadConstraints"][0]["labelSelector"] = {"matchLabels": {"app": "db"}}
    result = plan_for(replicas("web", 6, "500m", "512Mi", labels={"app": "web"}, spec=spec))
    assert [len(n.pods) for n in result.new_nodes] == [6]


def test_schedule_anyway_spread_is_not_planned_for():
    spec = spread_spec(HOSTNAME)
    spec["topologySpreadConstraints"][0]["whenUnsatisfiable"] = "ScheduleAnyway"
    result = plan_for(replicas("web", 6, "500m", "512Mi", labels={"app": "web"}, spec=spec))
    assert [len(n.pods) for n in result.new_nodes] == [6]


def test_spread_pods_share_nodes_with_other_workloads():
    """Three hostname-spread web pods and three plain pods: the plain pods fill the same nodes."""
    web = replicas("web", 3, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(HOSTNAME))
    plain = replicas("batch", 3, "500m", "512Mi")
    result = plan_for(web + plain)
    assert len(result.new_nodes) == 3
    assert all(sum(key.startswith("default/web") for key in n.pods) == 1 for n in result.new_nodes)


# ---- inter-pod affinity and anti-affinity


def test_anti_affinity_against_another_workloads_pods_on_an_existing_node():
    """An open node runs a db pod; a web pod with anti-affinity to app=db must not join it, a
    plain pod does."""
    db = make_pod("db-0", labels={"app": "db"}, owner="StatefulSet/db")
    node = existing("n-1", "us-east-1a", [db])
    web = make_pod("web-0", labels={"app": "web"}, owner="ReplicaSet/web", spec=anti_spec(HOSTNAME, "db"))
    plain = make_pod("plain-0", owner="ReplicaSet/plain")
    result = plan_for([web, plain], nodes=[node])
    assert [(p.pod, p.node) for p in result.placements] == [("default/plain-0", "n-1")]
    assert [n.pods for n in result.new_nodes] == [("default/web-0",)]


def test_existing_pods_anti_affinity_is_symmetric():
    """The running db pod refuses app=web pods beside it: the web pod gets a new node."""
    db = make_pod("db-0", labels={"app": "db"}, owner="StatefulSet/db", spec=anti_spec(HOSTNAME, "web"))
    node = existing("n-1", "us-east-1a", [db])
    web = make_pod("web-0", labels={"app": "web"}, owner="ReplicaSet/web")
    result = plan_for([web], nodes=[node])
    assert result.placements == () and len(result.new_nodes) == 1


def test_zone_anti_affinity_gives_one_pod_per_zone_and_says_why_for_the_rest():
    pods = replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=anti_spec(ZONE, "web", THREE_ZONES))
    result = plan_for(pods)
    assert pods_per_zone(result) == {zone: 1 for zone in THREE_ZONES}
    assert len(result.unplaceable) == 1 and "anti-affinity" in result.unplaceable[0].reason


def test_zone_pod_affinity_follows_the_matching_pods_zone():
    cache = make_pod("cache-0", labels={"app": "cache"}, owner="StatefulSet/cache")
    node = existing("n-b", "us-east-1b", [cache], free_cpu=0)
    spec = {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "cache"}}}]}}}
    result = plan_for(replicas("web", 3, "500m", "512Mi", spec=spec), nodes=[node])
    assert pods_per_zone(result) == {"us-east-1b": 3}


def test_pod_affinity_with_no_matching_pod_anywhere_is_unplaceable():
    spec = {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "nowhere"}}}]}}}
    result = plan_for(replicas("web", 2, "500m", "512Mi", spec=spec))
    assert result.new_nodes == () and "no pod matches its required pod affinity" in result.unplaceable[0].reason


def test_self_affine_group_starts_in_one_zone_and_stays_together():
    spec = {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "web"}}}]}}}
    result = plan_for(replicas("web", 20, "500m", "512Mi", labels={"app": "web"}, spec=spec))
    assert len(pods_per_zone(result)) == 1 and sum(pods_per_zone(result).values()) == 20


# ---- host ports


def test_pods_on_different_host_ports_share_nodes():
    """Four pods on port 80 and three on port 81: 4 nodes (one 80 and at most one 81 on each),
    where one node per pod (7) was planned before; 4 is what the scheduler needs too."""
    pods = replicas("a", 4, spec=ports_spec(80)) + replicas("b", 3, spec=ports_spec(81))
    result = plan_for(pods)
    assert len(result.new_nodes) == 4
    for node in result.new_nodes:
        assert sum(k.startswith("default/a") for k in node.pods) == 1


def test_host_port_pod_joins_an_open_node_only_where_the_port_is_free():
    holder = make_pod("holder", owner="ReplicaSet/h", spec=ports_spec(80))
    node = existing("n-1", "us-east-1a", [holder])
    node = Node(**{**{f: getattr(node, f) for f in node.__dataclass_fields__}, "host_ports": frozenset({(80, "TCP", "")})})
    result = plan_for([make_pod("p80", owner="ReplicaSet/p", spec=ports_spec(80)),
                       make_pod("p81", owner="ReplicaSet/q", spec=ports_spec(81))], nodes=[node])
    assert [(p.pod, p.node) for p in result.placements] == [("default/p81", "n-1")]
    assert [n.pods for n in result.new_nodes] == [("default/p80",)]


def test_daemonset_host_port_blocks_pods_on_the_same_port():
    exporter = DaemonSetOverhead("monitoring/node-exporter", Resources(100, 64 * MI), host_ports=frozenset({(9100, "TCP", "")}))
    result = plan_for([make_pod("p", owner="ReplicaSet/p", spec=ports_spec(9100)),
                       make_pod("q", owner="ReplicaSet/q", spec=ports_spec(9101))], daemonsets=[exporter])
    assert [n.pods for n in result.new_nodes] == [("default/q",)]
    (blocked,) = result.unplaceable
    assert blocked.pod == "default/p" and "9100/TCP" in blocked.reason and "DaemonSet" in blocked.reason


# ---- extended resources


def device_pod(name: str, resources: dict, cpu: str = "1") -> dict:
    return {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Gi", **resources},
                                                       "limits": resources}}]}


def test_neuron_pod_gets_an_inferentia_or_trainium_node():
    result = plan_for([make_pod("n", owner="ReplicaSet/n", spec=device_pod("n", {"aws.amazon.com/neuron": "1"}))])
    (node,) = result.new_nodes
    assert node.instance_type.split(".")[0] in ("inf1", "inf2", "trn1", "trn2")


@pytest.mark.parametrize("resource", ["example.com/fpga", "nvidia.com/mig-1g.10gb"])
def test_a_resource_no_offering_carries_is_unplaceable_naming_it(resource):
    result = plan_for([make_pod("x", owner="ReplicaSet/x", spec=device_pod("x", {resource: "1"}))])
    assert result.new_nodes == ()
    assert resource in result.unplaceable[0].reason


def test_configured_extended_resource_is_offered_by_the_types_it_names():
    cfg = config(extendedResources={"example.com/fpga": {"typeRegexp": r"^c6i\.", "count": 2}})
    pods = [make_pod(f"x{i}", owner="ReplicaSet/x", spec=device_pod("x", {"example.com/fpga": "1"}, "500m")) for i in range(3)]
    result = plan_for(pods, cfg=cfg)
    assert all(n.instance_type.startswith("c6i.") for n in result.new_nodes)
    assert sorted(len(n.pods) for n in result.new_nodes) == [1, 2]  # two devices per node


def test_nvidia_and_amd_gpus_are_not_summed():
    spec = device_pod("g", {"nvidia.com/gpu": "1", "amd.com/gpu": "1"})
    result = plan_for([make_pod("g", owner="ReplicaSet/g", spec=spec)])
    assert result.new_nodes == () and "amd.com/gpu" in result.unplaceable[0].reason + "nvidia.com/gpu"


def test_fractional_gpu_request_is_rejected_as_kubernetes_does():
    with pytest.raises(PodSpecError, match="whole number"):
        make_pod("g", spec=device_pod("g", {"nvidia.com/gpu": "0.5"}))


# ---- pod-level resources (Kubernetes 1.34)


def test_pod_level_requests_replace_the_containers_sum():
    spec = {"resources": {"requests": {"cpu": "3", "memory": "2Gi"}},
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}, {"name": "b"}]}
    pod = make_pod("p", spec=spec)
    assert (pod.requests.cpu, pod.requests.memory) == (3000, 2 * GI)


def test_pod_level_limit_alone_is_the_request():
    spec = {"resources": {"limits": {"cpu": "2"}}, "containers": [{"name": "a", "resources": {"requests": {"memory": "1Gi"}}}]}
    pod = make_pod("p", spec=spec)
    assert (pod.requests.cpu, pod.requests.memory) == (2000, GI)


# ---- alternatives for one CreateFleet call


def test_new_nodes_carry_cheaper_first_equivalent_alternatives():
    result = plan_for(replicas("web", 3, "1", "1Gi"))
    (node,) = result.new_nodes
    assert 1 <= len(node.alternatives) <= 4
    assert all(alt.price >= node.price for alt in node.alternatives)
    assert all(alt.name != node.instance_type for alt in node.alternatives)


def test_spread_on_the_region_puts_every_pod_in_one_domain():
    result = plan_for(replicas("web", 6, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec("topology.kubernetes.io/region")))
    assert [len(n.pods) for n in result.new_nodes] == [6]


def test_spread_on_a_key_no_node_carries_is_unplaceable():
    """kube-scheduler filters out nodes without the constraint's topology key."""
    result = plan_for(replicas("web", 2, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec("example.com/rack")))
    assert result.new_nodes == ()
    assert all("example.com/rack is not a label" in u.reason for u in result.unplaceable)


def test_bin_select_pods_spread_over_zones_get_a_node_per_zone():
    """Big (bin-select) pods with zone spread: three pods of 4 CPU over three zones."""
    pods = replicas("big", 3, "4", "16Gi", labels={"app": "web"}, spec=spread_spec(ZONE, zones=THREE_ZONES))
    result = plan_for(pods)
    assert pods_per_zone(result) == {zone: 1 for zone in THREE_ZONES}
    assert all(node.mode == "bin-select" for node in result.new_nodes)


def test_bin_select_zone_anti_affinity_leaves_the_fourth_pod_unplaceable():
    pods = replicas("big", 4, "4", "16Gi", labels={"app": "web"}, spec=anti_spec(ZONE, "web", THREE_ZONES))
    result = plan_for(pods)
    assert pods_per_zone(result) == {zone: 1 for zone in THREE_ZONES}
    assert len(result.unplaceable) == 1 and "anti-affinity" in result.unplaceable[0].reason


def test_bin_select_spread_on_a_key_no_node_carries_is_unplaceable():
    result = plan_for(replicas("big", 1, "4", "16Gi", labels={"app": "web"}, spec=spread_spec("unknown")))
    assert result.new_nodes == () and "topology key unknown" in result.unplaceable[0].reason


# ---- topology spread on other node labels (label_spread.py)

CAPACITY_TYPE = "karpenter.sh/capacity-type"


def _capacity_type_nodes(web_on_demand: int = 0) -> list[Node]:
    """A full on-demand node (running `web_on_demand` web pods) and a full spot node (none)."""
    nodes = []
    for name, capacity_type, count in (("od", "on-demand", web_on_demand), ("sp", "spot", 0)):
        running = [make_pod(f"{name}-{j}", labels={"app": "web"}, owner="ReplicaSet/old") for j in range(count)]
        node = existing(name, "us-east-1a", running, free_cpu=0)
        node.labels[CAPACITY_TYPE] = capacity_type
        nodes.append(node)
    return nodes


def test_capacity_type_spread_with_only_on_demand_offerings_stops_at_max_skew_and_says_why():
    """Given a full on-demand and a full spot node, neither running a web pod, and bin-pack nodes
    on-demand only (the default), when 4 web pods spread over karpenter.sh/capacity-type (maxSkew
    1) are pending, then one goes to a new on-demand node and 3 are unplaceable: the spot domain
    holds the minimum at 0, as kube-scheduler would leave them (no on-demand node it would not use)."""
    pods = replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(CAPACITY_TYPE))
    result = plan_for(pods, nodes=_capacity_type_nodes())
    assert [(n.capacity_type, len(n.pods)) for n in result.new_nodes] == [("on-demand", 1)]
    assert len(result.unplaceable) == 3
    assert result.unplaceable[0].reason.startswith("topology spread on karpenter.sh/capacity-type (maxSkew 1")


def test_capacity_type_spread_with_spot_and_on_demand_allowed_fills_the_emptier_type_first():
    """Given the on-demand node already running 2 web pods, when 4 more are pending and bin-pack
    nodes may be spot or on-demand, then spot takes 3 and on-demand 1 (3 and 3 in the end)."""
    pods = replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(CAPACITY_TYPE))
    result = plan_for(pods, nodes=_capacity_type_nodes(web_on_demand=2), cfg=config(binPackingNodePricing="spot,on-demand"))
    per_type = Counter()
    for node in result.new_nodes:
        per_type[node.capacity_type] += len(node.pods)
    assert per_type == {"spot": 3, "on-demand": 1} and result.unplaceable == ()


def test_capacity_type_spread_on_an_empty_cluster_keeps_the_cheapest_type():
    """No node is a domain yet and only on-demand is allowed: the 4 pods share one on-demand node."""
    pods = replicas("web", 4, "500m", "512Mi", labels={"app": "web"}, spec=spread_spec(CAPACITY_TYPE))
    assert [(n.capacity_type, len(n.pods)) for n in plan_for(pods).new_nodes] == [("on-demand", 4)]
