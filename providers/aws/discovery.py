"""What a launch needs to know about the account: the EKS cluster, subnets, security groups
and AMIs -- explicit in the configuration or discovered, and cached.

Subnets and security groups are discovered by tag when not given: `kubernetes.io/cluster/<name>`
(any value) or `karpenter.sh/discovery: <name>`. Per zone the subnet with the most free
addresses is used (none with free addresses: the zone is not offered). AMIs: `aws.amiIdGeneric`
(+`Arm`, `Gpu`) or the EKS-optimized SSM parameter for the cluster version, the type's
architecture and GPU vendor.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from cachetools import TTLCache

from pricing.types import InstanceType
from providers.aws.userdata import ClusterInfo

T = TypeVar("T")
SUBNET_TTL = 60.0  # free addresses change with every launch
GROUPS_TTL = 300.0
AMI_TTL = 3600.0
DISCOVERY_TAG = "karpenter.sh/discovery"


def cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    zone: str
    free_addresses: int


class Discovery:
    def __init__(self, clients: Any, settings: Any, cluster_name: str) -> None:
        self.clients = clients
        self.settings = settings  # AwsConfig
        self.cluster_name = cluster_name
        self._cache: TTLCache = TTLCache(maxsize=256, ttl=AMI_TTL)
        self._subnets: TTLCache = TTLCache(maxsize=1, ttl=SUBNET_TTL)
        self._groups: TTLCache = TTLCache(maxsize=1, ttl=GROUPS_TTL)
        self._lock = threading.RLock()
        self._loading: dict[tuple[int, str], threading.Event] = {}

    def _cached(self, cache: TTLCache, key: str, load: Callable[[], T]) -> T:
        """One load per key at a time: a burst of launches on a cold cache asks the cloud once
        (the others wait for that answer) instead of once per launch thread, which would eat
        the account's API rate at the worst moment. If the load fails, each waiter tries itself."""
        flight_key = (id(cache), key)
        while True:
            with self._lock:
                if key in cache:
                    return cache[key]
                flight = self._loading.get(flight_key)
                if flight is None:
                    flight = self._loading[flight_key] = threading.Event()
                    break
            flight.wait()
        try:
            value = load()  # outside the lock: a slow call must not hold the other keys
            with self._lock:
                cache[key] = value
            return value
        finally:
            with self._lock:
                del self._loading[flight_key]
            flight.set()

    def forget_subnets(self) -> None:
        with self._lock:
            self._subnets.clear()

    # ---- EKS

    def cluster(self) -> ClusterInfo:
        return self._cached(self._cache, "cluster", self._describe_cluster)

    def _describe_cluster(self) -> ClusterInfo:
        cluster = self.clients.eks.describe_cluster(name=self.cluster_name)["cluster"]
        network = cluster.get("kubernetesNetworkConfig") or {}
        return ClusterInfo(
            name=cluster["name"],
            endpoint=cluster["endpoint"],
            certificate_authority=(cluster.get("certificateAuthority") or {}).get("data", ""),
            service_cidr=network.get("serviceIpv4Cidr") or network.get("serviceIpv6Cidr") or "10.100.0.0/16",
            version=cluster.get("version", ""),
        )

    # ---- subnets and security groups

    def subnets_by_zone(self) -> dict[str, Subnet]:
        return self._cached(self._subnets, "subnets", self._load_subnets)

    def _load_subnets(self) -> dict[str, Subnet]:
        ec2 = self.clients.ec2
        if self.settings.subnets:
            found = _paginate(ec2, "describe_subnets", "Subnets", SubnetIds=list(self.settings.subnets))
        else:
            found = self._by_discovery_tags(ec2, "describe_subnets", "Subnets", "SubnetId")
        best: dict[str, Subnet] = {}
        for item in found:
            subnet = Subnet(item["SubnetId"], item["AvailabilityZone"], int(item.get("AvailableIpAddressCount", 0)))
            if subnet.free_addresses <= 0:
                continue
            current = best.get(subnet.zone)
            if current is None or subnet.free_addresses > current.free_addresses:
                best[subnet.zone] = subnet
        return best

    def security_groups(self) -> list[str]:
        return self._cached(self._groups, "groups", self._load_groups)

    def _load_groups(self) -> list[str]:
        if self.settings.security_groups:
            return list(self.settings.security_groups)
        found = self._by_discovery_tags(self.clients.ec2, "describe_security_groups", "SecurityGroups", "GroupId")
        return sorted(item["GroupId"] for item in found)

    def _by_discovery_tags(self, ec2: Any, operation: str, key: str, id_key: str) -> list[dict]:
        items: dict[str, dict] = {}
        for filters in (
            [{"Name": "tag-key", "Values": [cluster_tag(self.cluster_name)]}],
            [{"Name": f"tag:{DISCOVERY_TAG}", "Values": [self.cluster_name]}],
        ):
            for item in _paginate(ec2, operation, key, Filters=filters):
                items[item[id_key]] = item
        return list(items.values())

    # ---- AMIs

    def ami_for(self, itype: InstanceType) -> str:
        settings = self.settings
        gpu = itype.gpu_count > 0 and (itype.gpu_manufacturer or "nvidia").lower() == "nvidia"
        if gpu and settings.ami_id_generic_gpu:
            return settings.ami_id_generic_gpu
        if itype.arch == "arm64" and settings.ami_id_generic_arm:
            return settings.ami_id_generic_arm
        if settings.ami_id_generic and (itype.arch != "arm64" or not settings.ami_id_generic_arm):
            return settings.ami_id_generic
        name = ssm_ami_parameter(settings.ami_family, self.cluster().version, itype.arch, gpu, itype)
        return self._cached(self._cache, name, lambda: self.clients.ssm.get_parameter(Name=name)["Parameter"]["Value"])


def ssm_ami_parameter(family: str, version: str, arch: str, gpu: bool, itype: InstanceType | None = None) -> str:
    """The public SSM parameter of the EKS-optimized AMI for a cluster version and node type."""
    machine = "arm64" if arch == "arm64" else "x86_64"
    if family == "Bottlerocket":
        variant = f"aws-k8s-{version}-nvidia" if gpu else f"aws-k8s-{version}"
        return f"/aws/service/bottlerocket/{variant}/{machine}/latest/image_id"
    neuron = itype is not None and itype.family.startswith(("inf", "trn"))
    flavour = "nvidia" if gpu else "neuron" if neuron else "standard"
    return f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/{machine}/{flavour}/recommended/image_id"


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict]:
    items: list[dict] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items
