"""Embedded prices hold together: no table has a size dearer than its same-shape twin of the
other CPU vendor, spot above on-demand, a $/vCPU out of line within its family, or a region
factor out of all proportion -- and the checker finds each of those when they are there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pricing.catalog import CLOUDS, raw_catalog
from pricing.consistency import family_outliers, outliers, region_outliers, spot_outliers, twin_outliers


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_embedded_price_table_holds_together(cloud):
    found = outliers(cloud, raw_catalog(cloud))
    assert found == [], "\n".join(map(str, found[:20]))


def test_an_amd_size_at_a_windows_rate_is_found_against_its_intel_twin():
    prices = {"Standard_E4as_v5": 0.41, "Standard_E4s_v5": 0.252, "Standard_D2as_v5": 0.086, "Standard_D2s_v5": 0.096}
    (found,) = twin_outliers("azure", "eastus", prices)
    assert (found.name, found.kind) == ("Standard_E4as_v5", "twin") and "Standard_E4s_v5" in found.against
    assert [o.name for o in twin_outliers("aws", "us-east-1", {"m5a.large": 0.12, "m5.large": 0.096})] == ["m5a.large"]
    assert twin_outliers("aws", "us-east-1", {"m7a.large": 0.11592, "m7i.large": 0.1008}) == []  # dearer by design


def test_spot_above_on_demand_and_an_odd_size_in_a_family_are_found():
    assert [o.name for o in spot_outliers("gcp", "us-central1", {"n2-standard-4": 0.19}, {"n2-standard-4": 0.25})] == ["n2-standard-4"]
    specs = {f"m5.{size}": {"vcpu": cpus, "memory_mib": cpus * 4096, "family": "m5"} for size, cpus in (("large", 2), ("xlarge", 4), ("2xlarge", 8))}
    prices = {"m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.768}  # 2xlarge at 2x its per-vCPU rate
    assert [o.name for o in family_outliers("aws", "us-east-1", prices, specs)] == ["m5.2xlarge"]


def test_a_price_out_of_proportion_with_its_regions_factor_is_found():
    base = {f"Standard_D{n}s_v5": 0.048 * n for n in range(2, 50)}
    tables = {"eastus": base, "brazilsouth": {name: price * 1.6 for name, price in base.items()}}
    tables["brazilsouth"]["Standard_D4s_v5"] = 0.192 * 0.2  # a fifth of eastus where the region runs 1.6x
    assert [o.name for o in region_outliers("azure", "eastus", tables)] == ["Standard_D4s_v5"]


def test_the_published_linux_rate_replaces_the_windows_one_and_preview_gets_lunas_aks_pick(tmp_path):
    """Luna's published AKS example: a 2 CPU / 16Gi pod on Standard_E4as_v5 at $0.226/h in eastus."""
    assert raw_catalog("azure")["prices"]["eastus"]["Standard_E4as_v5"] == 0.226
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: api, labels: {smart-autoscaler.io/managed: 'true'}}\n"
        "spec: {containers: [{name: c, image: x, resources: {requests: {cpu: '2', memory: 16Gi}}}]}\n"
    )
    shown = subprocess.run([sys.executable, "-m", "autoscaler", "preview", "-f", str(manifest), "--target", "azure:eastus"],
                           capture_output=True, text=True, check=True).stdout
    assert "Standard_E4as_v5" in shown and "0.2260" in shown
