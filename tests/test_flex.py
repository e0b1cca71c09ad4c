"""Flexible shapes (OCI *.Flex): each node is sized to its pods at the lowest price (SPEC §4).

The sizing is a pure function of the shape's limits and rates (pricing.flex); the planner
replaces each flexible template by the size its need calls for (planner/flexsize.py).
"""

from __future__ import annotations

import pytest

from autoscaler.planner import DaemonSetOverhead
from autoscaler.resources import Resources
from pricing.catalog import region_catalog
from pricing.flex import FlexShape, cheapest_config, size_for_allocatable, size_for_listed
from tests.helpers import config, launched, make_pod, plan_for, replicas

GIB = 2**30
OCI = ("oci", "us-ashburn-1")


def shape(name: str) -> FlexShape:
    (found,) = [s for s in region_catalog(*OCI).flex_shapes if s.name == name]
    return found


E4, E5, A1, STANDARD3 = (shape(n) for n in ("VM.Standard.E4.Flex", "VM.Standard.E5.Flex", "VM.Standard.A1.Flex", "VM.Standard3.Flex"))


# ---- the pure sizing


def test_4_cpu_24_gib_need_gets_3_ocpus_and_28_gb_on_e4():
    # 2 OCPU = 4 vCPU leaves 3.92 CPU after OKE's reservation: 3 OCPU it is; 27 GB leaves 23.6 GiB
    config_ = size_for_allocatable(E4, Resources(cpu=4000, memory=24 * GIB, pods=1))
    assert (config_.ocpus, config_.memory_gb, config_.price) == (3, 28, pytest.approx(3 * 0.025 + 28 * 0.0015))
    allocatable = E4.instance_type(3, 28).allocatable
    assert allocatable.cpu >= 4000 and allocatable.memory >= 24 * GIB
    assert E4.instance_type(3, 27).allocatable.memory < 24 * GIB


def test_memory_heavy_need_raises_ocpus_only_as_far_as_the_64_gb_per_ocpu_ceiling():
    # 200 GiB with one CPU: 64 GB per OCPU at most, so 4 OCPUs are needed for the memory alone
    config_ = size_for_allocatable(E5, Resources(cpu=500, memory=200 * GIB, pods=1))
    assert config_.ocpus == 4 and 200 < config_.memory_gb <= 256
    assert config_.price == pytest.approx(4 * 0.03 + config_.memory_gb * 0.002)


def test_cpu_heavy_need_takes_the_1_gb_per_ocpu_floor():
    config_ = size_for_allocatable(E5, Resources(cpu=30_000, memory=GIB, pods=1))
    assert config_.ocpus == 16  # 32 vCPU: 31.7 CPU allocatable
    assert config_.memory_gb == 16  # the floor is 1 GB per OCPU, well above 1 GiB + reservation
    assert config_.price == pytest.approx(16 * 0.03 + 16 * 0.002)


def test_minimum_node_size_holds_for_tiny_needs():
    config_ = size_for_allocatable(E4, Resources(cpu=100, memory=64 * 2**20, pods=1), min_cpu=2000, min_memory=2 * GIB)
    assert (config_.ocpus, config_.memory_gb) == (1, 2)  # 1 OCPU = 2 vCPU


def test_a1_counts_one_vcpu_per_ocpu():
    config_ = size_for_allocatable(A1, Resources(cpu=4000, memory=8 * GIB, pods=1))
    assert config_.ocpus == 5 and A1.instance_type(config_.ocpus, config_.memory_gb).vcpu == 5


def test_need_beyond_the_largest_size_or_with_gpus_gets_nothing():
    assert size_for_allocatable(STANDARD3, Resources(cpu=64_000, memory=GIB, pods=1)) is None  # 32 OCPU = 64 vCPU max
    assert size_for_allocatable(E5, Resources(cpu=1000, memory=1100 * GIB, pods=1)) is None  # 1049 GB max
    assert size_for_allocatable(E5, Resources(cpu=1000, memory=GIB, gpu=1, pods=1)) is None


def test_preemptible_size_is_the_same_at_half_the_price():
    need = Resources(cpu=4000, memory=24 * GIB, pods=1)
    on_demand, spot = size_for_allocatable(E4, need), size_for_allocatable(E4, need, "spot")
    assert (spot.ocpus, spot.memory_gb) == (on_demand.ocpus, on_demand.memory_gb)
    assert spot.price == pytest.approx(on_demand.price / 2)


def test_listed_sizing_meets_a_bin_pack_shape_exactly():
    config_ = size_for_listed(E4, 4000, 8 * GIB)
    assert (config_.ocpus, config_.memory_gb, config_.price) == (2, 8, pytest.approx(0.062))


def test_cheapest_config_prefers_fewer_ocpus_on_a_price_tie():
    free_cpu = FlexShape("X.Flex", "X", "amd64", 2, 0.0, 0.001, 1, 8, 1, 64, 1, 8)
    config_ = cheapest_config(free_cpu, lambda ocpus, gb: gb >= 4)
    assert (config_.ocpus, config_.memory_gb) == (1, 4)


def test_cheapest_config_checks_every_ocpu_count_when_memory_dominates():
    # memory costs far more than CPU: the answer needs enough OCPUs to allow 100 GB, no more
    shape_ = FlexShape("X.Flex", "X", "amd64", 2, 0.001, 1.0, 1, 64, 1, 1024, 1, 16)
    config_ = cheapest_config(shape_, lambda ocpus, gb: gb >= 100)
    assert (config_.ocpus, config_.memory_gb) == (7, 100)


# ---- what the planner launches


def test_a_4_cpu_24_gib_pod_gets_a_flex_node_sized_to_it():
    (new,) = plan_for([make_pod("api", "4", "24Gi")], *OCI).new_nodes
    itype = new.option.instance_type
    assert (itype.name, itype.ocpus, itype.memory_mib // 1024) == ("VM.Standard.E4.Flex", 3, 28)
    assert itype.display_name == "VM.Standard.E4.Flex (3 OCPU, 28 GB)"
    assert new.price == pytest.approx(0.117)


def test_bin_pack_pods_share_flex_nodes_of_the_configured_shape():
    result = plan_for(replicas("web", 6, "500m", "1Gi"), *OCI)
    assert launched(result) == [("VM.Standard.E4.Flex", "on-demand", 6)]
    itype = result.new_nodes[0].option.instance_type
    assert (itype.vcpu, itype.memory_mib) == (4, 8 * 1024)


def test_bin_pack_flex_node_grows_for_a_pod_the_shape_cannot_hold():
    cfg = config(binSelectPodMemoryThreshold="16Gi")
    result = plan_for([make_pod("big", "1", "10Gi")], *OCI, cfg=cfg)
    itype = result.new_nodes[0].option.instance_type
    assert itype.name == "VM.Standard.E4.Flex" and itype.vcpu >= 4 and itype.allocatable.memory >= 10 * GIB


def test_daemonset_overhead_is_added_before_sizing():
    agent = DaemonSetOverhead("agent", Resources(cpu=1000, memory=4 * GIB))
    (new,) = plan_for([make_pod("api", "4", "24Gi")], *OCI, daemonsets=[agent]).new_nodes
    assert new.option.allocatable.cpu >= 4000 and new.option.allocatable.memory >= 24 * GIB
    itype = new.option.instance_type
    assert (itype.ocpus, itype.memory_mib // 1024) == (3, 32)  # without the agent: 3 OCPU, 28 GB


def test_price_ceiling_applies_to_the_sized_node():
    cheap = make_pod("api", "4", "24Gi", annotations={"smart-autoscaler.io/instance-max-cost": "0.11"})
    result = plan_for([cheap], *OCI)
    assert not result.new_nodes and result.unplaceable


def test_arm_flex_goes_to_pods_that_allow_arm64_and_price_decides_between_a1_and_a2():
    pod = make_pod("arm", "4", "8Gi", spec={"nodeSelector": {"kubernetes.io/arch": "arm64"}})
    (new,) = plan_for([pod], *OCI).new_nodes
    itype = new.option.instance_type
    # A1 needs 5 OCPU for 4 CPU allocatable ($0.0665/h with 11 GB); A2's 3 OCPU are 6 vCPU
    assert (itype.name, itype.arch, itype.ocpus, itype.vcpu) == ("VM.Standard.A2.Flex", "arm64", 3, 6)
    assert new.price == pytest.approx(3 * 0.014 + (itype.memory_mib // 1024) * 0.002)
    assert new.price < A1.price(5, 11)
    (x86,) = plan_for([make_pod("x86", "4", "8Gi")], *OCI).new_nodes
    assert x86.option.instance_type.arch == "amd64"


def test_gpu_pods_still_get_the_fixed_gpu_shape():
    (new,) = plan_for([make_pod("p", "4", "16Gi", 1)], *OCI).new_nodes
    assert new.instance_type == "VM.GPU2.1" and new.price == 1.275


def test_an_idle_oke_node_in_an_availability_domain_is_reused():
    # OCI offers shapes region-wide (zone us-ashburn-1); OKE nodes sit in an AD
    from autoscaler.model import Node

    idle = Node(name="10.0.10.2", instance_type="VM.GPU2.1", allocatable=Resources(23_000, 60 * GIB, 1, 110, 90 * GIB),
                managed=True, role="bin-select", capacity_type="on-demand", zone="US-ASHBURN-AD-1")
    result = plan_for([make_pod("p", "4", "16Gi", 1)], *OCI, nodes=[idle])
    assert not result.new_nodes and [p.node for p in result.placements] == ["10.0.10.2"]


# ---- the loop: launched and adopted flexible nodes count their own size


def test_an_oke_flex_node_launched_and_adopted_after_a_restart_counts_its_own_size():
    """Given a 4 CPU / 24 GiB pod on OCI, when the loop launches its node and a restarted process
    adopts the instance before it registers, then both know it as 3 OCPU / 28 GB at $0.117/h (not
    the shape's largest size, which would promise room for pods that will not fit)."""
    from pathlib import Path

    from autoscaler.config import config_from_mapping
    from autoscaler.loop.reconcile import Reconciler
    from autoscaler.sim.scenario import Scenario, Simulation

    scenario = Scenario("oke", "oci", "us-ashburn-1", 3600.0, 10.0, config_from_mapping({}), 60.0, [], Path("."))
    sim = Simulation(scenario, track_cheapest=False)
    sim.cluster.add_pod(make_pod("api", "4", "24Gi"))
    sim.step()
    (instance,) = sim.provider.launched
    assert instance.instance_type == "VM.Standard.E4.Flex"
    assert (instance.tags["smart-autoscaler.io/flex-ocpus"], instance.tags["smart-autoscaler.io/flex-memory-gb"]) == ("3", "28")
    restarted = Reconciler(sim.cluster, sim.provider, sim.catalog, scenario.config, sim.clock)
    adopted = restarted.scale_up.intent_for(instance)
    assert adopted.allocatable == E4.instance_type(3, 28).allocatable
    assert adopted.price == pytest.approx(0.117)
    sim.run_for(70)
    node = sim.cluster.nodes[sim.cluster.pods["default/api"].node_name]
    assert (node.labels["smart-autoscaler.io/flex-ocpus"], node.labels["smart-autoscaler.io/flex-memory-gb"]) == ("3", "28")
    (managed,) = [n for n in sim.reconciler.cluster.view().nodes if n.name == node.name]
    from autoscaler.snapshot import PriceIndex

    assert PriceIndex.of(sim.catalog).price(managed.labels["node.kubernetes.io/instance-type"], "on-demand", managed.labels) == pytest.approx(0.117)
