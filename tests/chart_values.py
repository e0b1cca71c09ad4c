"""The chart's starting values per cloud (helm/smart-autoscaler/ci/), as an operator completes
them: those files leave out the two values no default may choose (config.clusterName,
config.region), so the tests give an example cluster of each cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "helm" / "smart-autoscaler"
CLOUDS = ("aws", "gcp", "azure", "oci")
EXAMPLE_CLUSTERS = {"aws": ("prod-eks", "us-east-1"), "gcp": ("prod-gke", "us-central1"),
                    "azure": ("prod-aks", "eastus"), "oci": ("prod-oke", "us-ashburn-1")}


def values_file(name: str) -> dict[str, Any]:
    """helm/smart-autoscaler/ci/<name>-values.yaml as it is."""
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())


def completed_values(name: str) -> dict[str, Any]:
    """The file with an example cluster name and region filled in (clouds only)."""
    values = values_file(name)
    if name in EXAMPLE_CLUSTERS:
        cluster, region = EXAMPLE_CLUSTERS[name]
        values["config"] = {**values["config"], "clusterName": cluster, "region": region}
    return values
