"""AKS checks, read-only: a token for Resource Manager; the cluster (version, FQDN, node resource
group, kubelet identity); every action of the chart's role (helm/smart-autoscaler/files/
azure-role.json) in the permissions Resource Manager lists for the caller at the cluster's
resource group (`Microsoft.Authorization/permissions`, GET); vCPU usage and limit per
VM family (`Microsoft.Compute/locations/usages`) for the families the catalog would choose; the
Retail Prices API reachable."""

from __future__ import annotations

import fnmatch
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from autoscaler.doctor.report import Check, Status, fail, ok, run_steps, warn

AREA = "Azure"
PERMISSIONS_API = "2022-04-01"
ROLE_FIX = "assign the chart's role (helm/smart-autoscaler/files/azure-role.json; README 'Run it on AKS')"

# What providers/azure calls, all at the cluster's resource group: the chart's role as one table.
ACTIONS: tuple[tuple[str, str], ...] = (
    ("Microsoft.ContainerService/managedClusters/agentPools/read", "reads and lists its agent pools"),
    ("Microsoft.ContainerService/managedClusters/agentPools/write", "creates a pool and changes its count"),
    ("Microsoft.ContainerService/managedClusters/agentPools/delete", "deletes an idle pool it made"),
    ("Microsoft.ContainerService/managedClusters/agentPools/deleteMachines/action", "deletes exactly the machines it scaled down"),
    ("Microsoft.ContainerService/managedClusters/agentPools/machines/read", "reads a pool's machines"),
    ("Microsoft.ContainerService/locations/operations/read", "follows pool operations"),
)
USAGES_API = "2024-07-01"
GPU_FAMILY_PREFIXES = ("standardnc", "standardnd", "standardnv", "standard nc", "standard nd", "standard nv")


def sdk_available() -> bool:
    return all(importlib.util.find_spec(m) is not None
               for m in ("azure.mgmt.containerservice", "azure.identity"))


@dataclass
class Subscription:
    config: Any
    api: Any  # providers.azure.api.AzureApi
    subscription: str
    node_resource_group: str = ""

    @property
    def scope(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.config.azure.resource_group}"

    def get(self, path: str, api_version: str) -> dict[str, Any]:
        """A GET through the SDK's own pipeline (credential, retries, timeouts)."""
        from azure.core.rest import HttpRequest

        base = self.api.settings.resource_manager_endpoint.rstrip("/")
        response = self.api.aks.send_request(HttpRequest("GET", f"{base}{path}", params={"api-version": api_version}))
        if response.status_code != 200:
            raise PermissionError(f"HTTP {response.status_code}: {response.text()[:200]}")
        return response.json()


def checks(config: Any, target: Any = None, credential: Any = None) -> list[Check]:
    from providers.azure import LoopbackCredential, _loopback_http
    from providers.azure.api import ARM_SCOPE, AzureApi

    settings = config.azure
    subscription = settings.subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID", "")
    if not subscription or not settings.resource_group:
        return [fail(AREA, "configuration", "azure.subscriptionId (or $AZURE_SUBSCRIPTION_ID) and azure.resourceGroup are needed",
                     "set them to the AKS cluster's subscription and resource group")]
    endpoint = settings.resource_manager_endpoint.rstrip("/")
    loopback = _loopback_http(endpoint)
    if loopback:
        credential = credential or LoopbackCredential()
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    try:
        credential.get_token(ARM_SCOPE)
    except Exception as err:  # noqa: BLE001 - every credential kind fails its own way
        return [fail(AREA, "credentials", f"no token for Resource Manager: {type(err).__name__}: {str(err)[:300]}",
                     "set serviceAccount.azureClientId (Workload Identity) or give the node a managed identity")]
    if not settings.cluster_name:
        from dataclasses import replace

        settings = replace(settings, cluster_name=config.cluster_name)
    api = AzureApi(settings, subscription, credential, endpoint, None, loopback)
    account = Subscription(config, api, subscription)
    found = [ok(AREA, "credentials", f"a Resource Manager token, subscription {subscription}")]
    return found + run_steps(AREA, [
        ("AKS cluster", lambda: cluster(account)),
        ("role permissions", lambda: permissions(account)),
        ("vCPU quotas", lambda: usages(account)),
        ("prices", lambda: prices(account)),
    ])


def _error(err: Exception) -> str:
    error = getattr(err, "error", None)
    code = getattr(error, "code", "") or getattr(err, "status_code", "")
    return f"{code}: {getattr(err, 'message', err)}" if code else f"{type(err).__name__}: {err}"


def cluster(account: Subscription) -> list[Check]:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    settings = account.api.settings
    what = "AKS cluster"
    try:
        from providers.azure.api import rest_shape

        found = rest_shape(account.api.aks.managed_clusters.get(settings.resource_group, settings.cluster_name))
    except ResourceNotFoundError:
        return [fail(AREA, what, f"no cluster {settings.cluster_name!r} in resource group {settings.resource_group}",
                     "set azure.clusterName (or clusterName) and azure.resourceGroup to the AKS cluster's")]
    except HttpResponseError as err:
        if getattr(err, "status_code", 0) in (401, 403):  # the daemon never reads the cluster itself
            return [warn(AREA, what, _error(err), "allow Microsoft.ContainerService/managedClusters/read to whoever "
                         "runs doctor to see the cluster (the daemon does not need it)")]
        return [fail(AREA, what, _error(err), "check access to Resource Manager")]
    properties = found.get("properties") or {}
    account.node_resource_group = settings.node_resource_group or properties.get("nodeResourceGroup", "")
    state = properties.get("provisioningState", "")
    detail = (f"{settings.cluster_name}: Kubernetes {properties.get('kubernetesVersion', '?')}, {state}, "
              f"{properties.get('fqdn', '')}, node resource group {account.node_resource_group}")
    checks = [ok(AREA, what, detail) if state in ("Succeeded", "") else warn(AREA, what, detail, "wait for the cluster")]
    kubelet = ((properties.get("identityProfile") or {}).get("kubeletidentity") or {})
    if kubelet:
        checks.append(ok(AREA, "kubelet identity", kubelet.get("resourceId") or kubelet.get("clientId", "")))
    else:
        checks.append(warn(AREA, "kubelet identity", "the cluster reports none (a service-principal cluster?)",
                           "new nodes pull images and join with the cluster's kubelet identity"))
    return checks


def allowed(action: str, permissions: list[dict[str, Any]]) -> bool:
    """Resource Manager's rule: an action is allowed by an entry whose `actions` match it
    (wildcards, case-insensitive) and whose `notActions` do not."""
    action = action.lower()
    for entry in permissions:
        if any(fnmatch.fnmatchcase(action, a.lower()) for a in entry.get("actions", [])) and \
                not any(fnmatch.fnmatchcase(action, a.lower()) for a in entry.get("notActions", [])):
            return True
    return False


def permissions(account: Subscription) -> list[Check]:
    scope = account.scope
    try:
        listed = account.get(f"{scope}/providers/Microsoft.Authorization/permissions", PERMISSIONS_API).get("value", [])
    except Exception as err:  # noqa: BLE001
        return [fail(AREA, f"permissions at {scope}", f"Microsoft.Authorization/permissions: {err}", ROLE_FIX)]
    results = []
    for action, why in ACTIONS:
        if allowed(action, listed):
            results.append(ok(AREA, action, f"at {scope}"))
        else:
            results.append(fail(AREA, action, f"not allowed at {scope}: the provider {why}", ROLE_FIX))
    return results


def usages(account: Subscription) -> list[Check]:
    from pricing.catalog import catalog_settings, region_catalog

    config = account.config
    path = f"/subscriptions/{account.subscription}/providers/Microsoft.Compute/locations/{config.region}/usages"
    try:
        items = account.get(path, USAGES_API).get("value", [])
    except Exception as err:  # noqa: BLE001 - doctor's own read
        return [warn(AREA, "vCPU quotas", f"Microsoft.Compute/locations/usages: {err}",
                     "allow Microsoft.Compute/locations/usages/read to whoever runs doctor (the daemon does not need it)")]
    catalog = region_catalog("azure", config.region, catalog_settings(config))
    families = {o.instance_type.family.replace(" ", "").lower() for o in catalog.offerings}
    results = []
    for item in sorted(items, key=lambda u: u["name"]["value"]):
        name = item["name"]["value"]
        if name.replace(" ", "").lower() not in families:
            continue
        limit, used = float(item.get("limit", 0)), float(item.get("currentValue", 0))
        what = f"quota {name}"
        detail = f"{limit:g} vCPUs in {config.region} ({used:g} used)"
        fix = f"request more {name} vCPUs: portal 'Quotas > Compute', region {config.region}"
        if limit - used > 0:
            results.append(ok(AREA, what, detail))
        elif name.lower().startswith(GPU_FAMILY_PREFIXES):
            results.append(warn(AREA, what, f"{detail}: pods that need these GPUs stay pending", fix))
        else:
            results.append(fail(AREA, what, f"{detail}: no node of this family can launch", fix))
    return results or [warn(AREA, "vCPU quotas", f"no usage listed for the catalog's families in {config.region}")]


def prices(account: Subscription) -> list[Check]:
    from providers.azure.prices import PriceFetchError, _get_json, first_page_url

    settings = account.api.settings
    what = "live prices (Retail Prices API)"
    try:
        page = _get_json(first_page_url(settings.retail_prices_url, account.config.region), min(settings.call_timeout, 20.0))
    except PriceFetchError as err:
        return [warn(AREA, what, f"{err}; the embedded catalog's prices answer", "allow HTTPS to prices.azure.com")]
    count = len(page.get("Items") or [])
    if not count:
        return [Check(AREA, what, Status.WARN, f"no price for {account.config.region}", "check the region name")]
    return [ok(AREA, what, f"reachable ({count} prices on the first page)")]
