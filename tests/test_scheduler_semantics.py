"""What kube-scheduler and the API server do with a pod, and so what the planner must plan.

Each case is written from the Kubernetes documentation (cited per test) with the numbers of
the embedded aws us-east-1 catalog; the differential tier (tests/e2e/test_differential.py)
checks the same rules against the real kube-scheduler.
"""

from __future__ import annotations

from autoscaler.nodelabels import HOSTNAME, ZONE
from tests.helpers import launched, make_pod, plan_for, replicas

ARCH = "kubernetes.io/arch"


def _required_terms(*terms: dict) -> dict:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}}


def test_an_empty_node_selector_term_beside_an_amd64_term_still_gives_an_amd64_node():
    # API reference, NodeSelectorTerm: "A null or empty node selector term matches no objects";
    # NodeSelector: "The terms are ORed". So [arch In (amd64), {}] admits amd64 nodes only.
    amd64 = {"matchExpressions": [{"key": ARCH, "operator": "In", "values": ["amd64"]}]}
    pod = make_pod("p", "2", "4Gi", spec=_required_terms(amd64, {}))
    result = plan_for([pod])
    assert launched(result) == [("t3a.xlarge", "on-demand", 1)]
    assert result.new_nodes[0].option.instance_type.arch == "amd64"
    assert result.new_nodes[0].option.price == 0.1504


def test_a_pod_whose_only_node_selector_term_is_empty_gets_no_node():
    result = plan_for([make_pod("p", "2", "4Gi", spec=_required_terms({}))])
    assert result.new_nodes == ()
    assert [u.pod for u in result.unplaceable] == ["default/p"]
    assert "empty nodeSelectorTerm" in result.unplaceable[0].reason


def test_match_fields_on_a_node_name_launches_nothing():
    # API reference, NodeSelectorTerm.matchFields: requirements on the node's fields
    # (metadata.name). A launched node gets its name from the cloud, never "node-7", so a pod
    # pinned to node-7 is one no new node can take.
    pinned = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}
    result = plan_for([make_pod("p", "2", "4Gi", spec=_required_terms(pinned))])
    assert result.new_nodes == ()
    assert "metadata.name In (node-7)" in result.unplaceable[0].reason


def test_a_cpu_only_pod_never_gets_an_inferentia_node():
    # SPEC: a pod that asks for no accelerator never gets an accelerator node. inf1.6xlarge
    # (24 vCPU, 48 GiB, 4 Inferentia chips, $1.18/h) is the cheapest fit for 20 CPU / 40 GiB by
    # price alone; the pod gets the general-purpose c6a.8xlarge ($1.224/h) instead.
    result = plan_for([make_pod("p", "20", "40Gi")])
    assert launched(result) == [("c6a.8xlarge", "on-demand", 1)]
    assert result.new_nodes[0].option.price == 1.224


def test_one_replica_per_zone_by_required_zone_anti_affinity_to_its_own_label():
    # Assigning Pods to Nodes, "Inter-pod affinity and anti-affinity": a required anti-affinity
    # term on topology.kubernetes.io/zone to the pod's own label allows one such pod per zone.
    # 3 replicas of 4 CPU (bin-select) in us-east-1 (6 zones): 3 nodes in 3 different zones;
    # 1 replica: 1 node (this raised ZeroDivisionError).
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "db"}}}]}}}
    for count in (1, 3):
        result = plan_for(replicas("db", count, "4", "8Gi", labels={"app": "db"}, spec=anti))
        assert len(result.new_nodes) == count and result.unplaceable == ()
        assert len({node.option.zones for node in result.new_nodes}) == count
        assert all(len(node.option.zones) == 1 for node in result.new_nodes)
    seven = plan_for(replicas("db", 7, "4", "8Gi", labels={"app": "db"}, spec=anti))
    assert len(seven.new_nodes) == 6 and len(seven.unplaceable) == 1


# ---- the preview: pods as the API server admits them


def _preview(text: str):
    from autoscaler.config import Config
    from autoscaler.manifests import load_manifest_text
    from autoscaler.preview import Target, run_preview

    return run_preview(load_manifest_text(text, "test.yaml"), [Target("aws", "us-east-1")], Config())


def _pod_yaml(name: str, cpu: str, memory: str, extra: str = "", meta: str = "") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{{meta or f"name: {name}"}}}
spec:
  {extra}
  containers: [{{name: a, image: a, resources: {{requests: {{cpu: "{cpu}", memory: {memory}}}}}}}]
---"""


def test_runtime_class_overhead_is_added_to_the_pod_as_admission_does():
    # Pod Overhead: "the RuntimeClass admission controller updates the workload's PodSpec to
    # include the overhead as described in the RuntimeClass". 3600m + 500m overhead = 4100m does
    # not fit t3a.xlarge (3920m allocatable, $0.1504/h): the pod gets t3a.2xlarge ($0.3008/h).
    runtime_class = """
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: kata}
handler: kata
overhead: {podFixed: {cpu: 500m, memory: 128Mi}}
---"""
    plain = _preview(_pod_yaml("p", "3600m", "1Gi"))
    assert [(n.instance_type, n.count) for n in plain.targets[0].nodes] == [("t3a.xlarge", 1)]
    sandboxed = _preview(runtime_class + _pod_yaml("p", "3600m", "1Gi", "runtimeClassName: kata"))
    assert [(n.instance_type, n.count, n.hourly_cost_each) for n in sandboxed.targets[0].nodes] == [("t3a.2xlarge", 1, 0.3008)]
    assert sandboxed.skipped == []


def test_a_pod_naming_a_runtime_class_not_in_the_files_is_reported_not_planned_short():
    result = _preview(_pod_yaml("p", "3600m", "1Gi", "runtimeClassName: kata"))
    assert result.targets[0].nodes == []
    assert [pod for pod, _ in result.targets[0].unplaceable] == ["default/p"]
    assert "no RuntimeClass kata in the files" in result.targets[0].unplaceable[0][1]


def test_huge_pages_and_dra_claims_are_unplaceable_with_the_reason_not_dropped():
    # Manage HugePages: huge pages must be pre-allocated on the node to be reported; Dynamic
    # Resource Allocation: claims are allocated from ResourceSlices of a driver on the node.
    huge = """
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers: [{name: a, image: a, resources: {requests: {cpu: 500m, memory: 1Gi, hugepages-2Mi: 512Mi}, limits: {hugepages-2Mi: 512Mi, memory: 1Gi}}}]
---"""
    claim = _pod_yaml("dra", "500m", "1Gi", "resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]")
    result = _preview(huge + claim + _pod_yaml("plain", "500m", "1Gi"))
    reasons = dict(result.targets[0].unplaceable)
    assert "hugepages-2Mi" in reasons["default/huge"] and "pre-allocate no huge pages" in reasons["default/huge"]
    assert "DRA resource claims (gpu)" in reasons["default/dra"]
    assert [(n.instance_type, n.pods) for n in result.targets[0].nodes] == [("t3a.xlarge", ["default/plain"])]


def test_a_pod_gated_by_someone_elses_scheduling_gate_is_skipped_with_the_reason():
    # Pod Scheduling Readiness: a pod with schedulingGates is not scheduled until all are removed.
    result = _preview(_pod_yaml("gated", "500m", "1Gi", "schedulingGates: [{name: example.com/quota}]"))
    assert result.targets[0].nodes == [] and result.targets[0].unplaceable == []
    assert result.skipped_pods == [
        ("default/gated", "held by schedulingGates example.com/quota: kube-scheduler will not place it until they are removed")
    ]


def test_a_generate_name_pod_is_planned_under_a_generated_name():
    # API conventions, metadata.generateName: the server appends a unique suffix to the prefix.
    result = _preview(_pod_yaml("", "500m", "1Gi", meta="generateName: web-"))
    [line] = result.targets[0].nodes
    [pod] = line.pods
    assert pod.startswith("default/web-") and len(pod) == len("default/web-") + 5


def test_a_suspended_job_is_listed_as_skipped():
    # Jobs, "Suspending a Job": a suspended Job creates no pods until it is resumed.
    job = """
apiVersion: batch/v1
kind: Job
metadata: {name: nightly}
spec:
  suspend: true
  parallelism: 4
  template:
    spec:
      restartPolicy: Never
      containers: [{name: a, image: a, resources: {requests: {cpu: "1"}}}]
"""
    result = _preview(job)
    assert result.targets[0].nodes == []
    assert result.skipped == ["test.yaml#1 Job/nightly: no pods: the Job is suspended (spec.suspend: true) and creates none until it is resumed"]


# ---- required pod affinity and spread across pod sets (Assigning Pods to Nodes, "Inter-pod
# affinity and anti-affinity": a required affinity term needs a node in the topology domain of
# a pod matching its selector; the first pod of a group that matches its own selector may go
# anywhere. Pod Topology Spread Constraints: skew is counted over every pod the selector matches.)


def _affinity(key: str, app: str) -> dict:
    return {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}}]}}}


def test_bin_select_replicas_with_hostname_affinity_to_their_own_label_share_one_node():
    # 3 × 4 CPU must share the first pod's node: one c6a.4xlarge (15.89 CPU, $0.612/h), not three
    # t3a.2xlarge of which the scheduler would use one.
    result = plan_for(replicas("web", 3, "4", "4Gi", labels={"app": "web"}, spec=_affinity(HOSTNAME, "web")))
    assert launched(result) == [("c6a.4xlarge", "on-demand", 3)]
    assert result.hourly_cost == 0.612


def test_hostname_self_affinity_with_zone_anti_affinity_to_itself_gets_one_node_and_the_rest_wait():
    """Given 4 replicas (4 CPU) that must share a node with a pod of their own label (hostname
    affinity) and may not share a zone with one (zone anti-affinity), when planned, then one
    node for one replica and 3 unplaceable with both rules named: kube-scheduler can place no
    second replica anywhere (found by the differential tier: 4 nodes in 4 zones, 3 left empty)."""
    spec = _affinity(HOSTNAME, "web")
    spec["affinity"]["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "web"}}}]}
    result = plan_for(replicas("web", 4, "4", "4Gi", labels={"app": "web"}, spec=spec))
    assert [count for _, _, count in launched(result)] == [1]
    assert len(result.unplaceable) == 3
    reason = result.unplaceable[0].reason
    assert "puts its pods on one node, in one zone" in reason and "allows one pod per zone" in reason


def test_bin_select_pods_with_hostname_affinity_to_another_workload_join_its_node():
    # db (1 × 4 CPU) and web (2 × 4 CPU, affine to app=db on the hostname): one node of 12 CPU
    # holds all three, c6a.4xlarge at $0.612/h.
    pods = replicas("db", 1, "4", "4Gi", labels={"app": "db"}) + replicas(
        "web", 2, "4", "4Gi", labels={"app": "web"}, spec=_affinity(HOSTNAME, "db"))
    result = plan_for(pods)
    assert launched(result) == [("c6a.4xlarge", "on-demand", 3)]
    assert result.unplaceable == ()
    # the same with a small db pod (bin-pack on its own): it shares the web pods' node
    small = plan_for(replicas("db", 1, "500m", "1Gi", labels={"app": "db"}) + pods[1:])
    assert launched(small) == [("c6a.4xlarge", "on-demand", 3)]


def test_bin_select_pods_with_zone_affinity_to_another_workload_get_its_zone():
    pods = replicas("db", 1, "4", "4Gi", labels={"app": "db"}) + replicas(
        "web", 2, "4", "4Gi", labels={"app": "web"}, spec=_affinity(ZONE, "db"))
    result = plan_for(pods)
    assert launched(result) == [("t3a.2xlarge", "on-demand", 1)] * 3
    assert {node.option.zones for node in result.new_nodes} == {("us-east-1a",)}


def test_a_self_affine_hostname_group_larger_than_a_bin_pack_node_gets_one_larger_node():
    # 6 × 1 CPU with hostname affinity to their own label: a bin-pack t3a.xlarge (3.92 CPU)
    # holds 3, but all 6 must share one node: t3a.2xlarge (7.91 CPU, $0.3008/h) holds them.
    result = plan_for(replicas("web", 6, "1", "1Gi", labels={"app": "web"}, spec=_affinity(HOSTNAME, "web")))
    assert launched(result) == [("t3a.2xlarge", "on-demand", 6)]
    assert result.unplaceable == ()


def test_bare_pods_with_one_zone_spread_are_counted_together():
    # 3 bare pods of 4 CPU, each its own owner, one zone spread (maxSkew 1) over app=s: three
    # zones, not three nodes in us-east-1a (skew 3).
    spread = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                                             "labelSelector": {"matchLabels": {"app": "s"}}}]}
    result = plan_for([make_pod(f"s{i}", "4", "4Gi", labels={"app": "s"}, spec=spread) for i in range(3)])
    assert len(result.new_nodes) == 3
    assert sorted(node.option.zones for node in result.new_nodes) == [("us-east-1a",), ("us-east-1b",), ("us-east-1c",)]


def test_small_pods_with_zone_anti_affinity_to_a_big_pod_avoid_the_zone_of_its_new_node():
    # db (4 CPU, bin-select) and web (2 × 500m, bin-pack) with required zone anti-affinity to
    # app=db: db's node gets one zone (us-east-1a), web's node another.
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "db"}}}]}}}
    result = plan_for(replicas("db", 1, "4", "4Gi", labels={"app": "db"})
                      + replicas("web", 2, "500m", "1Gi", labels={"app": "web"}, spec=anti))
    assert launched(result) == [("t3a.2xlarge", "on-demand", 1), ("t3a.xlarge", "on-demand", 2)]
    db_zone, web_zone = (node.option.zones for node in result.new_nodes)
    assert len(db_zone) == 1 and db_zone[0] not in web_zone


def test_small_pods_fill_the_room_of_a_big_pods_new_node_as_the_scheduler_will():
    # kube-scheduler's default scoring (NodeResourcesFit LeastAllocated) sends a small pod to the
    # emptiest node that fits: with a 4 CPU pod on a new t3a.2xlarge (7.91 CPU) and 2 × 500m
    # pods beside it, a t3a.xlarge launched for the small pods would stay empty. One node,
    # $0.3008/h, holds all three.
    result = plan_for(replicas("big", 1, "4", "4Gi") + replicas("small", 2, "500m", "512Mi"))
    assert launched(result) == [("t3a.2xlarge", "on-demand", 3)]
    assert result.hourly_cost == 0.3008


def test_a_pod_outside_its_own_spread_selector_adds_nothing_to_the_skew():
    # Pod Topology Spread Constraints: skew = matching pods in the domain (the incoming pod only
    # if the selector matches it) - the global minimum. Node a holds 1 app=c pod, node b none; an
    # app=b pod spreading app=c over hostnames with maxSkew 1 may go on a: 1 + 0 - 0 = 1.
    from autoscaler.placement.check import NodeState, PlacementState
    from autoscaler.resources import Resources

    room = Resources(4000, 8 * 2**30, 0, 110, 0)
    spread = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "DoNotSchedule",
                                             "labelSelector": {"matchLabels": {"app": "c"}}}]}
    state = PlacementState([
        NodeState("a", {HOSTNAME: "a"}, (), room, [make_pod("c-0", labels={"app": "c"})]),
        NodeState("b", {HOSTNAME: "b"}, (), room, []),
    ])
    outsider = make_pod("b-0", labels={"app": "b"}, spec=spread)
    insider = make_pod("c-1", labels={"app": "c"}, spec=spread)
    assert state.why_not(outsider, "a") is None
    assert state.why_not(insider, "a") == "node(s) didn't match pod topology spread constraints"
    assert state.why_not(insider, "b") is None
