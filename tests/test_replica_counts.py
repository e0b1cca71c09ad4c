"""Replicas stay a count (issue: speed): a workload's identical replicas are one Pod object with
a count through expansion, validation and planning, unless a rule makes them differ."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import replace

import yaml

from autoscaler.cli import main
from autoscaler.config import config_from_mapping
from autoscaler.manifests import load_manifest_files
from autoscaler.planner import plan
from autoscaler.preview import pods_of
from pricing.catalog import region_catalog

MANAGED = {"smart-autoscaler.io/managed": "true"}


def deployment(name: str, replicas: int, cpu: str, memory: str = "256Mi", **spec) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name, **MANAGED}}, "spec": {
                "containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
                **spec,
            }},
        },
    }


def write(tmp_path, *objects) -> str:
    path = tmp_path / "workloads.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    return str(path)


def one_by_one(pods):
    """The same pods as one object per replica, as the daemon sees them."""
    return [replace(p, name=n, replicas=1, replica_names=()) for p in pods for n in (p.replica_names or (p.name,))]


def summary(decided):
    return (
        sorted(Counter((n.instance_type, n.capacity_type, len(n.pods)) for n in decided.new_nodes).items()),
        sorted(key for n in decided.new_nodes for key in n.pods),
        sorted(u.pod for u in decided.unplaceable),
    )


def test_a_deployment_is_read_as_one_pod_with_its_replica_names(tmp_path):
    """Given a Deployment of 5,000 replicas, when read for a preview, then it is one expanded
    pod naming 5,000 distinct replicas (the names the pods would get one by one), and one
    planner Pod with replicas=5,000; read for a simulation it is 5,000 pods."""
    path = write(tmp_path, deployment("web", 5000, "100m"))
    counted = load_manifest_files([path], read_only=True)
    [expanded] = counted.pods
    assert expanded.count == 5000 and len(set(expanded.replica_names)) == 5000
    singles = load_manifest_files([path])
    assert [p.manifest["metadata"]["name"] for p in singles.pods] == list(expanded.replica_names)
    [pod], broken = pods_of(counted, config_from_mapping({}))
    assert (pod.replicas, pod.name, broken) == (5000, expanded.replica_names[0], [])


def test_counted_replicas_get_the_plan_they_get_one_by_one():
    """Given 50,000 replicas of 50m/100Mi and 1,000 of 95m/190Mi, when planned as counts and
    one by one, then the nodes (type, count, pods per node), the 51,000 pod names and the
    cost are the same."""
    small = deployment("small", 50_000, "50m", "100Mi")
    large = deployment("large", 1_000, "95m", "190Mi")
    loaded = _loaded(small, large)
    pods, _ = pods_of(loaded, config_from_mapping({}))
    assert len(pods) == 2
    catalog, config = region_catalog("aws", "us-east-1"), config_from_mapping({})
    counted, singles = plan(pods, catalog, config), plan(one_by_one(pods), catalog, config)
    assert summary(counted) == summary(singles)
    assert len(set(summary(counted)[1])) == 51_000 and counted.hourly_cost == singles.hourly_cost
    assert set(counted.modes) == set(singles.modes)


def test_workloads_of_one_shape_share_nodes_and_each_replica_is_named_once():
    """Given two Deployments of the same shape (7 and 30 replicas of 1 CPU / 1Gi) and a bare Pod
    of that shape between them, when planned as counts, then some node holds pods of both
    workloads, every one of the 38 pods is on exactly one node, and the plan is the one pod-by-pod
    planning makes, modes included (read per replica)."""
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "namespace": "shop", "labels": dict(MANAGED)},
            "spec": {"containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}
    pods, _ = pods_of(_loaded(deployment("a", 7, "1", "1Gi"), bare, deployment("b", 30, "1", "1Gi")), config_from_mapping({}))
    assert [p.replicas for p in pods] == [7, 1, 30]
    catalog, config = region_catalog("aws", "us-east-1"), config_from_mapping({})
    counted, singles = plan(pods, catalog, config), plan(one_by_one(pods), catalog, config)
    assert summary(counted) == summary(singles)
    placed = [key for node in counted.new_nodes for key in node.pods]
    assert len(placed) == len(set(placed)) == 38
    assert any({k.split("/")[1].split("-")[0] for k in node.pods} >= {"a", "b"} for node in counted.new_nodes)
    assert dict(counted.modes) == dict(singles.modes) and counted.modes[pods[2].replica_keys[-1]] == "bin-pack"


def test_replicas_a_rule_tells_apart_are_planned_one_by_one():
    """Given 3 replicas holding hostPort 8080, 4 with a hostname spread and 2 with zone
    anti-affinity, when planned as counts, then they are planned as pod-by-pod planning does:
    the edge pods on 3 nodes, the api pods on 4, the db pods in 2 zones, every replica named once."""
    ports = deployment("edge", 3, "500m")
    ports["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080, "hostPort": 8080}]
    spread = deployment("api", 4, "500m", topologySpreadConstraints=[{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "api"}}}])
    apart = deployment("db", 2, "500m", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "db"}}}]}})
    pods, _ = pods_of(_loaded(ports, spread, apart), config_from_mapping({}))
    catalog, config = region_catalog("aws", "us-east-1"), config_from_mapping({})
    counted, singles = plan(pods, catalog, config), plan(one_by_one(pods), catalog, config)
    assert summary(counted) == summary(singles)
    assert len(set(summary(counted)[1])) == 9
    for app, apart_on in (("edge", 3), ("api", 4)):  # host port and hostname spread: a node each
        assert sum(any(k.startswith(f"shop/{app}-") for k in n.pods) for n in counted.new_nodes) == apart_on
    db_zones = {n.option.zones for n in counted.new_nodes if any(k.startswith("shop/db-") for k in n.pods)}
    assert len(db_zones) == 2 and all(len(z) == 1 for z in db_zones)


def test_replicas_that_fit_nowhere_are_each_listed_unplaceable(tmp_path, capsys):
    """Given a Deployment of 3 replicas asking 1,000 CPUs each, when previewed, then 3 lines
    are unplaceable, one per replica name."""
    path = write(tmp_path, deployment("huge", 3, "1000"))
    assert main(["preview", "-f", path, "-o", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [line["pod"] for line in out["targets"][0]["unplaceable"]]
    assert len(names) == 3 and len(set(names)) == 3 and all(n.startswith("shop/huge-") for n in names)


def test_unmanaged_replicas_are_each_listed_as_skipped(tmp_path, capsys):
    """Given a managed pod and an unmanaged Deployment of 4 replicas, when previewed, then the
    4 replicas are listed as skipped by name, and the managed pod is planned."""
    unmanaged = deployment("batch", 4, "100m")
    unmanaged["spec"]["template"]["metadata"]["labels"] = {"app": "batch"}
    path = write(tmp_path, deployment("web", 1, "100m"), unmanaged)
    assert main(["preview", "-f", path, "-o", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    skipped = [line["pod"] for line in out["skipped_pods"] if line["pod"].startswith("shop/batch-")]
    assert len(set(skipped)) == 4
    assert sum(len(n["pods"]) for n in out["targets"][0]["nodes"]) == 1


def _loaded(*objects):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.yaml")
        with open(path, "w") as handle:
            handle.write(yaml.safe_dump_all(objects))
        return load_manifest_files([path], read_only=True)


def test_a_jobs_pods_are_a_count_too(tmp_path, capsys):
    """Given a Job with parallelism 1,000 of 1 CPU, when previewed, then it is read as one pod
    standing for 1,000 and 1,000 distinct pod names are placed."""
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "render", "namespace": "shop"},
        "spec": {"parallelism": 1000, "completions": 1000, "template": {
            "metadata": {"labels": MANAGED},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "r", "image": "r", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}},
    }
    path = write(tmp_path, job)
    [expanded] = load_manifest_files([path], read_only=True).pods
    assert expanded.count == 1000
    assert main(["preview", "-f", path, "-o", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    placed = [pod for node in out["targets"][0]["nodes"] for pod in node["pods"]]
    assert len(placed) == len(set(placed)) == 1000
