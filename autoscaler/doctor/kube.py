"""Kubernetes checks: the API server answers, who we are, every verb the daemon needs
(SelfSubjectAccessReview), the metrics API when hot-node mitigation is on, and a device plugin
for each extended resource that pods or the configuration ask for. Read-only: the reviews are
answered by the API server and stored nowhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from autoscaler.doctor.access import Access, needed
from autoscaler.doctor.report import Check, fail, ok, skip, warn

AREA = "Kubernetes"
TIMEOUT = 15.0  # seconds, every request
RBAC_FILE = "helm/smart-autoscaler/files/clusterrole-rules.yaml"
LEASE_ROLE_FILE = "helm/smart-autoscaler/templates/role.yaml"
_BASIC_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods", "storage")

# Where the device plugin of a resource comes from, and words its DaemonSet's name or image
# carries (the projects' own manifests and Helm charts name them so).
DEVICE_PLUGINS: dict[str, tuple[tuple[str, ...], str]] = {
    "nvidia.com/gpu": (("nvidia-device-plugin", "nvidia-gpu-device-plugin", "k8s-device-plugin", "gpu-operator"),
                       "install NVIDIA's device plugin (https://github.com/NVIDIA/k8s-device-plugin) or the GPU "
                       "Operator; on GKE and AKS the managed GPU node setup brings it"),
    "amd.com/gpu": (("amdgpu", "amd-gpu", "rocm"), "install AMD's device plugin (https://github.com/ROCm/k8s-device-plugin)"),
    "aws.amazon.com/neuron": (("neuron-device-plugin", "neuron"),
                              "install the AWS Neuron device plugin (aws-neuron/neuron-helm-charts, "
                              "https://awsdocs-neuron.readthedocs-hosted.com)"),
    "aws.amazon.com/neuroncore": (("neuron-device-plugin", "neuron"), "install the AWS Neuron device plugin"),
    "aws.amazon.com/neurondevice": (("neuron-device-plugin", "neuron"), "install the AWS Neuron device plugin"),
}


@dataclass(frozen=True)
class KubeTarget:
    api_client: Any
    server: str


def connect(kubeconfig: str | None, context: str | None) -> tuple[KubeTarget | None, Check]:
    from kubernetes.client import ApiClient

    from autoscaler.cluster import ClusterError
    from autoscaler.kube.client import client_configuration

    try:
        configuration = client_configuration(kubeconfig, context)
    except ClusterError as err:
        return None, fail(AREA, "client configuration", str(err),
                          "pass --kubeconfig FILE (and --context NAME), or run inside the cluster")
    return KubeTarget(ApiClient(configuration), configuration.host), ok(AREA, "client configuration", configuration.host)


def _api_error(err: Exception) -> str:
    status = getattr(err, "status", None)
    if status is not None:
        reason = getattr(err, "reason", "") or ""
        return f"HTTP {status} {reason}".strip()
    return f"{type(err).__name__}: {err}"


def api_server(target: KubeTarget) -> list[Check]:
    from kubernetes.client import VersionApi

    try:
        info = VersionApi(target.api_client).get_code(_request_timeout=TIMEOUT)
    except Exception as err:  # noqa: BLE001 - unreachable, TLS, credentials: all a ✗ line
        status = getattr(err, "status", None)
        fix = ("the credentials were refused: renew the token or client certificate in the kubeconfig"
               if status == 401 else f"check that {target.server} is reachable from here (network, proxy, TLS CA)")
        return [fail(AREA, "API server reachable", f"{target.server}: {_api_error(err)}", fix)]
    return [ok(AREA, "API server reachable", f"{target.server}, Kubernetes {info.git_version}")]


def identity(target: KubeTarget) -> list[Check]:
    """Who the API server says we are (SelfSubjectReview, Kubernetes 1.28+; stores nothing)."""
    from kubernetes.client import AuthenticationV1Api

    try:
        review = AuthenticationV1Api(target.api_client).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, _request_timeout=TIMEOUT)
    except Exception as err:  # noqa: BLE001
        if getattr(err, "status", None) == 404:
            return [skip(AREA, "identity", "SelfSubjectReview needs Kubernetes 1.28+")]
        return [warn(AREA, "identity", f"SelfSubjectReview failed: {_api_error(err)}")]
    user = review.status.user_info
    return [ok(AREA, "identity", user.username or "(anonymous)")]


def access_review(api_client: Any, access: Access, namespace: str | None, name: str | None) -> tuple[bool, str]:
    from kubernetes.client import AuthorizationV1Api

    resource, _, subresource = access.resource.partition("/")
    attributes: dict[str, Any] = {"group": access.group, "resource": resource, "verb": access.verb}
    if subresource:
        attributes["subresource"] = subresource
    if namespace:
        attributes["namespace"] = namespace
    if name:
        attributes["name"] = name
    review = AuthorizationV1Api(api_client).create_self_subject_access_review(
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
         "spec": {"resourceAttributes": attributes}}, _request_timeout=TIMEOUT)
    return bool(review.status.allowed), review.status.reason or review.status.evaluation_error or ""


def permissions(target: KubeTarget, *, hot_nodes: bool, simulated: bool, lease: tuple[str, str] | None) -> list[Check]:
    """Every verb of autoscaler/doctor/access.py that this configuration needs."""
    checks: list[Check] = []
    for access in needed(hot_nodes, simulated, lease is not None):
        namespace = name = None
        where = "all namespaces" if access.resource in ("pods", "pods/eviction", "events", "daemonsets",
                                                       "poddisruptionbudgets", "persistentvolumeclaims") else "cluster"
        if access.object_name:
            name, where = access.object_name, f"{access.resource} {access.object_name}"
        if lease is not None and access.resource == "leases":
            namespace, name = lease[0], (lease[1] if access.named else None)
            where = f"namespace {namespace}" + (f", Lease {name}" if name else "")
        what = f"RBAC: {access.label}"
        try:
            allowed, reason = access_review(target.api_client, access, namespace, name)
        except Exception as err:  # noqa: BLE001
            checks.append(fail(AREA, what, f"SelfSubjectAccessReview failed: {_api_error(err)}",
                               "the API server must answer SelfSubjectAccessReview (authorization.k8s.io/v1)"))
            continue
        if allowed:
            checks.append(ok(AREA, what, where))
            continue
        source = LEASE_ROLE_FILE if access.resource == "leases" else RBAC_FILE
        checks.append(fail(AREA, what, f"denied ({where}){': ' + reason if reason else ''}",
                           f"grant '{access.verb}' on '{access.resource}' (API group "
                           f"'{access.group or 'core'}') to the daemon's identity -- the chart's "
                           f"{source} has it; needed because {access.why}"))
    return checks


def metrics_api(target: KubeTarget, config: Any, clock: Any = None) -> list[Check]:
    """NodeMetrics served, for every node, and fresh enough for hot-node mitigation -- read
    the way the daemon reads them (autoscaler/kube/metrics.py)."""
    hot = config.manage_high_utilization
    what = "metrics API (metrics.k8s.io)"
    if not hot.enabled:
        return [skip(AREA, what, "not needed: manageHighUtilization.enabled is false")]
    from kubernetes.client import CoreV1Api

    from autoscaler.kube.metrics import MetricsApi

    report = MetricsApi(target.api_client, clock=clock).usage()
    if report.error:
        return [fail(AREA, what, report.error,
                     "install metrics-server (https://github.com/kubernetes-sigs/metrics-server): hot-node "
                     "mitigation reads NodeMetrics and PodMetrics; kubectl get apiservice v1beta1.metrics.k8s.io")]
    nodes = [n.metadata.name for n in CoreV1Api(target.api_client).list_node(_request_timeout=TIMEOUT).items]
    fresh = {name for name, sample in report.nodes.items() if sample.age(report.read_at) <= hot.max_metrics_age}
    missing = [n for n in nodes if n not in fresh]
    if nodes and not fresh:
        return [fail(AREA, what, f"no node has metrics newer than {hot.max_metrics_age:g}s "
                     f"(manageHighUtilization.maxMetricsAge); {len(report.nodes)} of {len(nodes)} nodes have any",
                     "check metrics-server's logs (kubectl -n kube-system logs deploy/metrics-server): it must "
                     "scrape every kubelet")]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        return [warn(AREA, what, f"{len(fresh)} of {len(nodes)} nodes have fresh metrics; none for {shown}",
                     "nodes without metrics are never treated as hot; check metrics-server can reach their kubelets")]
    ages = [report.nodes[n].age(report.read_at) for n in fresh]
    newest = f", newest {max(0.0, min(ages)):.0f}s old" if ages else ""
    return [ok(AREA, what, f"served; fresh for all {len(nodes)} nodes{newest}")]


def extended_resources_asked(pods: Iterable[Any], config: Any) -> dict[str, str]:
    """Extended resource -> who asks for it (a pod, or the configuration)."""
    asked: dict[str, str] = {}
    for name, _, _ in config.extended_resources:
        asked.setdefault(name, "configuration extendedResources")
    if config.bin_packing_node_gpu > 0:
        asked.setdefault("nvidia.com/gpu", "configuration binPackingNodeGPU")
    for pod in pods:
        containers = list(pod.spec.containers or []) + list(pod.spec.init_containers or [])
        for container in containers:
            resources = container.resources
            for table in (resources.requests or {}, resources.limits or {}) if resources else ():
                for key in table:
                    if "/" in key and not key.startswith(("hugepages-", "kubernetes.io/")) and key not in _BASIC_RESOURCES:
                        asked.setdefault(key, f"pod {pod.metadata.namespace}/{pod.metadata.name}")
    return asked


def device_plugins(target: KubeTarget, config: Any) -> list[Check]:
    from kubernetes.client import AppsV1Api, CoreV1Api

    core = CoreV1Api(target.api_client)
    pods = core.list_pod_for_all_namespaces(field_selector="status.phase!=Succeeded,status.phase!=Failed",
                                            _request_timeout=TIMEOUT).items
    asked = extended_resources_asked(pods, config)
    if not asked:
        return [ok(AREA, "device plugins", "no pod and no option asks for an extended resource")]
    nodes = core.list_node(_request_timeout=TIMEOUT).items
    daemonsets = AppsV1Api(target.api_client).list_daemon_set_for_all_namespaces(_request_timeout=TIMEOUT).items
    checks = []
    for resource, who in sorted(asked.items()):
        what = f"device plugin for {resource}"
        advertising = [n.metadata.name for n in nodes if (n.status.allocatable or {}).get(resource) not in (None, "0")]
        hints, fix = DEVICE_PLUGINS.get(resource, ((resource.split("/")[-1],), ""))
        plugin = next((ds for ds in daemonsets if _mentions(ds, hints)), None)
        if plugin is not None:
            checks.append(ok(AREA, what, f"DaemonSet {plugin.metadata.namespace}/{plugin.metadata.name}"
                             + (f"; {len(advertising)} nodes advertise it" if advertising else "")))
        elif advertising:
            checks.append(ok(AREA, what, f"{len(advertising)} nodes advertise it (asked by {who})"))
        else:
            checks.append(fail(AREA, what, f"asked by {who}, but no node advertises it and no device-plugin "
                               "DaemonSet was found: new nodes would never fit those pods",
                               fix or f"install the device plugin that advertises {resource} on new nodes"))
    return checks


def _mentions(daemonset: Any, hints: tuple[str, ...]) -> bool:
    words = [daemonset.metadata.name or ""]
    spec = daemonset.spec.template.spec
    words += [c.image or "" for c in list(spec.containers or []) + list(spec.init_containers or [])]
    text = " ".join(words).lower()
    return any(hint in text for hint in hints)
