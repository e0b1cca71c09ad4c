"""The AKS calls the provider makes, through azure-mgmt-containerservice, as REST-shaped dicts.

Only operations AKS supports on its agent pools (AKS REST API, Microsoft.ContainerService
agentPools and machines, https://learn.microsoft.com/rest/api/aks/): Agent Pools - Get /
List / Create Or Update (a pool's `count` is how many nodes it has) / Delete / Delete
Machines (exactly the named machines; the pool's count drops by as many), and Machines -
List / Get (the pool's nodes, each naming its scale-set VM). Nothing is written in the node
resource group: AKS reconciles what it manages to the pool's stored state on every cluster
update (kubernetes/autoscaler#7943), and changes made there directly are outside AKS's
support policy.

Long-running operations are returned as the SDK's pollers (Azure-AsyncOperation) for the
caller to wait on, off the loop. Every HTTP call has a connect and read timeout.

Models are turned into the REST shape (camelCase, `properties` nested) whatever the SDK
generation: azure-mgmt-containerservice up to 3x are msrest models (`serialize()` gives the
REST shape; their `as_dict()` gives snake_case attribute names), later ones are mappings in
the REST shape already.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Callable

from autoscaler.config import AzureConfig

ARM_SCOPE = "https://management.azure.com/.default"


class OperationTimeout(Exception):
    """A long-running operation did not end within azure.operationTimeout."""


def rest_shape(model: Any) -> dict[str, Any]:
    """A model of either SDK generation, or a plain dict, in Azure's REST shape."""
    if model is None:
        return {}
    if isinstance(model, Mapping):  # typespec-generated models are mappings of the wire JSON
        return model.as_dict() if hasattr(model, "as_dict") else dict(model)
    serialize = getattr(model, "serialize", None)
    if serialize is not None:  # msrest models: serialize() is the wire shape
        return serialize(keep_readonly=True)
    return dict(model)


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
        self.aks = ContainerServiceClient(credential, subscription_id, base_url=base_url, **options)

    def wait(self, poller: Any, what: str, timeout: float | None = None) -> Any:
        """The operation's result; OperationTimeout when it runs past `timeout`."""
        limit = self.settings.operation_timeout if timeout is None else timeout
        poller.wait(limit)
        if not poller.done():
            raise OperationTimeout(f"{what} did not finish within {limit:g}s (azure.operationTimeout)")
        return poller.result()

    # ---- agent pools

    def get_pool(self, name: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return rest_shape(self.aks.agent_pools.get(self.resource_group, self.cluster, name))
        except ResourceNotFoundError:
            return None

    def put_pool(self, name: str, body: dict[str, Any]) -> Any:
        """Create the pool or change it (its count, its tags); the operation's poller."""
        return self.aks.agent_pools.begin_create_or_update(self.resource_group, self.cluster, name, body)

    def delete_pool(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.wait(self.aks.agent_pools.begin_delete(self.resource_group, self.cluster, name), f"deleting agent pool {name}")
        except ResourceNotFoundError:
            pass

    def list_pools(self) -> list[dict[str, Any]]:
        return [rest_shape(pool) for pool in self.aks.agent_pools.list(self.resource_group, self.cluster)]

    # ---- machines

    def list_machines(self, pool: str) -> list[dict[str, Any]]:
        return [rest_shape(m) for m in self.aks.machines.list(self.resource_group, self.cluster, pool)]

    def get_machine(self, pool: str, name: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return rest_shape(self.aks.machines.get(self.resource_group, self.cluster, pool, name))
        except ResourceNotFoundError:
            return None

    def delete_machines(self, pool: str, names: list[str]) -> Any:
        """Delete exactly these machines of the pool (its count drops by as many); the poller."""
        return self.aks.agent_pools.begin_delete_machines(self.resource_group, self.cluster, pool, {"machineNames": names})


def _http_allowed_policy(credential: Any) -> Callable[..., Any]:
    from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

    class HttpAllowed(ARMChallengeAuthenticationPolicy):
        def on_request(self, request: Any) -> Any:
            request.context.options["enforce_https"] = False
            return super().on_request(request)

    return HttpAllowed(credential, ARM_SCOPE)
