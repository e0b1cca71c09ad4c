"""The embedded catalog (pricing.catalog) and node allocatable arithmetic (pricing.allocatable).

Figures are checked against the raw data in pricing/data/ and the clouds' documented formulas.
"""

from __future__ import annotations

import pytest

from pricing.allocatable import (
    EVICTION_THRESHOLD,
    aks_cpu_reservation,
    node_resources,
    tiered_cpu_reservation,
    tiered_memory_reservation,
)
from pricing.catalog import CatalogError, CatalogSettings, raw_catalog, region_catalog
from pricing.types import Offering, Taint

MIB, GIB, MB = 2**20, 2**30, 10**6
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
AKS_SPOT_TAINT = Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")


def index(cloud: str, region: str, settings: CatalogSettings = CatalogSettings()) -> dict[tuple[str, str, str], Offering]:
    """(instance type, capacity type, zone) -> offering."""
    catalog = region_catalog(cloud, region, settings)
    assert (catalog.cloud, catalog.region) == (cloud, region)
    return {(o.instance_type.name, o.capacity_type, o.zone): o for o in catalog.offerings}


def offers(cloud: str, region: str, name: str, capacity_type: str = "on-demand", settings=CatalogSettings()) -> list[Offering]:
    return [o for o in region_catalog(cloud, region, settings).offerings if o.instance_type.name == name and o.capacity_type == capacity_type]


def one(cloud: str, region: str, name: str, capacity_type: str = "on-demand", settings=CatalogSettings()) -> Offering:
    found = offers(cloud, region, name, capacity_type, settings)
    assert found, f"{name} {capacity_type} not offered in {cloud} {region}"
    return found[0]


def zones_of(cloud: str, region: str, name: str, capacity_type: str = "on-demand") -> set[str]:
    return {o.zone for o in offers(cloud, region, name, capacity_type)}


def aws_price(name: str) -> float:
    return raw_catalog("aws")["prices"]["us-east-1"][name]


def gcp_table(table: str, name: str) -> float:
    return raw_catalog("gcp")[table]["us-central1"][name]


def gcp_gpu(model: str) -> dict:
    return next(g for g in raw_catalog("gcp")["attachable_gpus"] if g["model"] == model)


# ---- AWS prices


@pytest.mark.parametrize(("name", "price"), [("r5a.xlarge", 0.226), ("g6.8xlarge", 2.0144)])
def test_aws_us_east_1_on_demand_list_prices(name, price):
    assert aws_price(name) == price
    for offering in offers("aws", "us-east-1", name):
        assert offering.price == price
        assert offering.price_estimated is False


def test_aws_other_regions_are_priced_from_the_us_east_1_list_and_marked_estimated():
    for offering in offers("aws", "us-west-2", "r5a.xlarge"):
        assert offering.price == 0.226
        assert offering.price_estimated is True
        assert "us-east-1" in offering.price_note


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
def test_aws_spot_is_half_of_on_demand_by_default_and_estimated(region):
    for offering in offers("aws", region, "r5a.xlarge", "spot"):
        assert offering.price == pytest.approx(0.113, abs=1e-9)
        assert offering.price_estimated is True
        assert "spotPriceRatioEstimate" in offering.price_note


def test_aws_spot_follows_the_configured_ratio():
    settings = CatalogSettings(spot_price_ratio=0.3)
    assert one("aws", "us-east-1", "r5a.xlarge", "spot", settings).price == pytest.approx(0.0678, abs=1e-9)
    assert one("aws", "us-east-1", "g6.8xlarge", "spot", settings).price == pytest.approx(2.0144 * 0.3, abs=1e-6)
    assert one("aws", "us-east-1", "r5a.xlarge", "on-demand", settings).price == 0.226


def test_aws_every_offering_has_a_spot_twin_at_the_ratio():
    by_key = index("aws", "us-east-1")
    for (name, capacity_type, zone), offering in by_key.items():
        if capacity_type == "on-demand":
            assert by_key[(name, "spot", zone)].price == pytest.approx(offering.price * 0.5, abs=1e-6)


# ---- AWS zones


@pytest.mark.parametrize("region", ["us-west-2", "us-east-1", "ap-northeast-1", "eu-west-3"])
def test_aws_type_is_offered_only_in_the_zones_the_data_list(region):
    listed = set(raw_catalog("aws")["zones"][region]["g6.8xlarge"])
    assert zones_of("aws", region, "g6.8xlarge") == listed
    assert zones_of("aws", region, "g6.8xlarge", "spot") == listed


def test_aws_g6_8xlarge_zones_in_us_west_2_and_us_east_1():
    assert zones_of("aws", "us-west-2", "g6.8xlarge") == {"us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"}
    assert "us-east-1e" not in zones_of("aws", "us-east-1", "g6.8xlarge")
    assert "us-east-1a" in zones_of("aws", "us-east-1", "g6.8xlarge")


@pytest.mark.parametrize(("region", "name"), [("eu-west-1", "g6.8xlarge"), ("us-west-2", "hpc7g.16xlarge")])
def test_aws_type_the_zone_data_know_but_not_in_the_region_is_not_offered(region, name):
    assert name in raw_catalog("aws")["prices"]["us-east-1"]
    assert name in raw_catalog("aws")["zones"]["us-east-1"]  # the zone data know it...
    assert name not in raw_catalog("aws")["zones"][region]  # ...and say this region lacks it
    assert offers("aws", "us-east-1", name)
    assert offers("aws", region, name) == [] and offers("aws", region, name, "spot") == []


@pytest.mark.parametrize("region", ["us-west-2", "us-east-1", "us-west-1"])
@pytest.mark.parametrize("name", ["g3.4xlarge", "g3s.xlarge"])
def test_aws_g3_without_zone_data_is_offered_in_every_zone_of_the_region(region, name):
    region_zones = raw_catalog("aws")["zones"][region]
    every_zone = {zone for zones in region_zones.values() for zone in zones}
    assert zones_of("aws", region, name) == every_zone
    assert zones_of("aws", region, name, "spot") == every_zone


def test_aws_g3_figures():
    g3 = one("aws", "us-east-1", "g3.4xlarge")
    assert g3.price == aws_price("g3.4xlarge")
    assert (g3.instance_type.gpu_count, g3.instance_type.gpu_model, g3.instance_type.vcpu) == (1, "M60", 16)


def test_aws_mac_families_are_never_offered():
    families = {o.instance_type.family for o in region_catalog("aws", "us-east-1").offerings}
    assert not any(family.startswith("mac") for family in families)


def test_aws_gpu_type_figures():
    itype = one("aws", "us-east-1", "g6.8xlarge").instance_type
    assert (itype.vcpu, itype.memory_mib, itype.gpu_count, itype.gpu_model, itype.arch) == (32, 131072, 1, "L4", "amd64")
    assert itype.capacity.gpu == itype.allocatable.gpu == 1
    assert itype.gpu_resource == "nvidia.com/gpu"


def test_aws_offerings_carry_no_taints():
    assert all(o.taints == () for o in region_catalog("aws", "us-east-1").offerings)


# ---- unknown clouds and regions


@pytest.mark.parametrize(
    ("cloud", "region", "named", "listed"),
    [
        ("aws", "mars-1", "'mars-1'", "us-west-2"),
        ("azure", "mars", "'mars'", "eastus"),
        ("ibm", "us-south", "'ibm'", "aws, gcp, azure, oci"),
    ],
)
def test_unknown_region_or_cloud_is_an_error_listing_the_known_ones(cloud, region, named, listed):
    with pytest.raises(CatalogError) as err:
        region_catalog(cloud, region)
    assert named in str(err.value)
    assert listed in str(err.value)


# ---- GCP


def test_gcp_attachable_gpu_costs_machine_plus_gpu():
    offering = one("gcp", "us-central1", "n1-standard-4+1xnvidia-tesla-t4")
    assert offering.price == pytest.approx(0.54, abs=1e-9)  # SOURCES.md: n1-standard-4 + 1 T4 = $0.54
    assert offering.price == pytest.approx(gcp_table("prices", "n1-standard-4") + gcp_gpu("T4")["price"], abs=1e-9)
    itype = offering.instance_type
    assert (itype.gpu_count, itype.gpu_model, itype.machine_type, itype.vcpu) == (1, "T4", "n1-standard-4", 4)
    assert (itype.accelerator.cloud_name, itype.accelerator.count) == ("nvidia-tesla-t4", 1)
    assert itype.allocatable.gpu == 1


@pytest.mark.parametrize(
    ("machine", "model", "count"),
    [("n1-standard-4", "T4", 2), ("n1-standard-8", "V100", 2), ("n1-highmem-8", "P100", 4), ("n1-standard-16", "P4", 1)],
)
def test_gcp_attachable_prices_from_the_data(machine, model, count):
    gpu = gcp_gpu(model)
    name = f"{machine}+{count}x{gpu['gce_name']}"
    on_demand = one("gcp", "us-central1", name)
    spot = one("gcp", "us-central1", name, "spot")
    assert on_demand.price == pytest.approx(gcp_table("prices", machine) + count * gpu["price"], abs=1e-9)
    assert spot.price == pytest.approx(gcp_table("spot_prices", machine) + count * gpu["preemptible_price"], abs=1e-9)
    assert on_demand.price_estimated is False and spot.price_estimated is False
    assert on_demand.instance_type.gpu_count == count


def test_gcp_v100_counts():
    names = {o.instance_type.name for o in region_catalog("gcp", "us-central1").offerings}
    counts = {n.split("+")[1].split("x")[0] for n in names if n.startswith("n1-standard-8+") and "v100" in n}
    assert counts == {"1", "2", "4", "8"}


@pytest.mark.parametrize(
    ("name", "offered"),
    [
        ("n1-standard-8+1xnvidia-tesla-v100", True),
        ("n1-standard-16+1xnvidia-tesla-v100", False),  # V100 x1 allows at most 12 vCPU
        ("n1-standard-16+2xnvidia-tesla-v100", True),
        ("n1-standard-32+2xnvidia-tesla-v100", False),
        ("n1-standard-32+4xnvidia-tesla-v100", True),
        ("n1-standard-64+4xnvidia-tesla-v100", False),
        ("n1-standard-64+8xnvidia-tesla-v100", True),
        ("n1-standard-32+1xnvidia-tesla-p4", False),  # P4 x1 allows at most 24 vCPU
        ("n1-standard-16+1xnvidia-tesla-t4", True),
    ],
)
def test_gcp_attachable_vcpu_limits(name, offered):
    assert bool(offers("gcp", "us-central1", name)) is offered


def test_gcp_gpu_nodes_carry_the_gpu_taint():
    for offering in region_catalog("gcp", "us-central1").offerings:
        if offering.instance_type.gpu_count:
            assert GPU_TAINT in offering.taints
        else:
            assert offering.taints == ()
    assert one("gcp", "us-central1", "g2-standard-8").taints == (GPU_TAINT,)
    assert one("gcp", "us-central1", "n1-standard-4+1xnvidia-tesla-t4", "spot").taints == (GPU_TAINT,)


def test_gcp_spot_comes_from_the_spot_table_in_us_central1():
    spot = one("gcp", "us-central1", "n2-standard-4", "spot")
    assert spot.price == gcp_table("spot_prices", "n2-standard-4")
    assert spot.price_estimated is False
    on_demand = one("gcp", "us-central1", "n2-standard-4")
    assert (on_demand.price, on_demand.price_estimated) == (gcp_table("prices", "n2-standard-4"), False)


def test_gcp_spot_without_a_table_price_is_estimated_from_the_ratio():
    name = "c3d-highcpu-16"
    assert name not in raw_catalog("gcp")["spot_prices"]["us-central1"]
    spot = one("gcp", "us-central1", name, "spot")
    assert spot.price == pytest.approx(gcp_table("prices", name) * 0.5, abs=1e-6)
    assert spot.price_estimated is True


def test_gcp_other_regions_are_estimated():
    for capacity_type in ("on-demand", "spot"):
        offering = one("gcp", "europe-west4", "n2-standard-4", capacity_type)
        assert offering.price_estimated is True
        assert "us-central1" in offering.price_note
    assert one("gcp", "europe-west4", "n2-standard-4").price == gcp_table("prices", "n2-standard-4")


# ---- Azure


@pytest.mark.parametrize("region", ["eastus", "westeurope"])
@pytest.mark.parametrize("name", ["Standard_D4s_v5", "Standard_NV36ads_A10_v5"])
def test_azure_prices_per_region(region, name):
    offering = one("azure", region, name)
    assert offering.price == raw_catalog("azure")["prices"][region][name]
    assert offering.price_estimated is False
    assert offering.taints == ()


def test_azure_regions_differ():
    assert one("azure", "eastus", "Standard_D4s_v5").price == 0.192
    assert one("azure", "westeurope", "Standard_D4s_v5").price == 0.23


@pytest.mark.parametrize(("name", "gpus", "fractional"), [
    ("Standard_NV6ads_A10_v5", 0, True),
    ("Standard_NV12ads_A10_v5", 0, True),
    ("Standard_NV36ads_A10_v5", 1, False),
    ("Standard_NV72ads_A10_v5", 2, False),
])
def test_azure_fractional_a10_sizes_carry_no_whole_gpu(name, gpus, fractional):
    itype = one("azure", "eastus", name).instance_type
    assert (itype.gpu_count, itype.gpu_fractional, itype.gpu_model) == (gpus, fractional, "A10")
    assert itype.allocatable.gpu == gpus
    assert itype.has_gpu


def test_azure_spot_carries_the_scale_set_priority_taint():
    spot = one("azure", "eastus", "Standard_D4s_v5", "spot")
    assert spot.taints == (AKS_SPOT_TAINT,)
    assert spot.price == pytest.approx(0.096, abs=1e-9)
    assert spot.price_estimated is True
    assert all(AKS_SPOT_TAINT in o.taints for o in region_catalog("azure", "eastus").offerings if o.capacity_type == "spot")


# ---- OCI


@pytest.mark.parametrize("region", ["us-ashburn-1", "eu-frankfurt-1"])
def test_oci_gpu_shape_price_in_any_region(region):
    on_demand = one("oci", region, "VM.GPU2.1")
    preemptible = one("oci", region, "VM.GPU2.1", "spot")
    assert on_demand.price == 1.275
    assert preemptible.price == pytest.approx(0.6375, abs=1e-9)
    assert on_demand.instance_type.gpu_count == 1 and on_demand.instance_type.gpu_model == "P100"
    assert GPU_TAINT in on_demand.taints and GPU_TAINT in preemptible.taints


@pytest.mark.parametrize(("ocpus", "gb"), [(1, 1), (4, 24), (16, 16), (80, 80)])
def test_oci_a1_flex_priced_per_ocpu_and_gb(ocpus, gb):
    (a1,) = [shape for shape in region_catalog("oci", "us-ashburn-1").flex_shapes if shape.name == "VM.Standard.A1.Flex"]
    assert a1.price(ocpus, gb) == pytest.approx(ocpus * 0.01 + gb * 0.0015, abs=1e-9)
    assert a1.price(ocpus, gb, "spot") == pytest.approx((ocpus * 0.01 + gb * 0.0015) / 2, abs=1e-9)
    itype = a1.instance_type(ocpus, gb)
    assert (itype.arch, itype.vcpu, itype.memory_mib, itype.ocpus) == ("arm64", ocpus, gb * 1024, ocpus)
    assert itype.display_name == f"VM.Standard.A1.Flex ({ocpus} OCPU, {gb} GB)"


def test_oci_flex_shapes_are_one_untainted_template_offering_per_availability_domain():
    catalog = region_catalog("oci", "us-ashburn-1")
    templates = [o for o in catalog.offerings if o.instance_type.flexible and o.capacity_type == "on-demand"]
    in_ad1 = [o for o in templates if o.zone == "US-ASHBURN-AD-1"]
    assert sorted(o.instance_type.name for o in in_ad1) == sorted(shape.name for shape in catalog.flex_shapes)
    assert len(templates) == 3 * len(in_ad1)  # Ashburn has three availability domains
    e5 = next(o for o in templates if o.instance_type.name == "VM.Standard.E5.Flex")
    # offered at its largest size (94 OCPU, 1049 GB) for the static filters, priced from its smallest
    assert (e5.instance_type.vcpu, e5.instance_type.memory_mib) == (188, 1049 * 1024)
    assert e5.price == pytest.approx(0.03 + 0.002) and e5.taints == ()


@pytest.mark.parametrize(
    ("name", "vcpu_per_ocpu", "ocpu_price", "gb_price", "max_ocpus", "max_gb"),
    [
        ("VM.Standard.E4.Flex", 2, 0.025, 0.0015, 64, 1024),
        ("VM.Standard.E5.Flex", 2, 0.03, 0.002, 94, 1049),
        ("VM.Standard.E6.Flex", 2, 0.03, 0.002, 126, 1454),
        ("VM.Standard3.Flex", 2, 0.04, 0.0015, 32, 512),
        ("VM.Standard.A1.Flex", 1, 0.01, 0.0015, 80, 512),
        ("VM.Standard.A2.Flex", 2, 0.014, 0.002, 78, 946),
    ],
)
def test_oci_flex_shape_data(name, vcpu_per_ocpu, ocpu_price, gb_price, max_ocpus, max_gb):
    (shape,) = [s for s in region_catalog("oci", "us-ashburn-1").flex_shapes if s.name == name]
    assert (shape.vcpu_per_ocpu, shape.ocpu_price, shape.memory_gb_price) == (vcpu_per_ocpu, ocpu_price, gb_price)
    assert (shape.min_ocpus, shape.max_ocpus, shape.max_memory_gb) == (1, max_ocpus, max_gb)
    assert shape.memory_range(4) == (4, 256)  # 1 to 64 GB per OCPU


@pytest.mark.parametrize(
    ("name", "gpus", "model", "price", "ocpus", "memory_gb"),
    [
        ("VM.GPU2.1", 1, "P100", 1.275, 12, 72),
        ("VM.GPU3.1", 1, "V100", 2.95, 6, 90),
        ("VM.GPU3.4", 4, "V100", 11.8, 24, 360),
        ("VM.GPU.A10.1", 1, "A10", 2.0, 15, 240),
        ("VM.GPU.A10.2", 2, "A10", 4.0, 30, 480),
        ("BM.GPU4.8", 8, "A100", 24.4, 64, 2048),
        ("BM.GPU.A100-v2.8", 8, "A100", 32.0, 128, 2048),
        ("BM.GPU.H100.8", 8, "H100", 80.0, 112, 2048),
        ("BM.GPU.L40S.4", 4, "L40S", 14.0, 112, 1024),
    ],
)
def test_oci_gpu_shapes_priced_per_gpu_hour_and_tainted(name, gpus, model, price, ocpus, memory_gb):
    offering = one("oci", "us-ashburn-1", name)
    itype = offering.instance_type
    assert (itype.gpu_count, itype.gpu_model, itype.ocpus, itype.vcpu, itype.memory_mib) == (
        gpus, model, ocpus, 2 * ocpus, memory_gb * 1024,
    )
    assert offering.price == pytest.approx(price) and GPU_TAINT in offering.taints
    if name.startswith("VM."):
        assert one("oci", "us-ashburn-1", name, "spot").price == pytest.approx(price / 2)


def test_oci_bare_metal_shapes_are_not_offered_preemptible():
    assert offers("oci", "us-ashburn-1", "BM.GPU.H100.8", "spot") == []
    assert offers("oci", "us-ashburn-1", "BM.Standard.E5.192", "spot") == []
    assert offers("oci", "us-ashburn-1", "VM.GPU.A10.1", "spot")


def test_oci_bare_metal_standard_priced_at_its_family_rates():
    assert one("oci", "us-ashburn-1", "BM.Standard.E5.192").price == pytest.approx(192 * 0.03 + 2304 * 0.002)
    assert one("oci", "us-ashburn-1", "BM.Standard.A1.160").instance_type.vcpu == 160


# ---- allocatable


SIXTEEN_VCPU = [
    ("aws", "us-east-1", "m5.4xlarge"),
    ("gcp", "us-central1", "n2-standard-16"),
    ("azure", "eastus", "Standard_D16s_v5"),
]
SIXTEEN_GIB = [
    ("aws", "us-east-1", "m5.xlarge"),
    ("gcp", "us-central1", "n2-standard-4"),
    ("azure", "eastus", "Standard_D4s_v5"),
]


@pytest.mark.parametrize(("cloud", "region", "name"), SIXTEEN_VCPU)
def test_a_16_vcpu_node_has_less_than_16_cpus_allocatable(cloud, region, name):
    itype = one(cloud, region, name).instance_type
    assert itype.vcpu == 16
    assert itype.capacity.cpu == 16000
    assert 0 < itype.allocatable.cpu < 16000


@pytest.mark.parametrize(("cloud", "region", "name"), SIXTEEN_GIB)
def test_a_16_gib_node_has_less_than_16_gib_allocatable(cloud, region, name):
    itype = one(cloud, region, name).instance_type
    assert itype.memory_mib == 16 * 1024
    assert 0 < itype.allocatable.memory < 16 * GIB


def test_a_16_ocpu_16_gb_a1_node_has_less_than_16_cpus_and_16_gib_allocatable():
    (a1,) = [s for s in region_catalog("oci", "us-ashburn-1").flex_shapes if s.name == "VM.Standard.A1.Flex"]
    itype = a1.instance_type(16, 16)
    assert (itype.vcpu, itype.capacity.cpu, itype.memory_mib) == (16, 16000, 16 * 1024)
    assert 0 < itype.allocatable.cpu < 16000 and 0 < itype.allocatable.memory < 16 * GIB


@pytest.mark.parametrize(("cloud", "region"), [("aws", "us-east-1"), ("gcp", "us-central1"), ("azure", "eastus"), ("oci", "us-ashburn-1")])
def test_allocatable_is_below_the_nominal_size_for_every_type(cloud, region):
    for offering in region_catalog(cloud, region).offerings:
        itype = offering.instance_type
        assert itype.allocatable.cpu < itype.vcpu * 1000, itype.name
        # (the Azure data give Standard_B1ls 0 MiB; allocatable is then clamped to 0)
        assert itype.allocatable.memory < itype.memory_mib * MIB or itype.allocatable.memory == 0, itype.name
        assert itype.allocatable.memory >= 0 and itype.allocatable.cpu >= 0, itype.name
        assert itype.allocatable.pods == itype.capacity.pods == itype.max_pods


def test_eks_formula_for_r5a_xlarge():
    itype = one("aws", "us-east-1", "r5a.xlarge").instance_type
    assert itype.max_pods == 58
    memory = int(32768 * MIB * (1 - 0.075))
    expected_memory = memory - (255 + 11 * 58) * MIB - 100 * MIB
    capacity, allocatable, _note = node_resources("aws", 4, 32768, 0, 58, 0.075)
    assert allocatable.cpu == 3920
    assert allocatable.memory == expected_memory
    assert capacity.memory == memory
    assert isinstance(allocatable.memory, int)
    assert itype.allocatable.cpu == 3920
    assert itype.allocatable.memory == expected_memory
    assert round(expected_memory / MIB) == 29317  # Karpenter's own published figure for r5a.xlarge


def test_eks_cpu_matches_karpenters_published_allocatable_for_every_type():
    specs = {s["name"]: s for s in raw_catalog("aws")["instance_types"]}
    checked = 0
    for offering in region_catalog("aws", "us-east-1").offerings:
        published = specs[offering.instance_type.name].get("karpenter_allocatable")
        if published and offering.capacity_type == "on-demand":
            assert offering.instance_type.allocatable.cpu == published["cpu_millis"], offering.instance_type.name
            checked += 1
    assert checked > 1000


def test_eks_memory_matches_karpenters_published_allocatable_for_amd64_types():
    specs = {s["name"]: s for s in raw_catalog("aws")["instance_types"]}
    for offering in region_catalog("aws", "us-east-1").offerings:
        itype = offering.instance_type
        published = specs[itype.name].get("karpenter_allocatable")
        if published and itype.arch == "amd64":
            assert abs(itype.allocatable.memory / MIB - published["memory_mib"]) <= 1, itype.name


def test_max_pods_setting_changes_the_eks_memory_reservation():
    itype = one("aws", "us-east-1", "r5a.xlarge", settings=CatalogSettings(max_pods=110)).instance_type
    assert itype.max_pods == 110
    assert itype.allocatable.memory == int(32768 * MIB * 0.925) - (255 + 11 * 110) * MIB - 100 * MIB


def test_vm_memory_overhead_setting():
    itype = one("aws", "us-east-1", "r5a.xlarge", settings=CatalogSettings(vm_memory_overhead=0.0)).instance_type
    assert itype.capacity.memory == 32 * GIB
    assert itype.allocatable.memory == 32 * GIB - (255 + 11 * 58) * MIB - 100 * MIB


@pytest.mark.parametrize(
    ("vcpu", "millis"), [(1, 60), (2, 70), (4, 80), (8, 90), (16, 110), (48, 190), (96, 310)]
)
def test_tiered_cpu_reservation(vcpu, millis):
    assert tiered_cpu_reservation(vcpu) == millis


@pytest.mark.parametrize(
    ("gib", "reserved_gib"),
    [
        (4, 0.25 * 4),
        (8, 0.25 * 4 + 0.20 * 4),
        (16, 0.25 * 4 + 0.20 * 4 + 0.10 * 8),
        (32, 0.25 * 4 + 0.20 * 4 + 0.10 * 8 + 0.06 * 16),
        (256, 0.25 * 4 + 0.20 * 4 + 0.10 * 8 + 0.06 * 112 + 0.02 * 128),
    ],
)
def test_gke_memory_tiers(gib, reserved_gib):
    assert tiered_memory_reservation(gib * GIB) == pytest.approx(reserved_gib * GIB, abs=1)


def test_gke_small_machines_reserve_255_mib():
    assert tiered_memory_reservation(512 * MIB) == 255 * MIB


def test_gke_16_gib_node():
    itype = one("gcp", "us-central1", "n2-standard-4").instance_type
    reserved = int((0.25 * 4 + 0.20 * 4 + 0.10 * 8) * GIB)
    assert itype.capacity.memory == 16 * GIB
    assert itype.allocatable.memory == pytest.approx(16 * GIB - reserved - 100 * MIB, abs=1)
    assert itype.allocatable.cpu == 4000 - 80
    assert itype.max_pods == 110


@pytest.mark.parametrize(
    ("vcpu", "millis"), [(1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740)]
)
def test_aks_cpu_table_points(vcpu, millis):
    assert aks_cpu_reservation(vcpu) == millis


@pytest.mark.parametrize("vcpu", [3, 6, 12, 24, 48, 96])
def test_aks_cpu_between_points_grows_with_cores(vcpu):
    assert aks_cpu_reservation(vcpu - 1) <= aks_cpu_reservation(vcpu) <= aks_cpu_reservation(vcpu + 1)


@pytest.mark.parametrize(
    ("memory_mib", "max_pods", "reserved"),
    [
        (16384, 110, 20 * MB * 110 + 50 * MB),  # 2.25 GB < 25% of 16 GiB
        (4096, 110, 1 * GIB),  # 25% of 4 GiB < 2.25 GB
        (8192, 30, 20 * MB * 30 + 50 * MB),
    ],
)
def test_aks_memory_reservation(memory_mib, max_pods, reserved):
    _capacity, allocatable, _note = node_resources("azure", 4, memory_mib, 0, max_pods, 0.0)
    assert allocatable.memory == memory_mib * MIB - reserved - EVICTION_THRESHOLD
    assert allocatable.cpu == 4000 - 140


def test_aks_d4s_v5_allocatable():
    itype = one("azure", "eastus", "Standard_D4s_v5").instance_type
    assert itype.allocatable.cpu == 3860
    assert itype.allocatable.memory == 16 * GIB - (20 * MB * 110 + 50 * MB) - 100 * MIB


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure", "oci"])
def test_node_resources_on_every_cloud(cloud):
    capacity, allocatable, note = node_resources(cloud, 16, 16384, 0, 110, 0.0)
    assert capacity.cpu == 16000 and capacity.memory == 16 * GIB
    assert allocatable.cpu < 16000
    assert allocatable.memory < 16 * GIB
    assert allocatable.ephemeral < capacity.ephemeral
    assert note
