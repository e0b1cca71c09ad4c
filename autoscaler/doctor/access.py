"""The Kubernetes access `smart-autoscaler run` needs: one table, read by `doctor` (asked with
SelfSubjectAccessReview) and by the chart's tests (the ClusterRole in
helm/smart-autoscaler/files/clusterrole-rules*.yaml and the Lease Role in templates/role.yaml
must grant exactly these). Each entry says why the daemon needs it; tests/doctor/
test_doctor_access.py reads the daemon's source and checks that every Kubernetes call it makes
is here, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

# When an entry is needed
ALWAYS = "always"
HOT_NODES = "hot-nodes"  # manageHighUtilization.enabled
SIMULATED = "simulated"  # the simulated provider registers Node objects itself
LEASE = "lease"  # leader election (not with --no-leader-elect): the Role in the lease namespace


@dataclass(frozen=True)
class Access:
    group: str
    resource: str  # with its subresource, e.g. pods/eviction
    verb: str
    why: str
    when: str = ALWAYS
    named: bool = False  # asked for the one Lease by name (the Role's resourceNames)
    object_name: str = ""  # the one object of the ClusterRole's resourceNames (e.g. kube-system)

    @property
    def label(self) -> str:
        group = f".{self.group}" if self.group else ""
        return f"{self.verb} {self.resource}{group}"


DAEMON_ACCESS: tuple[Access, ...] = (
    Access("", "pods", "list", "the pod watch cache (pending pods, load per node, pods to drain)"),
    Access("", "pods", "watch", "the pod watch cache"),
    Access("", "pods/eviction", "create", "scale-down evicts pods through the Eviction API (PDBs honoured)"),
    Access("", "nodes", "get", "reads a node before a taint change (its resourceVersion guards the write)"),
    Access("", "nodes", "list", "the node watch cache"),
    Access("", "nodes", "watch", "the node watch cache"),
    Access("", "nodes", "patch", "labels new nodes, sets and removes the drain taint"),
    Access("", "nodes", "delete", "removes the Node object of a node it scaled down"),
    Access("", "events", "create", "Warning/Normal events on pods and nodes"),
    Access("", "events", "list", "finds an event already made (one NodeCostEstimate per pod)"),
    Access("", "namespaces", "get", "reads the kube-system namespace's UID: this cluster's identity when clusterName "
           "is unset (autoscaler/identity.py)", object_name="kube-system"),
    Access("apps", "daemonsets", "list", "DaemonSet pods count as overhead of every new node"),
    Access("apps", "daemonsets", "watch", "the DaemonSet watch cache"),
    Access("policy", "poddisruptionbudgets", "list", "a drain does not start when no budget lets its pods go"),
    Access("policy", "poddisruptionbudgets", "watch", "the PDB watch cache"),
    Access("", "persistentvolumeclaims", "list", "a pod's claims decide where it can run (the volume's zone)"),
    Access("", "persistentvolumeclaims", "watch", "the PersistentVolumeClaim watch cache"),
    Access("", "persistentvolumes", "list", "a bound volume's node affinity decides where its pods can run"),
    Access("", "persistentvolumes", "watch", "the PersistentVolume watch cache"),
    Access("storage.k8s.io", "storageclasses", "list", "an unbound claim's class decides its binding and topologies"),
    Access("storage.k8s.io", "storageclasses", "watch", "the StorageClass watch cache"),
    Access("metrics.k8s.io", "nodes", "list", "hot-node mitigation reads NodeMetrics", HOT_NODES),
    Access("metrics.k8s.io", "pods", "list", "hot-node mitigation reads PodMetrics", HOT_NODES),
    Access("", "nodes", "create", "the simulated cloud registers the Node of each instance it boots", SIMULATED),
    Access("coordination.k8s.io", "leases", "get", "leader election reads the Lease", LEASE, named=True),
    Access("coordination.k8s.io", "leases", "update", "leader election renews the Lease", LEASE, named=True),
    Access("coordination.k8s.io", "leases", "create", "the first replica creates the Lease", LEASE),
)


def needed(hot_nodes: bool, simulated: bool, leader_election: bool) -> list[Access]:
    wanted = {ALWAYS, HOT_NODES if hot_nodes else "", SIMULATED if simulated else "", LEASE if leader_election else ""}
    return [a for a in DAEMON_ACCESS if a.when in wanted]


def cluster_role_grants(simulated: bool) -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> verbs, as the chart's ClusterRole must grant them. The chart
    grants the metrics.k8s.io lists always (hot-node mitigation may be turned on later)."""
    grants: dict[tuple[str, str], set[str]] = {}
    for access in DAEMON_ACCESS:
        if access.when == LEASE or (access.when == SIMULATED and not simulated):
            continue
        grants.setdefault((access.group, access.resource), set()).add(access.verb)
    return grants


def lease_role_grants() -> dict[tuple[str, bool], set[str]]:
    """(resource, limited to the named Lease) -> verbs of the chart's leader-election Role."""
    grants: dict[tuple[str, bool], set[str]] = {}
    for access in DAEMON_ACCESS:
        if access.when == LEASE:
            grants.setdefault((access.resource, access.named), set()).add(access.verb)
    return grants
