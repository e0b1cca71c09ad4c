"""Names the provider gives and reads: agent pools, instance ids, provider ids, launch tags.

AKS Linux agent pool names are 1-12 characters, lowercase letters and digits, starting with
a letter. A pool serves one offering (VM size, zone, Regular or Spot) for one node role (bin-pack or
bin-select, a node label the kubelet must register with), so its name is derived from both:
the same offering and role always map to the same pool, across restarts and replicas, and
the pool's tags say which they are, for people and for `list`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pricing.types import SPOT

POOL_PREFIX = "sa"  # every pool the autoscaler makes starts with this
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# Tags on the agent pool (AKS copies them onto its scale set).
TAG_MANAGED_BY = "smart-autoscaler.io/managed-by"
TAG_VM_SIZE = "smart-autoscaler.io/vm-size"
TAG_ZONE = "smart-autoscaler.io/zone"
# AKS tags the scale set behind an agent pool with the pool's name.
AKS_POOL_TAG = "aks-managed-poolName"
# Tag on the scale set recording one launch: key per request id, value "<instance>|<role>".
LAUNCH_TAG_PREFIX = "sa-launch-"
PENDING = "pending"


@dataclass(frozen=True)
class Offering:
    vm_size: str
    capacity_type: str
    zone: str  # "" or the region: no zone pinned; "<region>-<n>": that availability zone

    @property
    def spot(self) -> bool:
        return self.capacity_type == SPOT

    def availability_zone(self, region: str) -> str | None:
        """The zone number AKS wants ("1") when the offering names one ("eastus-1")."""
        if self.zone.startswith(f"{region}-") and self.zone[len(region) + 1 :].isdigit():
            return self.zone[len(region) + 1 :]
        return None


def pool_name(offering: Offering, role: str = "") -> str:
    """Deterministic: 'sa' + 's'/'r' (Spot/Regular) + 9 hex digits of offering and role = 12."""
    key = f"{offering.vm_size}|{offering.capacity_type}|{offering.zone}|{role}".lower()
    digest = hashlib.sha256(key.encode()).hexdigest()
    name = f"{POOL_PREFIX}{'s' if offering.spot else 'r'}{digest[:9]}"
    assert POOL_NAME.match(name), name
    return name


def instance_id(vmss: str, number: str) -> str:
    return f"{vmss}/{number}"


def parse_instance_id(value: str) -> tuple[str, str]:
    vmss, sep, number = value.rpartition("/")
    if not sep or not vmss or not number.isdigit():
        raise ValueError(f"not an Azure scale-set instance id (expected <scale set>/<instance number>): {value!r}")
    return vmss, number


def provider_id(subscription: str, node_resource_group: str, vmss: str, number: str) -> str:
    """As the Azure cloud provider writes a Node's spec.providerID (resource group lowercased)."""
    return (
        f"azure:///subscriptions/{subscription}/resourceGroups/{node_resource_group.lower()}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{number}"
    )


def launch_tag(request_id: str) -> str:
    # Azure tag names may not contain < > % & \ ? / ; the request id is hex.
    return LAUNCH_TAG_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "-", request_id)[:64]


def launch_value(number: str, role: str) -> str:
    return f"{number}|{role}"


def parse_launch_value(value: str) -> tuple[str, str]:
    number, _, role = (value or "").partition("|")
    return number, role
