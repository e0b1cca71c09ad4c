"""Running `python -m autoscaler run --provider simulated` against the loopback control plane.

The daemon runs as a subprocess under a ServiceAccount that holds exactly the chart's
least-privilege rules (helm/smart-autoscaler/files/clusterrole-rules*.yaml for the
ClusterRole, helm/smart-autoscaler/templates/role.yaml for the Lease Role), authenticated
by a token from the TokenRequest API. Its log goes to a file, shown when a test fails.

Everything here talks to the API server through the official ``kubernetes`` client.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "smart-autoscaler"
RULES_FILE = CHART / "files" / "clusterrole-rules.yaml"
SIMULATED_RULES_FILE = CHART / "files" / "clusterrole-rules-simulated.yaml"
LEASE_ROLE_TEMPLATE = CHART / "templates" / "role.yaml"

MANAGED_LABEL = "smart-autoscaler.io/managed"
CREATED_BY_SELECTOR = "smart-autoscaler.io/created-by=smart-autoscaler"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ROLE_LABEL = "smart-autoscaler.io/node-type"
DO_NOT_EVICT = "smart-autoscaler.io/do-not-evict"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # never pulled: kwok runs no containers
SA_NAME = "smart-autoscaler"
LEASE_NAME = "smart-autoscaler"

# Short periods so that the tier stays fast; every test may add or override options.
BASE_CONFIG: dict[str, Any] = {
    "cloud": "aws",
    "region": "us-east-1",
    "loopPeriod": "2s",
    "scaleUpTimeout": "2m",
    "scaleDown.nodeUnneededDuration": "15s",
}


# --------------------------------------------------------------------------- waiting


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25,
             check: Callable[[], None] | None = None, describe: Callable[[], Any] | None = None) -> Any:
    """Poll until ``predicate()`` is truthy and return it; ``check()`` runs every round (it may
    raise, e.g. when a daemon died). API errors inside the predicate count as 'not yet'.
    ``describe()``, when given, says what was seen instead, in the timeout's message."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        if check is not None:
            check()
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported below if it persists
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            if describe is not None:
                try:
                    detail += f"; seen: {describe()!r}"
                except Exception as exc:  # noqa: BLE001 - the description is best effort
                    detail += f"; seen: unknown ({exc!r})"
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def hold(seconds: float, invariant: Callable[[], None], interval: float = 0.5,
         check: Callable[[], None] | None = None) -> None:
    """Assert ``invariant()`` (it raises AssertionError) again and again for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if check is not None:
            check()
        invariant()
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


# --------------------------------------------------------------------------- RBAC from the chart


def load_rules(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    """The PolicyRules of a chart rules file (a YAML list)."""
    rules = yaml.safe_load(path.read_text())
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError(f"{path}: expected a YAML list of PolicyRules")
    return rules


def daemon_cluster_rules(simulated: bool = True) -> list[dict[str, Any]]:
    """What the chart puts in the ClusterRole for ``provider: simulated`` (or another provider)."""
    rules = load_rules(RULES_FILE)
    if simulated:
        rules += load_rules(SIMULATED_RULES_FILE)
    return rules


def without_verb(rules: list[dict[str, Any]], resource: str, verb: str, api_group: str = "") -> list[dict[str, Any]]:
    """The rules minus one verb on one resource (a rule left with no verb is dropped)."""
    result = []
    removed = False
    for rule in rules:
        rule = json.loads(json.dumps(rule))
        if api_group in rule.get("apiGroups", []) and resource in rule.get("resources", []) and verb in rule.get("verbs", []):
            removed = True
            others = [r for r in rule["resources"] if r != resource]
            if others:  # keep the verb for the rule's other resources
                result.append({**rule, "resources": others})
            verbs = [v for v in rule["verbs"] if v != verb]
            if verbs:
                result.append({**rule, "resources": [resource], "verbs": verbs})
            continue
        result.append(rule)
    if not removed:
        raise ValueError(f"no rule grants {verb} on {resource!r} in API group {api_group!r}")
    return result


def lease_role_rules(lease_name: str) -> list[dict[str, Any]]:
    """The rules of the chart's leader-election Role (templates/role.yaml, first document),
    rendered for ``lease_name`` without helm: template-only lines are dropped and the
    leaseName include is substituted."""
    text = LEASE_ROLE_TEMPLATE.read_text().split("\n---", 1)[0]
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("{{") and stripped.endswith("}}"):
            continue  # {{- if ... }}, {{- include "labels" | nindent }} ...
        lines.append(line)
    rendered = "\n".join(lines)
    rendered = re.sub(r'\{\{\s*include\s+"smart-autoscaler\.leaseName"[^}]*\}\}', json.dumps(lease_name), rendered)
    rendered = re.sub(r"\{\{[^}]*\}\}", "placeholder", rendered)
    role = yaml.safe_load(rendered)
    rules = role.get("rules") if isinstance(role, dict) else None
    if role.get("kind") != "Role" or not rules:
        raise ValueError(f"{LEASE_ROLE_TEMPLATE}: could not read the Role's rules")
    return rules


@dataclass
class Grant:
    """A ServiceAccount bound to a ClusterRole (cluster rules) and a Role (Lease rules)."""

    namespace: str
    service_account: str
    cluster_role: str
    kubeconfig: Path
    token: str


def grant_service_account(api_client, control_plane, namespace: str, workdir: Path, *,
                          name: str = SA_NAME, cluster_rules: list[dict] | None = None,
                          lease_name: str = LEASE_NAME) -> Grant:
    """Create the ServiceAccount, its ClusterRole/ClusterRoleBinding (the chart's rules unless
    ``cluster_rules`` is given) and the Lease Role/RoleBinding in ``namespace``; return a
    kubeconfig that authenticates as it with a TokenRequest token."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    rules = daemon_cluster_rules() if cluster_rules is None else cluster_rules
    cluster_role = f"smart-autoscaler-e2e-{namespace}-{name}"
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    labels = {"app.kubernetes.io/part-of": "smart-autoscaler-e2e", "e2e-namespace": namespace}
    rbac.create_cluster_role({"metadata": {"name": cluster_role, "labels": labels}, "rules": rules})
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    rbac.create_cluster_role_binding({
        "metadata": {"name": cluster_role, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": subject,
    })
    role = f"{name}-leader-election"
    rbac.create_namespaced_role(namespace, {"metadata": {"name": role}, "rules": lease_role_rules(lease_name)})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": subject,
    })
    answer = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"audiences": [], "expirationSeconds": 3600}}
    )
    token = answer.status.token
    admin = json.loads(Path(control_plane.kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    kubeconfig = workdir / f"{name}.kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "loopback", "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "loopback", "user": name, "namespace": namespace}}],
        "current-context": name,
    }, indent=2))
    kubeconfig.chmod(0o600)
    return Grant(namespace, name, cluster_role, kubeconfig, token)


def revoke(api_client, grant: Grant) -> None:
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(api_client)
    for call in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
        with contextlib.suppress(Exception):
            call(grant.cluster_role)


# --------------------------------------------------------------------------- the daemon process


def free_port() -> int:
    from tests.controlplane.cluster import free_port as _free_port

    return _free_port()


@dataclass
class Daemon:
    """One `python -m autoscaler run` subprocess."""

    name: str
    argv: list[str]
    log_path: Path
    metrics_port: int
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    exit_code: int | None = field(default=None)

    def start(self) -> "Daemon":
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("KUBERNETES_SERVICE_HOST", None)
        env.pop("KUBECONFIG", None)
        env.pop("POD_NAMESPACE", None)
        with open(self.log_path, "ab") as log:
            log.write(f"===== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"daemon {self.name} exited with code {self.proc.returncode}; log tail:\n"
                                 + self.log_tail(60))

    def http_get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def healthz(self) -> int:
        try:
            return self.http_get("/healthz")[0]
        except OSError:
            return 0

    def wait_healthy(self, timeout: float = 30.0) -> "Daemon":
        wait_for(lambda: self.healthz() == 200, timeout, f"daemon {self.name} /healthz 200 (caches synced)",
                 check=self.check_alive)
        return self

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
        _, text = self.http_get("/metrics")
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
        return total

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 200) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, pattern: str, timeout: float, what: str | None = None) -> re.Match:
        regex = re.compile(pattern, re.MULTILINE)
        return wait_for(lambda: regex.search(self.log_text()), timeout, what or f"daemon log line /{pattern}/")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.kill(self.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


# --------------------------------------------------------------------------- simulated cloud state


def read_state(path: Path) -> dict[str, Any]:
    """The simulated provider's state file (empty state when it does not exist yet)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {"launches": [], "requests": {}}


def instances(path: Path) -> list[dict[str, Any]]:
    return [item["instance"] for item in read_state(path).get("launches", [])]


def live_instances(path: Path) -> list[dict[str, Any]]:
    return [i for i in instances(path) if i["state"] in ("pending", "running")]


def seed_state(path: Path, next_id: int) -> None:
    """An empty simulated cloud whose first instance is i-<next_id>: node names (sim-i-...) then
    never repeat across tests, so pods left over from an earlier test can never be mistaken
    for pods of a new node with the same name."""
    path.write_text(json.dumps({
        "version": 1, "next_id": next_id, "launches": [], "requests": {},
        "faults": {"stockouts": [], "quotas": [], "slow": {}, "never_boots": []},
    }))


# --------------------------------------------------------------------------- workloads


def container(cpu: str, memory: str = "64Mi") -> dict[str, Any]:
    return {"name": "main", "image": PAUSE_IMAGE, "resources": {"requests": {"cpu": cpu, "memory": memory}}}


def pod_spec(cpu: str, memory: str = "64Mi", **extra: Any) -> dict[str, Any]:
    return {"terminationGracePeriodSeconds": 0, "containers": [container(cpu, memory)], **extra}


def managed_deployment(name: str, replicas: int, cpu: str, memory: str = "64Mi", *, managed: bool = True,
                       annotations: dict[str, str] | None = None, **spec_extra: Any) -> dict[str, Any]:
    labels = {"app": name}
    if managed:
        labels[MANAGED_LABEL] = "true"
    metadata: dict[str, Any] = {"labels": labels}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": metadata, "spec": pod_spec(cpu, memory, **spec_extra)},
        },
    }


def managed_pod(name: str, cpu: str, memory: str = "64Mi", *, gates: Iterable[str] = (),
                labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec = pod_spec(cpu, memory)
    if gates:
        spec["schedulingGates"] = [{"name": g} for g in gates]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name, MANAGED_LABEL: "true", **(labels or {})}},
        "spec": spec,
    }


def pods_of(core_v1, namespace: str, app: str) -> list:
    return core_v1.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def running(pods: list) -> list:
    return [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


def condition(pod, type_: str):
    return next((c for c in pod.status.conditions or [] if c.type == type_), None)


def unschedulable(pod) -> bool:
    cond = condition(pod, "PodScheduled")
    return cond is not None and cond.status == "False" and cond.reason == "Unschedulable"


def managed_nodes(core_v1) -> list:
    """Nodes the autoscaler created (label smart-autoscaler.io/created-by=smart-autoscaler)."""
    return core_v1.list_node(label_selector=CREATED_BY_SELECTOR).items


def node_ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def events_for(core_v1, namespace: str, *, name: str | None = None, uid: str | None = None,
               kind: str | None = None, reason: str | None = None) -> list:
    fields = []
    if uid:
        fields.append(f"involvedObject.uid={uid}")
    if name:
        fields.append(f"involvedObject.name={name}")
    if kind:
        fields.append(f"involvedObject.kind={kind}")
    if reason:
        fields.append(f"reason={reason}")
    return core_v1.list_namespaced_event(namespace, field_selector=",".join(fields)).items


# --------------------------------------------------------------------------- control plane


def restart_apiserver(control_plane, down_for: float = 0.0) -> float:
    """Kill kube-apiserver (SIGKILL: a crash; SIGTERM would wait ~15 s for open watches to
    drain), optionally stay down ``down_for`` seconds, start it again with the same flags (same
    port, certificates, etcd) and wait for /readyz. Every client's connections break; watches
    resume from their last resourceVersion, which the fresh watch cache no longer holds.
    Returns the seconds the API server was unavailable."""
    comp = next(c for c in control_plane.components if c.name == "kube-apiserver")
    t0 = time.monotonic()
    comp.proc.kill()
    comp.proc.wait(timeout=10)
    if down_for:
        time.sleep(down_for)
    control_plane.components.remove(comp)
    control_plane._launch(comp)  # same argv, appended to the components again
    control_plane._wait(
        "kube-apiserver (restarted)",
        lambda: control_plane._https_ok(control_plane.ports["apiserver"], "/readyz", client=True),
        time.monotonic() + 60,
    )
    return time.monotonic() - t0


def create_namespace(control_plane, core_v1, name: str, timeout: float = 90.0) -> float:
    """Create a namespace and wait until its 'default' ServiceAccount exists (pods can be
    created); returns the seconds that took. kube-controller-manager makes that ServiceAccount:
    after an API server outage its informers back off (up to ~30 s, longer under load) first."""
    started = time.monotonic()
    core_v1.create_namespace({"metadata": {"name": name}})
    control_plane.wait_for(lambda: core_v1.read_namespaced_service_account("default", name), timeout=timeout,
                           what=f"ServiceAccount {name}/default (made by kube-controller-manager)")
    return time.monotonic() - started


def wait_for_controllers(control_plane, core_v1, timeout: float = 120.0) -> float:
    """Wait until kube-controller-manager acts on new objects again (a new namespace gets its
    ServiceAccount); returns the seconds that took. A test that takes the API server away waits
    for this, so the next test starts on a working control plane."""
    name = f"settle-{uuid.uuid4().hex[:8]}"
    try:
        return create_namespace(control_plane, core_v1, name, timeout)
    finally:
        core_v1.delete_namespace(name)


def dump_config(path: Path, options: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(options, sort_keys=True))
    return path


def daemon_argv(config_path: Path, kubeconfig: Path, *, state_file: Path, metrics_port: int,
                launch_delay: str, lease_namespace: str, lease_name: str = LEASE_NAME,
                extra: Iterable[str] = ()) -> list[str]:
    return [
        sys.executable, "-m", "autoscaler", "run",
        "--provider", "simulated",
        "--config", str(config_path),
        "--kubeconfig", str(kubeconfig),
        "--metrics-address", f"127.0.0.1:{metrics_port}",
        "--simulated-state", str(state_file),
        "--simulated-launch-delay", launch_delay,
        "--lease-namespace", lease_namespace,
        "--lease-name", lease_name,
        *extra,
    ]


# --------------------------------------------------------------------------- one test's autoscaler setup


class AutoscalerEnv:
    """What a daemon test needs: the ServiceAccount grant, a seeded state file, daemons,
    and the clean-up of everything they made (nodes, instances, RBAC objects)."""

    def __init__(self, control_plane, api_client, namespace: str, workdir: Path, first_instance: int) -> None:
        from kubernetes import client

        self.control_plane = control_plane
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.namespace = namespace
        self.workdir = workdir
        self.state_file = workdir / "simulated-cloud.json"
        self.first_instance = first_instance
        seed_state(self.state_file, first_instance)
        self.daemons: list[Daemon] = []
        self.grants: dict[str, Grant] = {}

    # ---- RBAC

    def grant(self, name: str = SA_NAME, cluster_rules: list[dict] | None = None,
              lease_name: str = LEASE_NAME) -> Grant:
        if name not in self.grants:
            self.grants[name] = grant_service_account(
                self.api_client, self.control_plane, self.namespace, self.workdir,
                name=name, cluster_rules=cluster_rules, lease_name=lease_name,
            )
        return self.grants[name]

    # ---- daemons

    def start(self, config: dict[str, Any] | None = None, *, launch_delay: str = "3s", name: str | None = None,
              service_account: str = SA_NAME, lease_name: str = LEASE_NAME, wait_healthy: bool = True,
              extra_args: Iterable[str] = ()) -> Daemon:
        grant = self.grant(service_account, lease_name=lease_name)
        name = name or f"daemon-{len(self.daemons) + 1}"
        options = {**BASE_CONFIG, **(config or {})}
        config_path = dump_config(self.workdir / f"{name}.config.yaml", options)
        port = free_port()
        argv = daemon_argv(config_path, grant.kubeconfig, state_file=self.state_file, metrics_port=port,
                           launch_delay=launch_delay, lease_namespace=self.namespace, lease_name=lease_name,
                           extra=extra_args)
        daemon = Daemon(name, argv, self.workdir / f"{name}.log", port)
        self.daemons.append(daemon)
        daemon.start()
        if wait_healthy:
            daemon.wait_healthy()
        return daemon

    def start_cloud(self, provider: str, options: dict[str, Any], name: str | None = None) -> Daemon:
        """`run --provider <cloud>` (not the simulated one) under the chart's rules without node
        create; `options` are the whole configuration. Waits until it is healthy."""
        grant = self.grant(cluster_rules=daemon_cluster_rules(simulated=False))
        name = name or f"{provider}-daemon-{len(self.daemons) + 1}"
        path = dump_config(self.workdir / f"{name}.config.yaml", options)
        port = free_port()
        argv = [
            sys.executable, "-m", "autoscaler", "run", "--provider", provider, "--config", str(path),
            "--kubeconfig", str(grant.kubeconfig), "--metrics-address", f"127.0.0.1:{port}",
            "--lease-namespace", self.namespace,
        ]
        daemon = Daemon(name, argv, self.workdir / f"{name}.log", port)
        self.daemons.append(daemon)
        daemon.start().wait_healthy()
        return daemon

    def check_daemons(self) -> None:
        """Raise (with the log) if a daemon that should be running has died."""
        for daemon in self.daemons:
            if daemon.exit_code is None:
                daemon.check_alive()

    def killed(self, daemon: Daemon) -> None:
        """Mark a daemon as stopped on purpose (check_daemons ignores it)."""
        daemon.exit_code = daemon.proc.returncode if daemon.proc else -1

    # ---- reading the results

    def live_instances(self) -> list[dict[str, Any]]:
        return live_instances(self.state_file)

    def instances(self) -> list[dict[str, Any]]:
        return instances(self.state_file)

    def managed_nodes(self) -> list:
        return managed_nodes(self.core)

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25,
             describe: Callable[[], Any] | None = None) -> Any:
        return wait_for(predicate, timeout, what, interval, check=self.check_daemons, describe=describe)

    def hold(self, seconds: float, invariant: Callable[[], None], interval: float = 0.5) -> None:
        hold(seconds, invariant, interval, check=self.check_daemons)

    def logs(self) -> list[tuple[str, str]]:
        return [(d.name, d.log_tail(250)) for d in self.daemons]

    # ---- clean-up

    def cleanup(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        # Workloads first (their pods are removed by kwok while their nodes still exist), then
        # the nodes, so that no pod is left bound to a node name that no longer exists.
        with contextlib.suppress(Exception):
            self.apps.delete_collection_namespaced_deployment(self.namespace)
        with contextlib.suppress(Exception):
            self.core.delete_collection_namespaced_pod(self.namespace, grace_period_seconds=0)
        with contextlib.suppress(Exception):
            wait_for(lambda: not self.core.list_namespaced_pod(self.namespace).items, 20,
                     f"pods of {self.namespace} gone")
        names = {n.metadata.name for n in self.managed_nodes()}
        names |= {f"sim-{i['instance_id']}" for i in self.instances()}
        for name in names:
            with contextlib.suppress(Exception):
                self.core.delete_node(name)
        with contextlib.suppress(Exception):
            wait_for(lambda: not self.managed_nodes(), 20, "managed nodes deleted")
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        for grant in self.grants.values():
            revoke(self.api_client, grant)
