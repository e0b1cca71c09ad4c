"""Which cluster the daemon's instances belong to: the value of the ownership tag.

An instance is adopted, listed or terminated only when its `smart-autoscaler.io/cluster` tag
names this cluster. `clusterName` from the configuration is that name. Left unset (the shared
default, which two clusters in one account would both carry), it is derived from something
only this cluster has: the managed cluster's own identity where the configuration names it
(OKE cluster OCID; GKE project, location and cluster; AKS resource group and cluster), else
the UID of the `kube-system` namespace, which the API server gives each cluster once.
The cloud's own cluster name options (gcp.cluster, azure.clusterName) keep the value they
would have had, so only the ownership tag changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from autoscaler.config import Config

UNSET_CLUSTER_NAME = Config().cluster_name  # the default every unconfigured daemon would share


def derived_identity(config: Config, kube_system_uid: Callable[[], str]) -> tuple[str, str]:
    """(identity, where it came from) for a configuration without its own clusterName."""
    if config.cloud == "oci" and config.oci.cluster_id:
        return config.oci.cluster_id, "oci.clusterId"
    if config.cloud == "gcp" and config.gcp.cluster and config.gcp.project:
        location = config.gcp.location or config.region
        return f"gke_{config.gcp.project}_{location}_{config.gcp.cluster}", "gcp.project, gcp.location and gcp.cluster"
    if config.cloud == "azure" and config.azure.resource_group and config.azure.cluster_name:
        return f"aks_{config.azure.resource_group}_{config.azure.cluster_name}", "azure.resourceGroup and azure.clusterName"
    return f"k8s-{kube_system_uid()}", "the kube-system namespace UID"


def with_cluster_identity(config: Config, kube_system_uid: Callable[[], str]) -> tuple[Config, str]:
    """The configuration whose clusterName is this cluster's identity, and a note saying how
    it was found ("" when clusterName was configured)."""
    if config.cluster_name and config.cluster_name != UNSET_CLUSTER_NAME:
        return config, ""
    identity, source = derived_identity(config, kube_system_uid)
    pinned = replace(
        config,
        cluster_name=identity,
        gcp=replace(config.gcp, cluster=config.gcp.cluster or config.cluster_name),
        azure=replace(config.azure, cluster_name=config.azure.cluster_name or config.cluster_name),
    )
    note = (
        f"clusterName is not set: instances are tagged smart-autoscaler.io/cluster={identity} (from {source}); "
        "set clusterName to name this cluster yourself"
    )
    return pinned, note


def kube_system_uid(api_client: object) -> str:
    """The UID of the kube-system namespace (read once at start)."""
    from kubernetes.client import CoreV1Api

    return str(CoreV1Api(api_client).read_namespace("kube-system").metadata.uid)
