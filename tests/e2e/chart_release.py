"""The Helm chart installed on the loopback control plane, and the daemon started from what it
installed.

Helm is helm-python-sdk (Helm's Go SDK through ctypes; the helm the fast tier's chart tests
use), talking to the API server with the admin kubeconfig and keeping its releases in Secrets,
as the helm CLI does. Objects are validated with the API server itself: a server-side dry-run
create with `fieldValidation=Strict` (an unknown or duplicated field is an error, as
`kubectl apply --dry-run=server --validate=strict` makes it) through the `kubernetes` client's
dynamic client.

`PodFromRelease` turns the installed Deployment into the process a kubelet would start: the
container's args and env (fieldRefs resolved), its ConfigMap volume written out and mounted
where the pod mounts it, and the service account volume a kubelet projects (a TokenRequest
token for the chart's ServiceAccount, the namespace's kube-root-ca.crt, the namespace) at
/var/run/secrets/kubernetes.io/serviceaccount, with KUBERNETES_SERVICE_HOST/PORT naming the API
server; the image runs it (tests/image.py) as the image's user on a read-only root.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.daemon_helpers import wait_for

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RELEASE_LABEL = "app.kubernetes.io/instance"


def helm_config(control_plane, namespace: str):
    import helm_python as helm

    return helm.Config(kubeconfig_path=str(control_plane.kubeconfig), namespace=namespace)


def manifest_objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def validate_strictly(api_client, objects: list[dict[str, Any]], namespace: str) -> list[str]:
    """Each object dry-run created by the API server with strict field validation; returns
    "Kind/name" of each accepted object (a rejection raises the server's message)."""
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api_client)
    accepted = []
    for obj in objects:
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        where = {"namespace": obj["metadata"].get("namespace", namespace)} if resource.namespaced else {}
        dynamic.create(resource, body=obj, dry_run="All", query_params=[("fieldValidation", "Strict")], **where)
        accepted.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return accepted


def release_leftovers(api_client, namespace: str, release: str) -> list[str]:
    """Everything labelled with the release (namespaced and cluster-wide), and Helm's own
    release records, still in the API."""
    from kubernetes import client

    selector = f"{RELEASE_LABEL}={release}"
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    rbac, policy = client.RbacAuthorizationV1Api(api_client), client.PolicyV1Api(api_client)
    found = []
    for kind, lister in (
        ("Deployment", apps.list_namespaced_deployment), ("ReplicaSet", apps.list_namespaced_replica_set),
        ("Pod", core.list_namespaced_pod), ("ConfigMap", core.list_namespaced_config_map),
        ("Service", core.list_namespaced_service), ("ServiceAccount", core.list_namespaced_service_account),
        ("Role", rbac.list_namespaced_role), ("RoleBinding", rbac.list_namespaced_role_binding),
        ("PodDisruptionBudget", policy.list_namespaced_pod_disruption_budget),
    ):
        found += [f"{kind}/{o.metadata.name}" for o in lister(namespace, label_selector=selector).items]
    for kind, lister in (("ClusterRole", rbac.list_cluster_role), ("ClusterRoleBinding", rbac.list_cluster_role_binding)):
        found += [f"{kind}/{o.metadata.name}" for o in lister(label_selector=selector).items]
    found += [f"Secret/{s.metadata.name}" for s in
              core.list_namespaced_secret(namespace, label_selector=f"owner=helm,name={release}").items]
    return found


# ------------------------------------------------------------------ the pod a kubelet would start


@dataclass
class PodFromRelease:
    """The installed Deployment's container, ready to run from the image."""

    args: list[str]
    env: dict[str, str]
    mounts: dict[str, str]  # host path -> path in the container
    run_as: str  # runAsUser:runAsGroup of the pod

    @classmethod
    def read(cls, api_client, control_plane, namespace: str, deployment: str, workdir: Path) -> "PodFromRelease":
        from kubernetes import client

        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        raw = api_client.sanitize_for_serialization(apps.read_namespaced_deployment(deployment, namespace))
        pod = raw["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        pod_name = f"{deployment}-from-chart"
        field_values = {"metadata.namespace": namespace, "metadata.name": pod_name}
        env = {}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                env[item["name"]] = field_values[item["valueFrom"]["fieldRef"]["fieldPath"]]
        host, port = control_plane.server.removeprefix("https://").rsplit(":", 1)
        env.update({"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port})

        mounts: dict[str, str] = {}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                assert mount["mountPath"] == "/tmp", "the runner gives an empty /tmp only"
                continue
            source = core.read_namespaced_config_map(volume["configMap"]["name"], namespace)
            folder = workdir / f"volume-{mount['name']}"
            folder.mkdir()
            for item in volume["configMap"]["items"]:
                (folder / item["path"]).write_text(source.data[item["key"]])
            mounts[str(folder)] = mount["mountPath"]

        if pod.get("automountServiceAccountToken", True):
            token = core.create_namespaced_service_account_token(
                pod["serviceAccountName"], namespace, {"spec": {"expirationSeconds": 3600}}).status.token
            ca = core.read_namespaced_config_map("kube-root-ca.crt", namespace).data["ca.crt"]
            folder = workdir / "serviceaccount"
            folder.mkdir()
            for name, text in (("token", token), ("ca.crt", ca), ("namespace", namespace)):
                (folder / name).write_text(text)
            mounts[str(folder)] = SERVICE_ACCOUNT_DIR
        context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        return cls(container["args"], env, mounts, f"{context['runAsUser']}:{context['runAsGroup']}")


@dataclass
class ImageProcess:
    """The image's entrypoint running as a process group (stopped with SIGTERM, then SIGKILL)."""

    argv: list[str]
    log_path: Path
    metrics_port: int
    proc: subprocess.Popen | None = field(default=None)

    def start(self) -> "ImageProcess":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self.proc.returncode}:\n{self.log()}")

    def healthz(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2) as answer:
            return answer.status

    def wait_healthy(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.healthz() == 200, timeout, "the daemon's /healthz", interval=0.5, check=self.check_alive)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, grace: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)


def wait_gone(api_client, namespace: str, release: str, timeout: float = 60.0) -> None:
    wait_for(lambda: not release_leftovers(api_client, namespace, release), timeout,
             f"release {release}'s objects to be gone (left: {release_leftovers(api_client, namespace, release)})",
             interval=0.5)
