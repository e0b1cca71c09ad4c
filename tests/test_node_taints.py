"""Which taints a launched node carries (autoscaler/nodetaints.py), and that every cloud's
launch path registers exactly those: the device taint `<resource>=present:NoSchedule` is the one
GKE and OKE put on their GPU nodes themselves (so their providers do not send it twice)."""

from __future__ import annotations

from autoscaler.nodetaints import device_taint, launch_taints, type_devices
from autoscaler.podspec import pod_from_manifest
from pricing.catalog import AKS_SPOT_TAINT, GPU_TAINT
from providers.aws.userdata import taints_flag
from providers.oci.pools import pool_taints
from tests.helpers import catalog, pod_manifest

NEURON = "aws.amazon.com/neuron"


def device_pod(resource: str, admitted: bool):
    spec = {"tolerations": [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}]} if admitted else None
    manifest = pod_manifest("p", "1", "1Gi", spec=spec)
    manifest["spec"]["containers"][0]["resources"]["requests"][resource] = "1"
    return pod_from_manifest(manifest)


def aws_type(name: str):
    return next(o.instance_type for o in catalog("aws").offerings if o.instance_type.name == name)


def test_accelerator_types_and_their_device_resources():
    assert type_devices(aws_type("g4dn.xlarge"), "aws") == ("nvidia.com/gpu",)
    assert type_devices(aws_type("inf1.xlarge"), "aws") == (NEURON,)
    assert type_devices(aws_type("t3a.xlarge"), "aws") == ()
    assert type_devices(aws_type("c5.xlarge"), "aws", [("example.com/fpga", r"^c5\.", 1)]) == ("example.com/fpga",)


def test_a_node_launched_for_admitted_device_pods_is_tainted_for_them_and_only_then():
    """Given a pod that carries the toleration ExtendedResourceToleration writes, its inf1 node
    is tainted aws.amazon.com/neuron=present:NoSchedule; a pod without it (the plugin off) gets
    an untainted node; a node with pods that do not request the device is never tainted."""
    admitted, bare = device_pod(NEURON, True), device_pod(NEURON, False)
    assert launch_taints((), (NEURON,), [admitted]) == (device_taint(NEURON),)
    assert device_taint(NEURON).describe() == "aws.amazon.com/neuron=present:NoSchedule"
    assert launch_taints((), (NEURON,), [admitted, bare]) == ()
    assert launch_taints((), (NEURON,), [pod_from_manifest(pod_manifest("small"))]) == ()


def test_the_clouds_own_taints_stay_and_are_not_doubled():
    """GKE's and OKE's GPU taint is the device taint itself: kept once. AKS spot taint kept."""
    gpu = device_pod("nvidia.com/gpu", True)
    assert device_taint("nvidia.com/gpu") == GPU_TAINT
    assert launch_taints((GPU_TAINT,), ("nvidia.com/gpu",), [gpu]) == (GPU_TAINT,)
    assert launch_taints((AKS_SPOT_TAINT,), ("nvidia.com/gpu",), [gpu]) == (AKS_SPOT_TAINT, GPU_TAINT)


def test_every_launch_path_registers_the_device_taint():
    """EKS: the kubelet's --register-with-taints (nodeadm / template user data) carries it; OKE
    adds its own GPU taint, so its pool does not repeat it, but carries the Neuron-style ones."""
    taints = launch_taints((), ("nvidia.com/gpu",), [device_pod("nvidia.com/gpu", True)])
    assert taints_flag(taints) == "nvidia.com/gpu=present:NoSchedule"
    assert pool_taints(taints, gpu=True) == ()
    fpga = (device_taint("example.com/fpga"),)
    assert pool_taints(fpga, gpu=False) == fpga
