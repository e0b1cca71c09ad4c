"""Names the provider gives and reads: agent pools, machines, instance ids, provider ids, tags.

AKS Linux agent pool names are 1-12 characters, lowercase letters and digits, starting with
a letter. A pool serves one offering (VM size, zone, Regular or Spot) for one node role
(bin-pack or bin-select, a node label the kubelet must register with), so its name is
derived from both: the same offering and role always map to the same pool, across restarts
and replicas, and the pool's tags say which they are, for people and for `list`.

Tags follow Azure Resource Manager's rules ("Use tags to organize your Azure resources",
https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources, section
Limitations): a tag name may not contain `<`, `>`, `%`, `&`, `\\`, `?` or `/`, is at most 512
characters long and its value at most 256; a resource holds at most 50 tags. The provider-wide
tag keys (`smart-autoscaler.io/cluster`, ...) carry `/`; on Azure that `/` becomes `_`, as the
Azure Karpenter provider does with its `karpenter.sh/...` keys.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Mapping

from autoscaler.config import Config
from pricing.types import SPOT
from providers.base import TAG_CAPACITY, TAG_CLUSTER, TAG_ROLE

POOL_PREFIX = "sa"  # every pool the autoscaler makes starts with this
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
TAG_NAME_FORBIDDEN = re.compile(r"[<>%&\\?/]")
TAG_NAME_MAX = 512
TAG_VALUE_MAX = 256
TAGS_PER_RESOURCE = 50
MANAGED_BY_VALUE = "smart-autoscaler"


def azure_tag_key(key: str) -> str:
    """`key` as Azure accepts a tag name: each forbidden character becomes `_`."""
    return TAG_NAME_FORBIDDEN.sub("_", key)[:TAG_NAME_MAX]


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """What Azure Resource Manager would refuse in these tags (empty: all accepted)."""
    problems = []
    if len(tags) > TAGS_PER_RESOURCE:
        problems.append(f"{len(tags)} tags (at most {TAGS_PER_RESOURCE} per resource)")
    for key, value in tags.items():
        if TAG_NAME_FORBIDDEN.search(key):
            problems.append(f"tag name {key!r} contains one of < > % & \\ ? /")
        if not key or len(key) > TAG_NAME_MAX:
            problems.append(f"tag name {key[:40]!r}... is {len(key)} characters (1 to {TAG_NAME_MAX})")
        if len(str(value)) > TAG_VALUE_MAX:
            problems.append(f"tag {key!r} has a value of {len(str(value))} characters (at most {TAG_VALUE_MAX})")
    return problems


# Tags on the agent pool (AKS copies them onto its scale set and its VMs).
TAG_POOL_CLUSTER = azure_tag_key(TAG_CLUSTER)  # the ownership tag: this cluster's identity
TAG_POOL_CAPACITY = azure_tag_key(TAG_CAPACITY)
TAG_POOL_ROLE = azure_tag_key(TAG_ROLE)
TAG_MANAGED_BY = azure_tag_key("smart-autoscaler.io/managed-by")
TAG_VM_SIZE = azure_tag_key("smart-autoscaler.io/vm-size")
TAG_ZONE = azure_tag_key("smart-autoscaler.io/zone")


def cluster_identity(config: Config) -> str:
    """The value of the ownership tag: which cluster's autoscaler made a pool. One function,
    so that the cluster identity can change its source in one place; at most 256 characters."""
    return config.cluster_name[:TAG_VALUE_MAX]


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


def instance_id(pool: str, machine: str) -> str:
    """An instance is a machine of an agent pool: '<pool>/<machine name>'."""
    return f"{pool}/{machine}"


def parse_instance_id(value: str) -> tuple[str, str]:
    pool, sep, machine = value.partition("/")
    if not sep or not POOL_NAME.match(pool) or not machine or "/" in machine:
        raise ValueError(f"not an AKS machine id (expected <agent pool>/<machine name>): {value!r}")
    return pool, machine


_VMSS_VM = re.compile(
    r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/virtualMachineScaleSets/([^/]+)/virtualMachines/(\d+)$",
    re.IGNORECASE,
)


def provider_id(subscription: str, node_resource_group: str, vmss: str, number: str) -> str:
    """As the Azure cloud provider writes a Node's spec.providerID (resource group lowercased)."""
    return (
        f"azure:///subscriptions/{subscription}/resourceGroups/{node_resource_group.lower()}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{number}"
    )


def provider_id_of(resource_id: str) -> str:
    """The Node's providerID for a machine's `properties.resourceId` (its scale-set VM)."""
    found = _VMSS_VM.search(resource_id or "")
    if not found:
        return f"azure://{resource_id}" if resource_id else ""
    return provider_id(*found.groups())


def machine_number(machine: Mapping) -> int:
    """The scale-set instance number behind a machine: Azure numbers a scale set's instances
    in creation order, so it orders machines by age. From `properties.resourceId`, else from
    the name's base-36 suffix (AKS names VMSS nodes `<vmss>` + 6 base-36 digits)."""
    found = _VMSS_VM.search(str((machine.get("properties") or {}).get("resourceId") or ""))
    if found:
        return int(found.group(4))
    suffix = str(machine.get("name", ""))[-6:]
    try:
        return int(suffix, 36)
    except ValueError:
        return -1
