"""Spot evictions of AKS nodes as the scale set reports them.

Azure evicts a Spot VM when it needs the capacity back (or the price passes the maximum); with
the eviction policy Delete, which the autoscaler's Spot pools use, the VM and its disks are
deleted ("Use Azure Spot Virtual Machines", Azure documentation). The advance notice Azure
gives (a `Preempt` Scheduled Event, at least 30 seconds ahead) is published only inside the VM,
through the Instance Metadata Service ("Scheduled Events for Linux VMs"): the control plane
sees the eviction as the scale-set VM's `provisioningState` turning `Deleting`
(VirtualMachineScaleSetVM, Microsoft.Compute REST API). A Spot instance seen deleting that the
autoscaler did not delete is therefore an eviction in progress: it is reported as preempted
now, so that the loop drains at once and launches the replacement its pods need.
"""

from __future__ import annotations

from typing import Collection, Iterable

from providers.base import Instance
from providers.interruptions import PREEMPTED, InterruptionNotice


def evictions(instances: Iterable[Instance], ours_ending: Collection[str], now: float) -> list[InterruptionNotice]:
    return [
        InterruptionNotice(f"azure-evicted-{i.instance_id}", PREEMPTED, i.instance_id, now,
                           f"Azure is evicting Spot VM {i.instance_id} ({i.instance_type} in {i.zone or 'its region'})")
        for i in instances
        if i.capacity_type == "spot" and i.state == "terminating" and i.instance_id not in ours_ending
    ]
