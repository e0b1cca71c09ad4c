"""Spot VM preemptions as the Compute Engine API reports them.

When Compute Engine preempts a Spot (or preemptible) VM it records a zonal operation of type
`compute.instances.preempted` whose `targetLink` is the instance, and gives the VM 30 seconds
to shut down (Compute Engine documentation, "Spot VMs": preemption process; "Detect if a VM
was preempted": `gcloud compute operations list --filter="operationType=compute.instances.preempted"`).
The reader lists those operations in the zones of the spot pools the autoscaler made
(`zoneOperations.list` with a `filter`, Compute API reference), and turns each recent one into
a notice: the deadline is the operation's `insertTime` plus 30 seconds. Operations are never
deleted (there is nothing to acknowledge); the loop acts on each id once, and operations older
than `MAX_AGE` are history, not notices.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Iterable

from providers.gcp.calls import call
from providers.interruptions import PREEMPTED, InterruptionNotice, NoticeBatch

log = logging.getLogger("smart_autoscaler.providers.gcp.preemptions")

PREEMPTED_OPERATION = "compute.instances.preempted"
SHUTDOWN_SECONDS = 30.0
MAX_AGE = 600.0  # seconds: an older preemption was acted on already, or its node is long gone


def _epoch(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return None


class Preemptions:
    def __init__(self, clients: Any, project: str, timeout: float, now: Callable[[], float]) -> None:
        self.clients = clients
        self.project = project
        self.timeout = timeout
        self.now = now

    def read(self, zones: Iterable[str]) -> NoticeBatch:
        """Preemptions of the last MAX_AGE seconds in these zones (CallFailed when a call fails)."""
        notices: list[InterruptionNotice] = []
        malformed: list[str] = []
        now = self.now()
        for zone in sorted(set(zones)):
            request = self.clients.compute.ListZoneOperationsRequest(
                project=self.project, zone=zone, filter=f'operationType = "{PREEMPTED_OPERATION}"',
            )
            listed = call("zoneOperations.list", lambda: list(self.clients.zone_operations.list(request=request, timeout=self.timeout)))
            for operation in listed:
                at = _epoch(operation.insert_time)
                instance = operation.target_link.rsplit("/instances/", 1)[-1] if "/instances/" in operation.target_link else ""
                if at is None or not instance:
                    malformed.append(f"operation {operation.name or operation.id} in {zone}: no instance or insertTime")
                    continue
                if now - at > MAX_AGE:
                    continue
                notices.append(InterruptionNotice(
                    f"gce-op-{operation.id or operation.name}", PREEMPTED, instance, at + SHUTDOWN_SECONDS,
                    f"Compute Engine preempted Spot VM {instance} in {zone}",
                ))
        return NoticeBatch(tuple(notices), tuple(malformed))
