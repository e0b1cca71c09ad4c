"""Why a document's kind gives no pods in the preview, with a hint when the user probably
expected pods: a known workload kind the preview does not expand (Argo Rollout, Kubeflow
PyTorchJob, ...), a misspelt kind (`Deploymnet`), or a known kind under the wrong apiVersion."""

from __future__ import annotations

import difflib

from autoscaler.validate.workload_counts import EXPANDED_KINDS

_EXPANDED_GROUPS = {
    "Pod": "v1", "ReplicationController": "v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1",
    "RayCluster": "ray.io/v1", "RayService": "ray.io/v1", "RayJob": "ray.io/v1",
}

# Kinds whose controllers create pods, but that the preview does not expand.
UNEXPANDED_WORKLOADS = {
    "Rollout": "Argo Rollouts",
    "PyTorchJob": "Kubeflow Training Operator",
    "TFJob": "Kubeflow Training Operator",
    "MPIJob": "Kubeflow Training Operator",
    "XGBoostJob": "Kubeflow Training Operator",
    "PaddleJob": "Kubeflow Training Operator",
    "JAXJob": "Kubeflow Training Operator",
    "TrainJob": "Kubeflow Trainer",
    "JobSet": "JobSet",
    "LeaderWorkerSet": "LeaderWorkerSet",
    "InferenceService": "KServe",
    "ServingRuntime": "KServe",
    "SparkApplication": "Spark Operator",
    "ScheduledSparkApplication": "Spark Operator",
    "Workflow": "Argo Workflows",
    "CronWorkflow": "Argo Workflows",
    "Notebook": "Kubeflow Notebooks",
    "Revision": "Knative Serving",
    "VolcanoJob": "Volcano",
    "PodGroup": "a gang scheduler (its pods are created by another object)",
    "AppWrapper": "Kueue / MCAD AppWrapper",
    "NIMService": "NVIDIA NIM Operator",
}

# Kinds that create no pods at all: no hint is needed.
NO_POD_KINDS = frozenset({
    "Service", "ConfigMap", "Secret", "Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
    "ClusterRoleBinding", "Ingress", "IngressClass", "NetworkPolicy", "PersistentVolumeClaim", "PersistentVolume",
    "StorageClass", "PodDisruptionBudget", "HorizontalPodAutoscaler", "VerticalPodAutoscaler", "LimitRange",
    "ResourceQuota", "PriorityClass", "CustomResourceDefinition", "Endpoints", "EndpointSlice", "Gateway",
    "HTTPRoute", "ServiceMonitor", "PodMonitor", "PrometheusRule", "Certificate", "Issuer", "ClusterIssuer",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService", "Lease", "Event",
    "ControllerRevision", "RuntimeClass", "CSIDriver", "VolumeSnapshot", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "Node", "Queue", "ClusterQueue", "LocalQueue", "ResourceFlavor",
})


def _workload_hint(api_version: str, kind: str) -> str | None:
    if kind == "Service" and api_version.startswith("serving.knative.dev/"):
        return "Knative Serving"
    if kind == "Job" and api_version.startswith("batch.volcano.sh/"):
        return "Volcano"
    return UNEXPANDED_WORKLOADS.get(kind)


def skip_reason(api_version: str, kind: str) -> str:
    """Why an object of this kind gives no pods in the preview, with a hint when one helps."""
    if kind in _EXPANDED_GROUPS:
        return f"no pods: a {kind} of {api_version} is not expanded (the preview reads {kind} of {_EXPANDED_GROUPS[kind]})"
    owner = _workload_hint(api_version, kind)
    if owner:
        return (f"not expanded: {kind} ({owner}) creates pods, but the preview does not expand this kind, so "
                "its pods are not planned; preview its pod template as a Deployment, Job or Pod instead")
    if kind in NO_POD_KINDS:
        return "no pods"
    close = difflib.get_close_matches(kind, list(_EXPANDED_GROUPS), n=1, cutoff=0.75)
    if not close:
        lowered = {name.lower(): name for name in _EXPANDED_GROUPS}
        close = [lowered[kind.lower()]] if kind.lower() in lowered else []
    if close:
        return f"no pods: unknown kind {kind!r}; did you mean {close[0]}?"
    return f"no pods: kind {kind} is not one the preview expands ({', '.join(EXPANDED_KINDS)})"
