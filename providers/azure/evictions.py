"""Spot evictions of AKS nodes as the AKS Machines API shows them.

Azure evicts a Spot VM when it needs the capacity back (or the price passes the maximum); with
the eviction policy Delete, which the autoscaler's Spot pools use, the VM and its disks are
deleted ("Use Azure Spot Virtual Machines", Azure documentation). The advance notice Azure
gives (a `Preempt` Scheduled Event, at least 30 seconds ahead) is published only inside the VM,
through the Instance Metadata Service ("Scheduled Events for Linux VMs"). From outside, the
eviction shows in the agent pool's machine list (Machines - List, AKS REST API): the machine
reports `provisioningState` Deleting where the API version states it, and is gone from the
list once deleted, while its Node still stands until the cloud controller removes it. A Spot
machine deleting, or gone, that the autoscaler did not delete is therefore an eviction: it is
reported as preempted now (by provider id too, since a machine gone from the list is no longer
among the instances), so the loop taints and drains the Node at once and launches the
replacement its pods need.
"""

from __future__ import annotations

from typing import Collection, Iterable, Mapping

from providers.base import Instance
from providers.interruptions import PREEMPTED, InterruptionNotice


def evictions(
    previous: Mapping[str, Instance], current: Iterable[Instance], ours_ending: Collection[str], now: float,
) -> list[InterruptionNotice]:
    """Evictions seen between the last listing (`previous`, by instance id) and this one."""
    current = list(current)
    listed = {i.instance_id for i in current}
    deleting = [i for i in current if i.state == "terminating"]
    vanished = [i for key, i in previous.items() if key not in listed]
    return [
        InterruptionNotice(f"azure-evicted-{i.instance_id}", PREEMPTED, i.instance_id, now,
                           f"Azure is evicting Spot VM {i.instance_id} ({i.instance_type} in {i.zone or 'its region'})",
                           provider_id=i.provider_id, offering=(i.instance_type, i.capacity_type, i.zone))
        for i in deleting + vanished
        if i.capacity_type == "spot" and i.instance_id not in ours_ending
    ]
