"""GKE / Compute Engine checks, read-only: the credentials and project; the cluster (version,
endpoint, node service account); every IAM permission the provider uses, asked with Cloud
Resource Manager `projects.testIamPermissions` (it answers the subset the caller holds, and
changes nothing); the region's CPU and GPU quotas (Compute `regions.get`) for the families the
catalog would choose; the Cloud Billing Catalog (live prices) reachable."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import Any

from autoscaler.doctor.report import Check, Status, fail, ok, run_steps, warn

AREA = "GCP"
TIMEOUT = 20.0
CRM = "https://cloudresourcemanager.googleapis.com"
IAM = "https://iam.googleapis.com"
ACT_AS = "iam.serviceAccounts.actAs"
README_FIX = "README 'Run it on GKE' lists the roles the daemon's Google service account needs"

# What providers/gcp calls, and the permission each call needs (GKE and Compute Engine IAM
# permission references).
PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("container.clusters.get", "reads the cluster (zones, version, network)"),
    ("container.nodePools.list", "finds the node pools it made"),
    ("container.nodePools.get", "reads a node pool"),
    ("container.nodePools.create", "creates a node pool per node shape"),
    ("container.nodePools.delete", "deletes an empty node pool it made"),
    ("container.operations.get", "follows node pool operations"),
    ("compute.instanceGroupManagers.get", "lists a pool's instances (listManagedInstances)"),
    ("compute.instanceGroupManagers.update", "createInstances / deleteInstances on a pool's instance groups"),
    ("compute.zoneOperations.get", "follows instance operations"),
    ("compute.machineTypes.list", "machine types per zone"),
    ("compute.acceleratorTypes.list", "GPU types per zone"),
    ("iam.serviceAccounts.actAs", "node pools run as the node service account"),
)


def sdk_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("google.cloud.compute_v1", "google.cloud.container_v1"))


@dataclass
class Project:
    config: Any
    credentials: Any
    project: str
    endpoint: str  # "" = Google's endpoints
    node_service_account: str = ""  # an email; "" = the Compute Engine default one

    @property
    def location(self) -> str:
        return self.config.gcp.location or self.config.region

    @property
    def cluster_name(self) -> str:
        return self.config.gcp.cluster or self.config.cluster_name

    def client(self, cls: Any) -> Any:
        from google.api_core.client_options import ClientOptions

        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        return cls(credentials=self.credentials, client_options=options, transport="rest")


def checks(config: Any, target: Any = None) -> list[Check]:
    from providers.gcp.clients import _credentials

    try:
        credentials, project = _credentials(config.gcp)
    except ValueError as err:
        return [fail(AREA, "credentials", str(err), "bind the chart's ServiceAccount to a Google service account "
                     "(serviceAccount.gcpServiceAccount, Workload Identity), or set GOOGLE_APPLICATION_CREDENTIALS")]
    if not project:
        return [fail(AREA, "credentials", "no project: the credentials name none", "set gcp.project")]
    account = Project(config, credentials, project, config.gcp.api_endpoint)
    who = getattr(credentials, "service_account_email", "") or type(credentials).__name__
    found = [ok(AREA, "credentials", f"{who}, project {project}")]
    return found + run_steps(AREA, [
        ("GKE cluster", lambda: cluster(account)),
        ("IAM permissions", lambda: permissions(account)),
        ("quotas", lambda: quotas(account)),
        ("prices", lambda: prices(account)),
    ])


def _failed(what: str, err: Exception, fix: str) -> Check:
    code = getattr(err, "code", None)
    if code in (401, 403):
        return fail(AREA, what, f"denied: {getattr(err, 'message', err)}", f"grant the permission ({README_FIX})")
    return fail(AREA, what, f"{type(err).__name__}: {getattr(err, 'message', err)}", fix)


def cluster(account: Project) -> list[Check]:
    from google.api_core import exceptions
    from google.cloud import container_v1

    what = "GKE cluster"
    name = f"projects/{account.project}/locations/{account.location}/clusters/{account.cluster_name}"
    try:
        found = account.client(container_v1.ClusterManagerClient).get_cluster(name=name, timeout=TIMEOUT)
    except exceptions.NotFound:
        return [fail(AREA, what, f"no cluster {account.cluster_name!r} in {account.location} (project {account.project})",
                     "set clusterName (or gcp.cluster) and gcp.location to the GKE cluster's")]
    except exceptions.GoogleAPIError as err:
        return [_failed(what, err, "check network access to container.googleapis.com")]
    status = container_v1.Cluster.Status(found.status).name
    detail = f"{account.cluster_name}: Kubernetes {found.current_master_version}, {status}, {found.endpoint}"
    checks = [ok(AREA, what, detail) if status == "RUNNING" else warn(AREA, what, detail, "nodes join a RUNNING cluster")]
    node_sa = account.config.gcp.service_account or found.node_config.service_account or "default"
    account.node_service_account = "" if node_sa == "default" else node_sa
    shown = "the Compute Engine default service account" if node_sa == "default" else node_sa
    checks.append(ok(AREA, "node service account", shown))
    return checks


def test_permissions(account: Project, wanted: list[str], resource: str = "") -> set[str]:
    """The subset of `wanted` the caller holds on the project (projects.testIamPermissions),
    or on a service account (`resource` = its email: IAM serviceAccounts.testIamPermissions)."""
    import requests

    base = account.endpoint if account.endpoint else (IAM if resource else CRM)
    if not base.startswith("http"):
        base = f"https://{base}"
    path = f"projects/-/serviceAccounts/{resource}" if resource else f"projects/{account.project}"
    url = f"{base.rstrip('/')}/v1/{path}:testIamPermissions"
    if account.endpoint.startswith("http://"):
        session: Any = requests.Session()  # a local test server: no credentials are sent
    else:
        from google.auth.transport.requests import AuthorizedSession

        session = AuthorizedSession(account.credentials)
    answer = session.post(url, json={"permissions": wanted}, timeout=TIMEOUT)
    if answer.status_code != 200:
        raise PermissionError(f"testIamPermissions: HTTP {answer.status_code} {answer.text[:200]}")
    return set(answer.json().get("permissions", []))


def permissions(account: Project) -> list[Check]:
    wanted = [permission for permission, _ in PERMISSIONS]
    try:
        held = test_permissions(account, wanted)
    except Exception as err:  # noqa: BLE001 - the call itself failing is one line
        return [fail(AREA, "IAM permissions (projects.testIamPermissions)", str(err),
                     "the daemon's credentials must be able to call Cloud Resource Manager on the project")]
    on_account = set()
    if ACT_AS not in held and account.node_service_account:  # actAs is usually granted on the account itself
        try:
            on_account = test_permissions(account, [ACT_AS], account.node_service_account)
        except Exception:  # noqa: BLE001 - then the project's answer stands
            on_account = set()
    results = []
    for permission, why in PERMISSIONS:
        what = f"IAM {permission}"
        if permission in held:
            results.append(ok(AREA, what, f"held on project {account.project}"))
        elif permission in on_account:
            results.append(ok(AREA, what, f"held on {account.node_service_account}"))
        else:
            results.append(fail(AREA, what, f"not held on project {account.project}",
                                f"grant a role with {permission}: the provider {why} ({README_FIX})"))
    return results


def gpu_metric(accelerator: str) -> str:
    """`nvidia-tesla-t4` -> NVIDIA_T4_GPUS, `nvidia-l4` -> NVIDIA_L4_GPUS (Compute quota metrics)."""
    model = re.sub(r"^nvidia-(tesla-)?", "", accelerator.lower())
    return f"NVIDIA_{model.upper().replace('-', '_')}_GPUS"


def cpu_metric(family: str) -> str:
    """N1 and E2 count in CPUS; the other families have their own (N2_CPUS, C3_CPUS, ...)."""
    return "CPUS" if family.lower() in ("n1", "e2", "f1", "g1") else f"{family.upper()}_CPUS"


def _accelerator(itype: Any) -> str:
    if itype.accelerator is not None:
        return itype.accelerator.cloud_name
    return f"nvidia-{(itype.gpu_model or 'gpu').lower().replace(' ', '-')}"


def quotas(account: Project) -> list[Check]:
    from google.api_core import exceptions
    from google.cloud import compute_v1

    from pricing.catalog import catalog_settings, region_catalog

    config = account.config
    region = config.region
    try:
        found = account.client(compute_v1.RegionsClient).get(project=account.project, region=region, timeout=TIMEOUT)
    except exceptions.Forbidden as err:
        return [warn(AREA, "quotas", f"regions.get denied: {err.message}",
                     "allow compute.regions.get to whoever runs doctor to see quotas (the daemon does not need it)")]
    except exceptions.GoogleAPIError as err:
        return [_failed("quotas", err, "check network access to compute.googleapis.com")]
    limits = {q.metric: (q.limit, q.usage) for q in found.quotas}
    catalog = region_catalog("gcp", region, catalog_settings(config))
    families = {o.instance_type.family.split("-")[0] for o in catalog.offerings}
    gpus = {_accelerator(o.instance_type) for o in catalog.offerings if o.instance_type.gpu_count}
    results = []
    for metric in sorted({cpu_metric(f) for f in families} | {gpu_metric(g) for g in gpus}):
        if metric not in limits:
            continue
        limit, usage = limits[metric]
        what = f"quota {metric}"
        detail = f"{limit:g} in {region} ({usage:g} used)"
        fix = f"request more {metric} in {region}: console 'IAM & Admin > Quotas' (compute.googleapis.com)"
        if limit - usage > 0:
            results.append(ok(AREA, what, detail))
        elif metric.endswith("_GPUS"):
            results.append(warn(AREA, what, f"{detail}: pods that need these GPUs stay pending", fix))
        else:
            results.append(fail(AREA, what, f"{detail}: no node of this family can launch", fix))
    return results or [warn(AREA, "quotas", f"regions.get listed no CPU or GPU quota for {region}")]


def prices(account: Project) -> list[Check]:
    what = "live prices (Cloud Billing Catalog)"
    if not account.config.gcp.live_prices:
        return [Check(AREA, what, Status.SKIP, "gcp.livePrices is false: the embedded catalog's prices are used")]
    try:
        from google.cloud import billing_v1
    except ImportError:
        return [warn(AREA, what, "google-cloud-billing is not installed: the embedded catalog's prices answer",
                     "pip install 'smart-autoscaler[gcp]'")]
    from google.api_core import exceptions

    from providers.gcp.prices import COMPUTE_ENGINE_SERVICE

    try:
        pager = account.client(billing_v1.CloudCatalogClient).list_skus(
            request={"parent": COMPUTE_ENGINE_SERVICE, "page_size": 1}, timeout=TIMEOUT)
        first = next(iter(pager), None)
    except exceptions.GoogleAPIError as err:
        check = _failed(what, err, "check network access to cloudbilling.googleapis.com")
        return [warn(AREA, what, f"{check.detail}; the embedded catalog's prices answer", check.fix)]
    if first is None:
        return [warn(AREA, what, "the catalog listed no Compute Engine SKU", "the embedded catalog's prices answer")]
    return [ok(AREA, what, "reachable (Compute Engine SKUs)")]
