"""A node pool's managed instance group: add one named instance, delete one, list them.

`createInstances` with the instance's name (from the launch attempt's key) and a requestId
(a UUID from the same key) adds exactly one node; sending the same attempt twice yields one
instance. The zonal operation is waited on with ZoneOperations.wait; the MIG then keeps
trying to create the VM, and reports why it cannot in the managed instance's `lastAttempt`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from autoscaler.config import GcpConfig
from providers.gcp.calls import CallFailed, call, last_attempt_errors, operation_errors
from providers.gcp.clients import GcpClients
from providers.gcp.errors import GceError, is_already_exists

_KEY_NAMESPACE = uuid.UUID("6f0c2a4e-5b1d-4f8e-9a47-2d3c1b0e9f61")
# States of a managed instance whose VM does not exist (yet) or is going away.
CREATING_ACTIONS = frozenset({"CREATING", "CREATING_WITHOUT_RETRIES", "RECREATING"})
GONE_ACTIONS = frozenset({"DELETING", "ABANDONING"})


@dataclass(frozen=True)
class Mig:
    project: str
    zone: str
    name: str

    @property
    def instance_url(self) -> str:
        return f"projects/{self.project}/zones/{self.zone}/instances/"


@dataclass(frozen=True)
class ManagedInstance:
    name: str
    current_action: str
    instance_status: str  # "" while the VM does not exist
    errors: tuple[GceError, ...]


def request_uuid(key: str) -> str:
    """Compute Engine's requestId must be a UUID: one per launch attempt key."""
    return str(uuid.uuid5(_KEY_NAMESPACE, key))


class MigOps:
    def __init__(self, clients: GcpClients, config: GcpConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clients = clients
        self.config = config
        self.sleep = sleep

    def create_instance(self, mig: Mig, name: str, key: str, deadline: float) -> list[GceError]:
        """Ask the MIG for one instance called `name`; the operation's errors (none: accepted)."""
        compute = self.clients.compute
        request = compute.CreateInstancesInstanceGroupManagerRequest(
            project=mig.project,
            zone=mig.zone,
            instance_group_manager=mig.name,
            request_id=request_uuid(f"create:{mig.zone}/{mig.name}/{name}:{key}"),
            instance_group_managers_create_instances_request_resource=compute.InstanceGroupManagersCreateInstancesRequest(
                instances=[compute.PerInstanceConfig(name=name)]
            ),
        )
        try:
            operation = call("createInstances", self.clients.migs.create_instances, request=request, timeout=self.config.call_timeout)
        except CallFailed as failed:
            if failed.already_exists or is_already_exists(failed.errors):
                return []  # this attempt's instance was asked for before
            raise
        errors = self.wait(mig.zone, operation.name, deadline)
        return [] if is_already_exists(errors) else errors

    def delete_instance(self, mig: Mig, name: str, deadline: float) -> list[GceError]:
        """Remove that one instance from the MIG (the pool shrinks by it); quiet when it is gone."""
        compute = self.clients.compute
        request = compute.DeleteInstancesInstanceGroupManagerRequest(
            project=mig.project,
            zone=mig.zone,
            instance_group_manager=mig.name,
            request_id=request_uuid(f"delete:{mig.zone}/{name}:{int(time.time() // 600)}"),
            instance_group_managers_delete_instances_request_resource=compute.InstanceGroupManagersDeleteInstancesRequest(
                instances=[f"{mig.instance_url}{name}"], skip_instances_on_validation_error=True
            ),
        )
        try:
            operation = call("deleteInstances", self.clients.migs.delete_instances, request=request, timeout=self.config.call_timeout)
        except CallFailed as failed:
            if failed.not_found:
                return []
            raise
        return self.wait(mig.zone, operation.name, deadline)

    def wait(self, zone: str, operation: str, deadline: float) -> list[GceError]:
        """Wait for a zonal operation with ZoneOperations.wait on the provider's own endpoint."""
        done = self.clients.compute.Operation.Status.DONE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CallFailed(f"operation {operation}", 0, [GceError("OPERATION_TIMEOUT", "not done in time")])
            result = call(
                "zoneOperations.wait",
                self.clients.zone_operations.wait,
                project=self.clients.project,
                zone=zone,
                operation=operation,
                timeout=min(self.config.call_timeout, remaining),
            )
            if result.status == done:
                return operation_errors(result)
            self.sleep(min(self.config.poll_interval, max(0.0, deadline - time.monotonic())))

    def await_vm(self, mig: Mig, name: str, deadline: float) -> ManagedInstance | None:
        """Poll until the VM exists (instanceStatus set) or the MIG reports why it cannot create
        it (lastAttempt errors while still creating); at the deadline, the last state seen."""
        while True:
            managed = next((m for m in self.instances(mig) if m.name == name), None)
            if managed is not None and (managed.instance_status or (managed.errors and managed.current_action in CREATING_ACTIONS)):
                return managed
            if time.monotonic() >= deadline:
                return managed
            self.sleep(min(self.config.poll_interval, max(0.0, deadline - time.monotonic())))

    def instances(self, mig: Mig) -> list[ManagedInstance]:
        pager = call(
            "listManagedInstances",
            self.clients.migs.list_managed_instances,
            project=mig.project,
            zone=mig.zone,
            instance_group_manager=mig.name,
            timeout=self.config.call_timeout,
        )
        found = []
        for managed in call("listManagedInstances", list, pager):
            name = managed.name or managed.instance.rstrip("/").rsplit("/", 1)[-1]
            found.append(
                ManagedInstance(
                    name=name,
                    current_action=_enum_name(managed, "current_action"),
                    instance_status=_enum_name(managed, "instance_status"),
                    errors=tuple(last_attempt_errors(managed)),
                )
            )
        return found


def _enum_name(message: Any, field: str) -> str:
    """compute_v1 keeps these enums as strings; '' when unset."""
    value = getattr(message, field, "")
    return str(getattr(value, "name", value) or "")
