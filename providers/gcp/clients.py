"""The Google Cloud SDK clients the provider uses, built once with one endpoint and credentials.

google-cloud-compute, google-cloud-container and google-cloud-billing are imported here, only
when a GCP provider is built (`pip install 'smart-autoscaler[gcp]'`), so `preview` and
`simulate` start without them. Credentials come from the SDK's standard chain (Workload
Identity on GKE, GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default); none are
logged. `gcp.apiEndpoint` points every client at one other endpoint (a test server): over
plain http:// the clients send no credentials. Every client uses the REST transport, so the
zonal operations of Compute Engine are polled with a ZoneOperations client on that same
endpoint (the SDK's own extended-operation poller would not honour it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoscaler.config import GcpConfig


@dataclass
class GcpClients:
    compute: Any  # the google.cloud.compute_v1 module (request types)
    container: Any  # the google.cloud.container_v1 module
    api_core_exceptions: Any
    migs: Any  # InstanceGroupManagersClient
    zone_operations: Any  # ZoneOperationsClient
    machine_types: Any  # MachineTypesClient
    accelerator_types: Any  # AcceleratorTypesClient
    gke: Any  # ClusterManagerClient
    billing: Any  # CloudCatalogClient, or None when google-cloud-billing is missing
    project: str


def build_clients(config: GcpConfig) -> GcpClients:
    from google.api_core import exceptions as api_core_exceptions
    from google.api_core.client_options import ClientOptions
    from google.cloud import compute_v1, container_v1

    credentials, project = _credentials(config)
    options = ClientOptions(api_endpoint=config.api_endpoint) if config.api_endpoint else None

    def make(cls: Any) -> Any:
        return cls(credentials=credentials, client_options=options, transport="rest")

    try:
        from google.cloud import billing_v1

        billing = make(billing_v1.CloudCatalogClient)
    except ImportError:
        billing = None
    return GcpClients(
        compute=compute_v1,
        container=container_v1,
        api_core_exceptions=api_core_exceptions,
        migs=make(compute_v1.InstanceGroupManagersClient),
        zone_operations=make(compute_v1.ZoneOperationsClient),
        machine_types=make(compute_v1.MachineTypesClient),
        accelerator_types=make(compute_v1.AcceleratorTypesClient),
        gke=make(container_v1.ClusterManagerClient),
        billing=billing,
        project=project,
    )


def _credentials(config: GcpConfig) -> tuple[Any, str]:
    if config.api_endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials(), config.project
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError as err:
        raise ValueError(
            f"no Google Cloud credentials: {err} (on GKE, bind the chart's service account to a Google "
            "service account with Workload Identity; elsewhere set GOOGLE_APPLICATION_CREDENTIALS)"
        ) from None
    return credentials, config.project or project or ""
