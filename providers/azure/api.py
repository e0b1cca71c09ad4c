"""The Azure calls the provider makes, through the SDKs, as plain REST-shaped dicts.

The SDKs are imported here, lazily (only when the Azure provider is built). Every HTTP call
has a connect and read timeout; a long-running operation (scale-out, pool create/delete,
delete_instances) is polled by the SDK's poller (Azure-AsyncOperation / Location) until it
ends or `operation_timeout` passes. Errors stay the SDK's exceptions: the provider maps them
onto typed failures knowing which offering the call was for.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from autoscaler.config import AzureConfig

ARM_SCOPE = "https://management.azure.com/.default"


class OperationTimeout(Exception):
    """A long-running operation did not end within azure.operationTimeout."""


def _plain(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    return model.as_dict() if hasattr(model, "as_dict") else dict(model)


class AzureApi:
    def __init__(
        self,
        settings: AzureConfig,
        subscription_id: str,
        credential: Any = None,
        base_url: str | None = None,
        polling_interval: float | None = None,
        allow_http: bool = False,
        sdk_options: dict[str, Any] | None = None,
    ) -> None:
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.containerservice import ContainerServiceClient

        # The SDK logs every request and response at INFO: far too much for the daemon's log.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        logging.getLogger("azure.identity").setLevel(logging.WARNING)
        if credential is None:
            from azure.identity import DefaultAzureCredential  # Workload Identity, managed identity, env

            credential = DefaultAzureCredential()
        self.settings = settings
        self.resource_group = settings.resource_group
        self.cluster = settings.cluster_name
        timeout = settings.call_timeout
        options: dict[str, Any] = {
            "connection_timeout": min(10.0, timeout),
            "read_timeout": timeout,
            "retry_total": 3,
            "retry_backoff_max": 30,
            "timeout": 3 * timeout,  # all retries of one call together
        }
        options["polling_interval"] = settings.poll_interval if polling_interval is None else polling_interval
        options.update(sdk_options or {})
        if allow_http:  # tests against a local server only
            options["authentication_policy"] = _http_allowed_policy(credential)
        self.compute = ComputeManagementClient(credential, subscription_id, base_url=base_url, **options)
        self.aks = ContainerServiceClient(credential, subscription_id, base_url=base_url, **options)
        self._node_resource_group = settings.node_resource_group

    def _wait(self, poller: Any, what: str) -> Any:
        poller.wait(self.settings.operation_timeout)
        if not poller.done():
            raise OperationTimeout(f"{what} did not finish within azure.operationTimeout={self.settings.operation_timeout:g}s")
        return poller.result()

    # ---- the cluster and its agent pools

    def node_resource_group(self) -> str:
        if not self._node_resource_group:
            cluster = _plain(self.aks.managed_clusters.get(self.resource_group, self.cluster))
            self._node_resource_group = (cluster.get("properties") or {}).get("nodeResourceGroup", "")
        return self._node_resource_group

    def get_pool(self, name: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _plain(self.aks.agent_pools.get(self.resource_group, self.cluster, name))
        except ResourceNotFoundError:
            return None

    def create_pool(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        poller = self.aks.agent_pools.begin_create_or_update(self.resource_group, self.cluster, name, body)
        return _plain(self._wait(poller, f"creating agent pool {name}"))

    def delete_pool(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._wait(self.aks.agent_pools.begin_delete(self.resource_group, self.cluster, name), f"deleting agent pool {name}")
        except ResourceNotFoundError:
            pass

    def list_pools(self) -> list[dict[str, Any]]:
        return [_plain(pool) for pool in self.aks.agent_pools.list(self.resource_group, self.cluster)]

    # ---- scale sets

    def list_scale_sets(self) -> list[dict[str, Any]]:
        return [_plain(vmss) for vmss in self.compute.virtual_machine_scale_sets.list(self.node_resource_group())]

    def get_scale_set(self, name: str) -> dict[str, Any]:
        return _plain(self.compute.virtual_machine_scale_sets.get(self.node_resource_group(), name))

    def update_scale_set(self, name: str, capacity: int | None, tags: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {"tags": tags}
        if capacity is not None:
            body["sku"] = {"capacity": capacity}
        poller = self.compute.virtual_machine_scale_sets.begin_update(self.node_resource_group(), name, body)
        what = f"scaling {name} to {capacity}" if capacity is not None else f"tagging {name}"
        return _plain(self._wait(poller, what))

    def list_vms(self, vmss: str) -> list[dict[str, Any]]:
        return [_plain(vm) for vm in self.compute.virtual_machine_scale_set_vms.list(self.node_resource_group(), vmss)]

    def get_vm(self, vmss: str, number: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _plain(self.compute.virtual_machine_scale_set_vms.get(self.node_resource_group(), vmss, number))
        except ResourceNotFoundError:
            return None

    def delete_instances(self, vmss: str, numbers: list[str]) -> None:
        poller = self.compute.virtual_machine_scale_sets.begin_delete_instances(
            self.node_resource_group(), vmss, {"instanceIds": numbers}
        )
        self._wait(poller, f"deleting instance(s) {','.join(numbers)} of {vmss}")


def _http_allowed_policy(credential: Any) -> Callable[..., Any]:
    from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

    class HttpAllowed(ARMChallengeAuthenticationPolicy):
        def on_request(self, request: Any) -> Any:
            request.context.options["enforce_https"] = False
            return super().on_request(request)

    return HttpAllowed(credential, ARM_SCOPE)
