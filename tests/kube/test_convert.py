from __future__ import annotations

import pytest

from autoscaler.cluster import PdbInfo
from autoscaler.kube.convert import daemonset_from_api, node_from_api, pdb_from_api
from autoscaler.model import Toleration
from autoscaler.podspec import PodSpecError
from autoscaler.resources import Resources
from pricing.types import Taint
from tests.helpers import make_pod
from tests.kube.objects import daemonset, node, pdb


def test_node_keeps_what_the_planner_needs():
    kept = node_from_api(node("ip-10-0-0-1", version="42"))
    assert kept.name == "ip-10-0-0-1" and kept.uid == "uid-ip-10-0-0-1"
    assert kept.allocatable == Resources(cpu=3920, memory=15083072 * 1024, gpu=3, pods=58, ephemeral=76224326324)
    assert kept.capacity.cpu == 4000 and kept.capacity.gpu == 0
    assert kept.taints == (Taint("smart-autoscaler.io/hot", "", "NoSchedule"),)
    assert kept.annotations == {"smart-autoscaler.io/request-id": "req-7"}
    assert kept.labels["node.kubernetes.io/instance-type"] == "m5.xlarge"
    assert kept.provider_id == "aws:///us-east-1a/i-ip-10-0-0-1"
    assert kept.ready and not kept.unschedulable
    assert kept.created == 1714564800.0
    assert kept.resource_version == "42"


def test_node_annotations_under_every_prefix_and_not_ready():
    obj = node("n1")
    obj["metadata"]["annotations"]["node.elotl.co/created-by"] = "luna"
    obj["status"]["conditions"][1]["status"] = "Unknown"
    obj["spec"]["unschedulable"] = True
    kept = node_from_api(obj, ("smart-autoscaler.io/", "node.elotl.co/"))
    assert set(kept.annotations) == {"smart-autoscaler.io/request-id", "node.elotl.co/created-by"}
    assert not kept.ready and kept.unschedulable


def test_node_with_an_unreadable_quantity_counts_it_as_zero(caplog):
    obj = node("n1")
    obj["status"]["allocatable"]["memory"] = "lots"
    assert node_from_api(obj).allocatable.memory == 0
    assert "node n1: status.allocatable: memory ignored" in caplog.text


def test_daemonset_requests_affinity_and_tolerations():
    info = daemonset_from_api(daemonset("fluent-bit", cpu="200m", memory="256Mi"))
    assert (info.namespace, info.name) == ("kube-system", "fluent-bit")
    assert info.requests == Resources(cpu=200, memory=256 * 2**20, pods=1)
    assert info.affinity.matches({"kubernetes.io/os": "linux"}) and not info.affinity.matches({"kubernetes.io/os": "windows"})
    assert info.tolerations == (Toleration("", "Exists", "", ""),)


def test_daemonset_with_bad_requests_raises_naming_it():
    with pytest.raises(PodSpecError, match="kube-system/broken"):
        daemonset_from_api(daemonset("broken", cpu="a lot"))


def test_pdb_selector_and_disruptions():
    info = pdb_from_api(
        pdb(
            "web",
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            allowed=0,
        )
    )
    assert info == PdbInfo("default", "web", {"app": "web"}, (("tier", "In", ("a", "b")),), 0, True)
    assert info.selects(make_pod("w1", labels={"app": "web", "tier": "a"}))
    assert not info.selects(make_pod("w2", labels={"app": "web", "tier": "c"}))


def test_pdb_without_selector_selects_nothing_and_empty_selects_all():
    assert not pdb_from_api(pdb("none", None)).has_selector
    everything = pdb_from_api(pdb("all", {}))
    assert everything.has_selector and everything.selects(make_pod("any"))
