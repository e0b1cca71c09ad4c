"""The planner, scenario by scenario (SPEC §2–§4): given pods and a catalog, expect launches."""

from __future__ import annotations

import pytest

from autoscaler.model import BIN_PACK, BIN_SELECT, Node
from autoscaler.planner import DaemonSetOverhead
from autoscaler.resources import Resources
from tests.helpers import config, launched, make_pod, plan_for, replicas, types_count

GI = 2**30
ANN = "smart-autoscaler.io/"


def node(name: str, itype: str, role: str, allocatable: Resources, **kwargs) -> Node:
    kwargs.setdefault("capacity_type", "on-demand")
    kwargs.setdefault("zone", "us-east-1a")
    return Node(name=name, instance_type=itype, allocatable=allocatable, managed=True, role=role, **kwargs)


# ---- classification: "equals or exceeds" a threshold makes a pod bin-select


@pytest.mark.parametrize(
    "cpu, memory, gpu, mode",
    [
        ("1999m", "1Gi", 0, BIN_PACK),
        ("2", "1Gi", 0, BIN_SELECT),
        ("500m", "8Gi", 0, BIN_SELECT),
        ("500m", "7Gi", 0, BIN_PACK),
        ("500m", "1Gi", 1, BIN_SELECT),
    ],
)
def test_default_thresholds_classify_pods(cpu, memory, gpu, mode):
    result = plan_for([make_pod("p", cpu, memory, gpu)])
    assert result.modes["default/p"] == mode
    assert [n.mode for n in result.new_nodes] == [mode]


def test_instance_selection_annotation_makes_a_small_pod_bin_select():
    pod = make_pod("p", "100m", "100Mi", annotations={ANN + "instance-family-inclusions": "m5"})
    result = plan_for([pod])
    assert result.modes["default/p"] == BIN_SELECT
    assert launched(result) == [("m5.large", "on-demand", 1)]


def test_thresholds_come_from_config():
    cfg = config(binSelectPodCpuThreshold="4", binSelectPodMemoryThreshold="16Gi")
    result = plan_for([make_pod("p", "2", "8Gi")], cfg=cfg)
    assert result.modes["default/p"] == BIN_PACK


# ---- bin-pack


def test_bin_pack_node_is_the_cheapest_type_with_the_configured_shape():
    """Default shape 4 CPU / 8Gi on us-east-1: t3a.xlarge (4 vCPU, 16 GiB, $0.1504) is cheapest;
    its 3.92 allocatable CPUs hold three 1-CPU pods, so ten pods need four nodes."""
    result = plan_for(replicas("web", 10, "1", "1Gi"))
    assert launched(result) == [("t3a.xlarge", "on-demand", 3)] * 3 + [("t3a.xlarge", "on-demand", 1)]
    assert result.hourly_cost == pytest.approx(4 * 0.1504)


def test_bin_pack_shape_is_configurable():
    cfg = config(binPackingNodeCpu="16", binPackingNodeMemory="32Gi")
    result = plan_for(replicas("web", 10, "1", "1Gi"), cfg=cfg)
    assert {n.instance_type for n in result.new_nodes} == {"c6a.4xlarge"}
    assert [len(n.pods) for n in result.new_nodes] == [10]


def test_bin_pack_pods_of_many_owners_share_nodes():
    pods = replicas("a", 2, "1", "1Gi") + replicas("b", 1, "1", "1Gi")
    result = plan_for(pods)
    assert launched(result) == [("t3a.xlarge", "on-demand", 3)]


def test_first_fit_decreasing_packs_mixed_sizes_into_few_nodes():
    """Two 1.5-CPU pods and one 0.9 fill a 3.92-CPU node to 3.9: eight pods need 3 nodes."""
    pods = replicas("small", 4, "900m", "1Gi") + replicas("big", 4, "1500m", "1Gi")
    result = plan_for(pods)
    assert [len(n.pods) for n in result.new_nodes] == [3, 3, 2]
    assert result.new_nodes[0].pods == ("default/big-0", "default/big-1", "default/small-0")


def test_bin_pack_respects_the_max_pods_of_a_node():
    """t3a.xlarge takes 58 pods (ENI limit): 100 tiny pods need two nodes."""
    result = plan_for(replicas("tiny", 100, "10m", "10Mi"))
    assert [len(n.pods) for n in result.new_nodes] == [58, 42]


def test_bin_pack_fills_room_on_existing_nodes_first():
    existing = node("bp-1", "t3a.xlarge", BIN_PACK, Resources(3920, 14 * GI, 0, 58), used=Resources(1000, GI, 0, 1))
    result = plan_for(replicas("web", 3, "1", "1Gi"), nodes=[existing])
    assert [(p.pod, p.node) for p in result.placements] == [("default/web-0", "bp-1"), ("default/web-1", "bp-1")]
    assert launched(result) == [("t3a.xlarge", "on-demand", 1)]


def test_in_flight_bin_pack_node_counts_as_room_so_a_burst_launches_once():
    """Loop 1 plans 2 nodes for 6 pods; loop 2 sees them in flight and launches nothing."""
    pods = replicas("web", 6, "1", "1Gi")
    first = plan_for(pods)
    assert len(first.new_nodes) == 2
    in_flight = [
        node(f"pending-{i}", n.instance_type, BIN_PACK, n.option.allocatable, in_flight=True, reserved_for=n.pods)
        for i, n in enumerate(first.new_nodes)
    ]
    second = plan_for(pods, nodes=in_flight)
    assert second.new_nodes == ()
    assert len(second.placements) == 6


def test_nodes_not_managed_or_cordoned_are_not_room():
    foreign = Node("x", "t3a.xlarge", "on-demand", "us-east-1a", Resources(3920, 14 * GI, 0, 58), managed=False, role=BIN_PACK)
    cordoned = node("y", "t3a.xlarge", BIN_PACK, Resources(3920, 14 * GI, 0, 58), unschedulable=True)
    result = plan_for(replicas("web", 1, "1", "1Gi"), nodes=[foreign, cordoned])
    assert result.placements == ()
    assert len(result.new_nodes) == 1


def test_bin_pack_pricing_spot_then_on_demand_falls_back_when_spot_is_backed_off():
    cfg = config(binPackingNodePricing="spot,on-demand")
    pods = replicas("web", 2, "1", "1Gi")
    assert launched(plan_for(pods, cfg=cfg)) == [("t3a.xlarge", "spot", 2)]
    backoffs = {("t3a.xlarge", "spot", ""): "insufficient capacity"}
    spot_backed_off = plan_for(pods, cfg=cfg, backoffs=backoffs)
    assert spot_backed_off.new_nodes[0].capacity_type == "spot"
    assert spot_backed_off.new_nodes[0].instance_type != "t3a.xlarge"


def test_bin_pack_pod_bigger_than_the_shape_type_gets_a_type_that_holds_it():
    """7.5Gi does not fit the 8 GiB shape type after reservations; a bigger type is chosen."""
    cfg = config(binSelectPodMemoryThreshold="16Gi")
    result = plan_for([make_pod("p", "500m", "15Gi")], cfg=cfg)
    (new,) = result.new_nodes
    assert new.mode == BIN_PACK
    assert new.option.allocatable.memory >= 15 * GI


def test_pods_sharing_a_host_port_never_share_a_node():
    spec = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}, "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
    pods = [make_pod(f"hp-{i}", owner="ReplicaSet/hp", spec=spec) for i in range(3)]
    assert [len(n.pods) for n in plan_for(pods).new_nodes] == [1, 1, 1]


def test_required_anti_affinity_on_hostname_means_one_pod_per_node():
    spec = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "db"}}}
                ]
            }
        }
    }
    pods = [make_pod(f"db-{i}", labels={"app": "db"}, owner="StatefulSet/db", spec=spec) for i in range(3)]
    assert [len(n.pods) for n in plan_for(pods).new_nodes] == [1, 1, 1]


# ---- bin-select


def test_sixteen_cpu_request_does_not_fit_a_sixteen_vcpu_node():
    (new,) = plan_for([make_pod("p", "16", "16Gi")]).new_nodes
    assert new.option.instance_type.vcpu > 16


def test_sixteen_gi_request_does_not_fit_a_sixteen_gib_node():
    (new,) = plan_for([make_pod("p", "1", "16Gi")]).new_nodes
    assert new.option.instance_type.memory_mib > 16 * 1024


def test_pod_without_gpu_never_gets_a_gpu_node_and_gpu_pod_always_does():
    result = plan_for([make_pod("cpu", "8", "32Gi"), make_pod("gpu", "8", "32Gi", 1)])
    by_pod = {n.pods[0]: n.option.instance_type for n in result.new_nodes}
    assert by_pod["default/cpu"].gpu_count == 0 and not by_pod["default/cpu"].gpu_fractional
    assert by_pod["default/gpu"].gpu_count >= 1
    assert by_pod["default/gpu"].gpu_manufacturer == "nvidia"


def test_amd_gpu_request_gets_an_amd_gpu_node():
    pod = make_pod("p", "4", "16Gi", spec={"containers": [{"name": "c", "resources": {"limits": {"amd.com/gpu": "1"}}}]})
    (new,) = plan_for([pod]).new_nodes
    assert new.option.instance_type.gpu_manufacturer == "amd"


def test_gpu_sku_list_restricts_the_gpu_model():
    pod = make_pod("p", "4", "16Gi", 1, annotations={ANN + "instance-gpu-skus": "a10g"})
    (new,) = plan_for([pod]).new_nodes
    assert new.option.instance_type.gpu_model == "A10G"
    assert new.instance_type == "g5.2xlarge"


def test_max_cost_too_low_gives_a_reason_naming_gpus_price_and_region():
    pod = make_pod("p", "8", "32Gi", 2, annotations={ANN + "instance-gpu-skus": "A100", ANN + "instance-max-cost": "4.75"})
    result = plan_for([pod])
    assert result.new_nodes == ()
    (blocked,) = result.unplaceable
    assert blocked.pod == "default/p"
    assert "no offering has 2 A100 GPUs" in blocked.reason
    assert "under $4.75/h in aws us-east-1" in blocked.reason


def test_max_cost_picks_the_cheapest_under_the_ceiling():
    pod = make_pod("p", "4", "16Gi", 1, annotations={ANN + "instance-max-cost": "0.8"})
    (new,) = plan_for([pod]).new_nodes
    assert (new.instance_type, new.price) == ("g4dn.2xlarge", 0.752)
    lower = make_pod("q", "4", "16Gi", 1, annotations={ANN + "instance-max-cost": "0.7"})
    assert plan_for([lower]).new_nodes == ()


def test_spot_offering_annotation_chooses_spot_at_the_estimated_ratio():
    pod = make_pod("p", "4", "8Gi", annotations={ANN + "instance-offerings": "spot"})
    (new,) = plan_for([pod]).new_nodes
    assert (new.instance_type, new.capacity_type, new.price) == ("t3a.2xlarge", "spot", 0.1504)
    assert new.option.price_estimated


def test_spot_price_ratio_estimate_is_configurable():
    pod = make_pod("p", "4", "8Gi", annotations={ANN + "instance-offerings": "spot"})
    cfg = config(spotPriceRatioEstimate=0.3)
    (new,) = plan_for([pod], cfg=cfg).new_nodes
    assert new.price == pytest.approx(0.3008 * 0.3, abs=1e-6)


@pytest.mark.parametrize(
    "annotation, value, check",
    [
        ("instance-type-regexp", r"^m6i\.", lambda t: t.name.startswith("m6i.")),
        ("instance-family-inclusions", "c6i,m6i", lambda t: t.family in ("c6i", "m6i")),
        ("instance-family-exclusions", "t3a,t3,c6a,c5a", lambda t: t.family not in ("t3a", "t3", "c6a", "c5a")),
    ],
)
def test_type_and_family_annotations_constrain_the_type(annotation, value, check):
    pod = make_pod("p", "2", "4Gi", annotations={ANN + annotation: value})
    (new,) = plan_for([pod]).new_nodes
    assert check(new.option.instance_type)


def test_max_gpus_annotation_bounds_the_gpu_count():
    pod = make_pod("p", "8", "32Gi", 1, annotations={ANN + "instance-gpu-skus": "A100", ANN + "instance-max-gpus": "4"})
    result = plan_for([pod])
    assert result.new_nodes == ()
    assert "with at most 4 GPUs" in result.unplaceable[0].reason


def test_arm_types_only_when_the_pod_allows_them_or_config_includes_them():
    pod = make_pod("p", "2", "4Gi")
    assert plan_for([pod]).new_nodes[0].option.instance_type.arch == "amd64"
    arm_pod = make_pod("p", "2", "4Gi", spec={"nodeSelector": {"kubernetes.io/arch": "arm64"}})
    assert plan_for([arm_pod]).new_nodes[0].option.instance_type.arch == "arm64"
    cheapest_any = plan_for([pod], cfg=config(includeArmInstance=True)).new_nodes[0]
    assert cheapest_any.option.instance_type.arch == "arm64"


def test_nodes_below_min_node_size_are_never_chosen():
    pod = make_pod("p", "100m", "100Mi", annotations={ANN + "instance-family-inclusions": "t3a"})
    (new,) = plan_for([pod], cfg=config(minNodeCpu="2", minNodeMemory="4Gi")).new_nodes
    assert new.instance_type == "t3a.medium"


def test_zone_affinity_narrows_the_zones_of_the_launch():
    pod = make_pod("p", "2", "4Gi", spec={"nodeSelector": {"topology.kubernetes.io/zone": "us-east-1b"}})
    (new,) = plan_for([pod]).new_nodes
    assert new.option.zones == ("us-east-1b",)


def test_node_labels_a_pod_requires_must_be_ones_the_new_node_will_carry():
    pod = make_pod("p", "2", "4Gi", spec={"nodeSelector": {"node.elotl.co/created-by": "luna"}})
    assert plan_for([pod]).new_nodes == ()
    cfg = config(nodeLabels={"node.elotl.co/created-by": "luna"})
    assert len(plan_for([pod], cfg=cfg).new_nodes) == 1


def test_capacity_type_affinity_chooses_spot_without_annotation():
    pod = make_pod("p", "4", "8Gi", spec={"nodeSelector": {"karpenter.sh/capacity-type": "spot"}})
    (new,) = plan_for([pod]).new_nodes
    assert new.capacity_type == "spot"


def test_aks_spot_nodes_need_the_toleration():
    spot = {ANN + "instance-offerings": "spot"}
    untolerating = plan_for([make_pod("p", "2", "4Gi", annotations=spot)], "azure", "eastus")
    assert untolerating.new_nodes == ()
    assert "kubernetes.azure.com/scalesetpriority=spot:NoSchedule" in untolerating.unplaceable[0].reason
    toleration = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
    tolerating = plan_for([make_pod("p", "2", "4Gi", annotations=spot, spec={"tolerations": [toleration]})], "azure", "eastus")
    assert tolerating.new_nodes[0].capacity_type == "spot"


def test_fractional_gpu_sizes_never_satisfy_a_whole_gpu():
    pod = make_pod("p", "4", "16Gi", 1, annotations={ANN + "instance-gpu-skus": "A10"})
    (new,) = plan_for([pod], "azure", "eastus").new_nodes
    assert new.instance_type == "Standard_NV36ads_A10_v5"


def test_oke_gpu_taint_is_tolerated_by_gpu_pods():
    (new,) = plan_for([make_pod("p", "4", "16Gi", 1)], "oci", "us-ashburn-1").new_nodes
    assert new.instance_type == "VM.GPU2.1"
    assert new.price == 1.275


def test_gcp_attached_gpu_priced_as_machine_plus_gpus():
    pod = make_pod("p", "2", "8Gi", 1, annotations={ANN + "instance-gpu-skus": "T4"})
    (new,) = plan_for([pod], "gcp", "us-central1").new_nodes
    assert new.instance_type == "n1-standard-4+1xnvidia-tesla-t4"
    assert new.price == pytest.approx(0.54)


def test_gke_time_sharing_selectors_let_two_pods_share_one_gpu():
    selector = {
        "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
        "cloud.google.com/gke-max-shared-clients-per-gpu": "2",
    }
    pods = replicas("ts", 2, "500m", "1Gi", 1, spec={"nodeSelector": selector}, annotations={ANN + "instance-gpu-skus": "T4"})
    result = plan_for(pods, "gcp", "us-central1")
    assert launched(result) == [("n1-standard-2+1xnvidia-tesla-t4", "on-demand", 2)]


def test_daemonset_overhead_reduces_room_on_every_node():
    ds = DaemonSetOverhead("kube-system/agent", Resources(cpu=500, memory=GI, pods=1))
    without = plan_for(replicas("web", 4, "900m", "1Gi"))
    with_ds = plan_for(replicas("web", 4, "900m", "1Gi"), daemonsets=[ds])
    assert len(without.new_nodes) == 1
    assert len(with_ds.new_nodes) == 2


# ---- bin-select pod sets


def test_set_of_bin_select_pods_packs_when_the_cheapest_node_has_room():
    """m5.large ($0.096, 1.93 CPU) holds three 500m pods: five pods need one full m5.large and
    one for the two left — $0.192, the same as one m5.xlarge holding all five: on that tie
    the smaller node wins."""
    pods = replicas("w", 5, "500m", "1Gi", annotations={ANN + "instance-family-inclusions": "m5"})
    result = plan_for(pods)
    assert launched(result) == [("m5.large", "on-demand", 3), ("m5.large", "on-demand", 2)]


def test_set_stays_one_per_node_when_the_cheapest_node_holds_one():
    pods = replicas("w", 3, "2", "4Gi", annotations={ANN + "instance-family-inclusions": "m5"})
    assert launched(plan_for(pods)) == [("m5.xlarge", "on-demand", 1)] * 3


def test_pods_of_different_owners_are_different_sets():
    pods = [
        make_pod("a", "16", "16Gi", 2, owner="ReplicaSet/a"),
        make_pod("b", "16", "16Gi", 2, owner="ReplicaSet/b"),
    ]
    assert len(plan_for(pods).new_nodes) == 2


def test_idle_bin_select_node_is_reused_instead_of_adding_one():
    idle = node("bs-1", "g6.8xlarge", BIN_SELECT, Resources(31850, 110 * GI, 1, 234))
    pod = make_pod("p", "16", "16Gi", 1, annotations={ANN + "instance-gpu-skus": "L4"})
    result = plan_for([pod], nodes=[idle])
    assert [(p.pod, p.node) for p in result.placements] == [("default/p", "bs-1")]
    assert result.new_nodes == ()
    busy = node("bs-1", "g6.8xlarge", BIN_SELECT, Resources(31850, 110 * GI, 1, 234), workload_pods=1)
    assert len(plan_for([pod], nodes=[busy]).new_nodes) == 1
    assert len(plan_for([pod], nodes=[idle], cfg=config(reuseBinSelectNodes=False)).new_nodes) == 1


# ---- back-off


def test_backed_off_type_is_skipped_for_the_next_cheapest():
    pod = make_pod("p", "16", "16Gi", 1, annotations={ANN + "instance-gpu-skus": "L4,A10G"})
    assert plan_for([pod]).new_nodes[0].instance_type == "g6.8xlarge"
    backoffs = {("g6.8xlarge", "on-demand", ""): "insufficient capacity"}
    assert plan_for([pod], backoffs=backoffs).new_nodes[0].instance_type == "gr6.8xlarge"


def test_zone_back_off_removes_only_that_zone():
    pod = make_pod("p", "2", "4Gi")
    backoffs = {("t3a.xlarge", "on-demand", "us-east-1a"): "insufficient capacity"}
    (new,) = plan_for([pod], backoffs=backoffs).new_nodes
    assert new.instance_type == "t3a.xlarge"
    assert "us-east-1a" not in new.option.zones


def test_everything_backed_off_says_so():
    pod = make_pod("p", "16", "16Gi", 1, annotations={ANN + "instance-gpu-skus": "L4"})
    backoffs = {
        (t, "on-demand", ""): "quota exceeded"
        for t in ("g6.8xlarge", "g6.12xlarge", "g6.16xlarge", "g6.24xlarge", "g6.48xlarge", "gr6.8xlarge")
    }
    result = plan_for([pod], backoffs=backoffs)
    assert result.new_nodes == ()
    assert result.unplaceable[0].reason.startswith("all candidate offerings are backed off: ")
    assert "quota exceeded" in result.unplaceable[0].reason


# ---- limits


def test_max_nodes_blocks_scale_up_with_the_limit_named():
    existing = [node(f"n{i}", "t3a.xlarge", BIN_PACK, Resources(3920, 14 * GI, 0, 58), used=Resources(3920, 0, 0, 1)) for i in range(2)]
    result = plan_for(replicas("web", 9, "1", "1Gi"), nodes=existing, cfg=config(maxNodes=3))
    assert len(result.new_nodes) == 1
    assert {u.limit for u in result.unplaceable} == {"maxNodes"}
    assert len(result.unplaceable) == 6
    assert "maxNodes=3" in result.unplaceable[0].reason


def test_cluster_gpu_limit_counts_gpus_on_managed_nodes():
    pods = replicas("g", 3, "4", "16Gi", 1)
    result = plan_for(pods, cfg=config(clusterGPULimit=2))
    assert len(result.new_nodes) == 2
    assert [u.limit for u in result.unplaceable] == ["clusterGPULimit"]


def test_max_cluster_hourly_cost_blocks_expensive_nodes():
    pod = make_pod("p", "8", "32Gi", 1, annotations={ANN + "instance-gpu-skus": "A100"})
    result = plan_for([pod], cfg=config(maxClusterHourlyCost=10))
    assert result.new_nodes == ()
    assert result.unplaceable[0].limit == "maxClusterHourlyCost"


def test_higher_priority_pods_get_capacity_first_under_a_limit():
    low = make_pod("low", "4", "8Gi", spec={"priority": 0})
    high = make_pod("high", "4", "8Gi", spec={"priority": 1000})
    result = plan_for([low, high], cfg=config(maxNodes=1))
    assert result.new_nodes[0].pods == ("default/high",)


# ---- bad input never stops planning


def test_malformed_annotation_is_reported_and_ignored():
    bad = make_pod("bad", "2", "4Gi", annotations={ANN + "instance-max-cost": "cheap"})
    good = make_pod("good", "2", "4Gi")
    result = plan_for([bad, good])
    assert len(result.new_nodes) == 2
    (problem,) = result.problems
    assert "default/bad" in problem and ANN + "instance-max-cost" in problem and "'cheap'" in problem


def test_plan_is_deterministic():
    pods = replicas("web", 7, "700m", "1Gi") + replicas("gpu", 2, "8", "32Gi", 1)
    first, second = plan_for(pods), plan_for(pods)
    assert [(n.instance_type, n.pods) for n in first.new_nodes] == [(n.instance_type, n.pods) for n in second.new_nodes]


def test_types_count_helper_counts_nodes():
    assert types_count(plan_for(replicas("web", 4, "1", "1Gi"))) == {"t3a.xlarge": 2}


def test_zone_selector_is_honoured_where_the_catalog_knows_only_the_region():
    pod = make_pod("p", "2", "4Gi", spec={"nodeSelector": {"topology.kubernetes.io/zone": "us-central1-b"}})
    (new,) = plan_for([pod], "gcp", "us-central1").new_nodes
    assert new.option.zones == ("us-central1-b",)
    elsewhere = make_pod("q", "2", "4Gi", spec={"nodeSelector": {"topology.kubernetes.io/zone": "europe-west4-a"}})
    assert plan_for([elsewhere], "gcp", "us-central1").new_nodes == ()
