"""The access table (autoscaler/doctor/access.py) holds every Kubernetes call the daemon makes:
read from the daemon's source, each official-client call becomes the verb and resource the API
server authorizes it as."""

from __future__ import annotations

import re
from pathlib import Path

from autoscaler.doctor.access import DAEMON_ACCESS

SOURCES = Path(__file__).resolve().parents[2] / "autoscaler"
CALL = re.compile(r"\.(list|create|patch|delete|read|replace)_(namespaced_)?([a-z_]+?)(_for_all_namespaces)?\b[,(]")
VERBS = {"list": "list", "create": "create", "patch": "patch", "delete": "delete", "read": "get", "replace": "update"}
RESOURCES = {  # the client's object name -> (API group, resource) as RBAC names it
    "pod": ("", "pods"), "node": ("", "nodes"), "event": ("", "events"), "pod_eviction": ("", "pods/eviction"),
    "daemon_set": ("apps", "daemonsets"), "pod_disruption_budget": ("policy", "poddisruptionbudgets"),
    "lease": ("coordination.k8s.io", "leases"), "namespace": ("", "namespaces"),
    "persistent_volume_claim": ("", "persistentvolumeclaims"), "persistent_volume": ("", "persistentvolumes"),
    "storage_class": ("storage.k8s.io", "storageclasses"),
}
WATCHED = {"pods", "nodes", "daemonsets", "poddisruptionbudgets", "persistentvolumeclaims", "persistentvolumes",
           "storageclasses"}  # the list+watch caches (autoscaler/kube/cache.py)


def daemon_calls() -> set[tuple[str, str, str]]:
    calls = set()
    for path in SOURCES.rglob("*.py"):
        if {"doctor", "sim"} & set(path.relative_to(SOURCES).parts):
            continue
        for verb, _, name, _ in CALL.findall(path.read_text()):
            if name == "cluster_custom_object":  # the metrics API: NodeMetrics and PodMetrics lists
                calls |= {("metrics.k8s.io", "nodes", "list"), ("metrics.k8s.io", "pods", "list")}
            elif name in RESOURCES:
                group, resource = RESOURCES[name]
                calls.add((group, resource, VERBS[verb]))
                if verb == "list" and resource in WATCHED:
                    calls.add((group, resource, "watch"))
    return calls


def test_every_kubernetes_call_of_the_daemon_is_in_the_access_table():
    table = {(a.group, a.resource, a.verb) for a in DAEMON_ACCESS}
    calls = daemon_calls()
    assert ("", "pods/eviction", "create") in calls and ("coordination.k8s.io", "leases", "update") in calls
    assert calls - table == set()
    # and the table asks for nothing the daemon does not call
    assert table - calls == set()
