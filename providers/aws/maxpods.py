"""Pods per EKS node as the Amazon VPC CNI can serve them, per instance type.

The VPC CNI gives every pod an address of one of the node's network interfaces, so a node
holds `ENIs x (IPv4 addresses per ENI - 1) + 2` pods (amazon-eks-ami's eni-max-pods.txt and
max-pods-calculator.sh; the +2 are the host-network aws-node and kube-proxy pods). The
catalog carries the published figure for most types (Karpenter's generated instance-type
data); for a type without one, the figure is computed from the limits EC2 publishes in
DescribeInstanceTypes `NetworkInfo` (MaximumNetworkInterfaces, Ipv4AddressesPerInterface),
asked once per type. `maxPodsPerNode` in the configuration wins over both.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from pricing.allocatable import reservation_for
from pricing.catalog import raw_catalog
from pricing.types import InstanceType

log = logging.getLogger("smart_autoscaler.providers.aws.maxpods")


def eni_max_pods(network_interfaces: int, ipv4_per_interface: int) -> int:
    return network_interfaces * (ipv4_per_interface - 1) + 2


def unpublished_max_pods() -> list[str]:
    """The catalog's types without a published pod figure (110 is only a fallback for them)."""
    published = published_max_pods()
    return sorted(spec["name"] for spec in raw_catalog("aws")["instance_types"] if spec["name"] not in published)


def eni_max_pods_of(ec2: Any, names: list[str]) -> dict[str, int]:
    """Pods per node from DescribeInstanceTypes NetworkInfo for those of `names` the region has."""
    found: dict[str, int] = {}
    for start in range(0, len(names), 100):
        pages = ec2.get_paginator("describe_instance_types").paginate(
            Filters=[{"Name": "instance-type", "Values": names[start:start + 100]}]
        )
        for page in pages:
            for item in page.get("InstanceTypes", []):
                network = item.get("NetworkInfo") or {}
                if network.get("MaximumNetworkInterfaces") and network.get("Ipv4AddressesPerInterface"):
                    found[item["InstanceType"]] = eni_max_pods(int(network["MaximumNetworkInterfaces"]), int(network["Ipv4AddressesPerInterface"]))
    return found


def with_max_pods(itype: InstanceType, pods: int) -> InstanceType:
    """The type as a node with `pods` pod slots: the EKS kubelet reserves memory per pod slot."""
    if pods == itype.max_pods:
        return itype
    nominal = itype.memory_mib * 2**20
    freed = reservation_for("aws", itype.vcpu, nominal, itype.max_pods).memory_bytes - reservation_for("aws", itype.vcpu, nominal, pods).memory_bytes
    return replace(
        itype,
        max_pods=pods,
        capacity=replace(itype.capacity, pods=pods),
        allocatable=replace(itype.allocatable, pods=pods, memory=max(0, itype.allocatable.memory + freed)),
    )


def published_max_pods() -> frozenset[str]:
    """The types whose catalog figure is a published one (not the 110 fallback)."""
    return frozenset(
        spec["name"] for spec in raw_catalog("aws")["instance_types"] if (spec.get("karpenter_allocatable") or {}).get("pods")
    )


class MaxPods:
    def __init__(
        self, ec2: Any, configured: int | None, published: frozenset[str] | None = None, listed: Callable[[], Any] = lambda: None
    ) -> None:
        self.ec2 = ec2
        self.listed = listed  # the figures the price refresher fetched for every unpublished type, or None
        self.configured = configured
        self.published = published if published is not None else published_max_pods()
        self._computed: dict[str, int] = {}
        self._lock = threading.Lock()

    def for_type(self, itype: InstanceType) -> int:
        if self.configured:
            return self.configured
        if itype.name in self.published:
            return itype.max_pods
        with self._lock:
            known = self._computed.get(itype.name)
        if known is None:
            known = (self.listed() or {}).get(itype.name)
        if known is not None:
            return known
        figure = self._from_network_info(itype)
        if figure is None:
            return itype.max_pods  # asked again next time
        with self._lock:
            self._computed[itype.name] = figure
        return figure

    def _from_network_info(self, itype: InstanceType) -> int | None:
        try:
            listed = self.ec2.describe_instance_types(InstanceTypes=[itype.name])["InstanceTypes"]
            network = listed[0]["NetworkInfo"]
            return eni_max_pods(int(network["MaximumNetworkInterfaces"]), int(network["Ipv4AddressesPerInterface"]))
        except (ClientError, BotoCoreError, LookupError, TypeError, ValueError) as err:
            log.warning("no ENI limits for %s from DescribeInstanceTypes (%s): maxPods %d from the catalog", itype.name, err, itype.max_pods)
            return None
