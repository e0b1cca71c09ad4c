"""Where a pod's persistent volumes let it run (autoscaler/volumes.py), as kube-scheduler's
VolumeBinding and VolumeZone plugins decide it; and that the planner, scale-down's placement
check and `preview` follow it."""

from __future__ import annotations

import pytest

from autoscaler.manifests import load_manifest_text
from autoscaler.podspec import pod_from_manifest
from autoscaler.preview import Target, run_preview
from autoscaler.config import Config
from autoscaler.volumes import (
    VolumeTopology,
    claim_from_api,
    storage_class_from_api,
    volume_from_api,
    with_volumes,
)
from tests.helpers import plan_for

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"


def pod(name: str = "db", claims: tuple[str, ...] = ("data",), ephemeral: str = "", **spec) -> dict:
    volumes = [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
    if ephemeral:
        volumes.append({"name": ephemeral, "ephemeral": {"volumeClaimTemplate": {"spec": {}}}})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": name, "smart-autoscaler.io/managed": "true"}},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
                     "volumes": volumes, **spec}}


def claim(name: str = "data", volume: str = "", storage_class: str | None = None, **metadata) -> dict:
    spec: dict = {"volumeName": volume} if volume else {}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name, "namespace": "shop", **metadata}, "spec": spec}


def zonal_volume(name: str, *zones: str, key: str = ZONE) -> dict:
    return {"metadata": {"name": name}, "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": key, "operator": "In", "values": list(zones)}]}]}}}}


def storage_class(name: str, mode: str = "WaitForFirstConsumer", zones: tuple[str, ...] = (), default: bool = False):
    obj: dict = {"metadata": {"name": name}, "volumeBindingMode": mode}
    if zones:
        obj["allowedTopologies"] = [{"matchLabelExpressions": [{"key": ZONE, "values": list(zones)}]}]
    if default:
        obj["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return obj


def topology(claims=(), volumes=(), classes=(), strict=True) -> VolumeTopology:
    return VolumeTopology(
        claims={(c["metadata"]["namespace"], c["metadata"]["name"]): claim_from_api(c) for c in claims},
        volumes={v["metadata"]["name"]: volume_from_api(v) for v in volumes},
        classes={c["metadata"]["name"]: storage_class_from_api(c) for c in classes},
        strict=strict,
    )


def narrowed(manifest: dict, where: VolumeTopology):
    (one,) = with_volumes([pod_from_manifest(manifest)], where)
    return one


def zones_allowed(one) -> set[str]:
    return {z for z in ("us-east-1a", "us-east-1b", "us-east-1c") if one.constraints.affinity.matches({ZONE: z})}


# ---- the rules


def test_a_claim_bound_to_a_zonal_volume_allows_that_zone_only():
    one = narrowed(pod(), topology([claim(volume="pv-1")], [zonal_volume("pv-1", "us-east-1b")]))
    assert zones_allowed(one) == {"us-east-1b"} and not one.constraints.unplannable


@pytest.mark.parametrize("key", ["topology.ebs.csi.aws.com/zone", "topology.gke.io/zone",
                                 "failure-domain.beta.kubernetes.io/zone"])
def test_a_csi_drivers_zone_key_is_read_as_the_zone(key):
    one = narrowed(pod(), topology([claim(volume="pv-1")], [zonal_volume("pv-1", "us-east-1c", key=key)]))
    assert zones_allowed(one) == {"us-east-1c"}


def test_a_legacy_zone_label_on_the_volume_lists_its_zones():
    volume = {"metadata": {"name": "pv-1", "labels": {"topology.kubernetes.io/zone": "us-east-1a__us-east-1c"}}}
    one = narrowed(pod(), topology([claim(volume="pv-1")], [volume]))
    assert zones_allowed(one) == {"us-east-1a", "us-east-1c"}


def test_two_claims_in_two_zones_leave_no_zone():
    where = topology([claim("a", volume="pv-a"), claim("b", volume="pv-b")],
                     [zonal_volume("pv-a", "us-east-1a"), zonal_volume("pv-b", "us-east-1b")])
    assert zones_allowed(narrowed(pod(claims=("a", "b")), where)) == set()


def test_an_unbound_claim_of_a_wait_for_first_consumer_class_follows_its_allowed_topologies():
    where = topology([claim(storage_class="zonal")], classes=[storage_class("zonal", zones=("us-east-1a", "us-east-1c"))])
    assert zones_allowed(narrowed(pod(), where)) == {"us-east-1a", "us-east-1c"}


def test_an_unbound_claim_without_a_class_takes_the_default_class():
    where = topology([claim()], classes=[storage_class("gp3", zones=("us-east-1b",), default=True)])
    assert zones_allowed(narrowed(pod(), where)) == {"us-east-1b"}


@pytest.mark.parametrize(
    ("claims", "volumes", "classes", "reason"),
    [
        ([], [], [], 'persistentvolumeclaim "data" not found'),
        ([claim(deletionTimestamp="2026-12-07T10:00:00Z")], [], [], "is being deleted"),
        ([claim(volume="pv-gone")], [], [], 'bound to persistentvolume "pv-gone", which does not exist'),
        ([claim(storage_class="fast")], [], [storage_class("fast", mode="Immediate")], "binds Immediately"),
        ([claim(storage_class="")], [], [], "names no StorageClass"),
        ([claim(storage_class="nope")], [], [], 'storageclass.storage.k8s.io "nope"'),
    ],
)
def test_pods_kube_scheduler_will_not_place_get_no_node_and_its_reason(claims, volumes, classes, reason):
    # Given a pending pod whose claim kube-scheduler cannot use (yet)
    one = narrowed(pod(), topology(claims, volumes, classes))
    # Then it is unplannable with the reason, and the plan launches nothing for it
    assert reason in one.constraints.unplannable
    result = plan_for([one])
    assert not result.new_nodes and reason in result.unplaceable[0].reason


def test_a_running_pods_ephemeral_claim_does_not_hold_it_in_its_zone():
    # Given a running pod with an ephemeral volume whose claim is in us-east-1a
    running = pod(claims=(), ephemeral="scratch", nodeName="node-1")
    where = topology([claim("db-scratch", volume="pv-1")], [zonal_volume("pv-1", "us-east-1a")])
    # Then a replacement may go anywhere (it gets a new claim); a pending one may not
    assert zones_allowed(narrowed(running, where)) == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert zones_allowed(narrowed(pod(claims=(), ephemeral="scratch"), where)) == {"us-east-1a"}


def test_the_volume_narrows_where_the_pod_runs_but_not_which_nodes_its_spread_counts():
    spread = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "db"}}}]
    one = narrowed(pod(topologySpreadConstraints=spread),
                   topology([claim(volume="pv-1")], [zonal_volume("pv-1", "us-east-1b")]))
    assert zones_allowed(one) == {"us-east-1b"}
    assert one.constraints.spread_affinity.matches({ZONE: "us-east-1a"})


# ---- the planner and preview


def test_the_planner_launches_in_the_volumes_zone():
    one = narrowed(pod(), topology([claim(volume="pv-1")], [zonal_volume("pv-1", "us-east-1c")]))
    (node,) = plan_for([one]).new_nodes
    assert node.option.zones == ("us-east-1c",)


def zonal_class_yaml(zone: str, key: str = ZONE) -> str:
    """A WaitForFirstConsumer StorageClass `zonal` that provisions in one zone, as a YAML document."""
    return f"""
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: zonal}}
volumeBindingMode: WaitForFirstConsumer
allowedTopologies:
- matchLabelExpressions: [{{key: {key}, values: [{zone}]}}]
---"""


PREVIEW = zonal_class_yaml("us-east-1c", "topology.ebs.csi.aws.com/zone") + """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: kafka, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: kafka}}
  template:
    metadata: {labels: {app: kafka, smart-autoscaler.io/managed: "true"}}
    spec:
      containers: [{name: k, image: k, resources: {requests: {cpu: "1", memory: 2Gi}}}]
  volumeClaimTemplates:
  - metadata: {name: logs}
    spec: {storageClassName: zonal, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""
ALONE = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {smart-autoscaler.io/managed: "true"}}
spec:
  containers: [{name: w, image: w, resources: {requests: {cpu: "1", memory: 1Gi}}}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: not-in-the-files}}]
"""


def previewed_zones(text: str):
    result = run_preview(load_manifest_text(text, "shop.yaml"), [Target("aws", "us-east-1")], Config())
    (target,) = result.targets
    return {pod: tuple(line.zones) for line in target.nodes for pod in line.pods}, result


def test_preview_reads_claims_volumes_and_classes_from_the_files():
    # Given a StatefulSet whose claims' class provisions in us-east-1c only
    zones, result = previewed_zones(PREVIEW)
    # Then its pods are planned in us-east-1c, and the class is read, not listed as skipped
    assert zones["shop/kafka-0"] == zones["shop/kafka-1"] == ("us-east-1c",)
    assert not result.skipped


def test_preview_plans_a_pod_whose_claim_is_not_in_the_files_as_if_its_volume_could_be_anywhere():
    zones, _ = previewed_zones(ALONE)
    assert len(zones["shop/web"]) > 1


# ---- scale-down


def test_scale_down_keeps_a_node_whose_pods_volume_is_in_a_zone_without_room_elsewhere():
    """a1 (us-east-1a) runs db, whose volume is in us-east-1a; b1 (us-east-1b) has room. Without
    the volume db could move to b1 and a1 would go; with it, a1 stays."""
    from dataclasses import replace

    from autoscaler.config import config_from_mapping
    from autoscaler.scaledown import decide_scale_down
    from tests.test_placement_check import node

    config = config_from_mapping({"scaleDown.nodeUnneededDuration": "1m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    nodes = [node("a1", "us-east-1a"), node("b1", "us-east-1b")]
    manifest = pod(nodeName="a1")
    manifest["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                                "uid": "u1", "controller": True}]
    db = replace(pod_from_manifest(manifest), phase="Running")
    where = topology([claim(volume="pv-1")], [zonal_volume("pv-1", "us-east-1a")])

    def decided(pods):
        return decide_scale_down(nodes, {"a1": pods, "b1": []}, [], config, now=1000.0,
                                 unneeded_since={n.name: 0.0 for n in nodes}, draining=[])

    assert [c.node for c in decided([db]).to_drain] in (["a1"], ["b1"], ["a1", "b1"])
    kept = decided(with_volumes([db], where))
    assert "a1" not in [c.node for c in kept.to_drain]
    assert kept.kept["a1"] == "its pods would not fit on the other nodes"


EPHEMERAL = zonal_class_yaml("us-east-1b") + """
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache, smart-autoscaler.io/managed: "true"}}
    spec:
      containers: [{name: c, image: c, resources: {requests: {cpu: "1", memory: 1Gi}}}]
      volumes:
      - name: scratch
        ephemeral:
          volumeClaimTemplate:
            spec: {storageClassName: zonal, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""


def test_preview_plans_ephemeral_volumes_by_their_templates_class():
    # Given a Deployment of 3 whose ephemeral volume's class provisions in us-east-1b only
    zones, _ = previewed_zones(EPHEMERAL)
    # Then every replica is planned in us-east-1b
    assert len(zones) == 3 and set(zones.values()) == {("us-east-1b",)}
