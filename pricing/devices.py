"""Device resources that node types advertise besides GPUs, as their device plugins name them.

AWS Inferentia and Trainium: the Neuron device plugin advertises `aws.amazon.com/neuron`, one
per Inferentia/Trainium chip (AWS instance-type documentation: inf1.xlarge 1 ... inf1.24xlarge
16; inf2.xlarge and inf2.8xlarge 1, inf2.24xlarge 6, inf2.48xlarge 12; trn1.2xlarge 1,
trn1.32xlarge and trn1n.32xlarge 16; trn2.3xlarge 1, trn2.48xlarge 16).
"""

from __future__ import annotations

NEURON = "aws.amazon.com/neuron"

_AWS_DEVICES: dict[str, dict[str, int]] = {
    NEURON: {
        "inf1.xlarge": 1,
        "inf1.2xlarge": 1,
        "inf1.6xlarge": 4,
        "inf1.24xlarge": 16,
        "inf2.xlarge": 1,
        "inf2.8xlarge": 1,
        "inf2.24xlarge": 6,
        "inf2.48xlarge": 12,
        "trn1.2xlarge": 1,
        "trn1.32xlarge": 16,
        "trn1n.32xlarge": 16,
        "trn2.3xlarge": 1,
        "trn2.48xlarge": 16,
    }
}


def catalog_devices(cloud: str, resource: str, instance_type: str) -> int:
    """How many `resource` devices a type of this cloud carries, as far as the catalog knows."""
    if cloud != "aws":
        return 0
    return _AWS_DEVICES.get(resource, {}).get(instance_type, 0)


def devices_of(resource: str, instance_type: str) -> int:
    """How many `resource` devices a type carries, whatever its cloud (type names do not clash)."""
    return _AWS_DEVICES.get(resource, {}).get(instance_type, 0)


def known_resources(cloud: str) -> frozenset[str]:
    return frozenset(_AWS_DEVICES) if cloud == "aws" else frozenset()


# Who advertises each device resource on a node, for the message an operator reads when a node
# registers without it (the plugins' own documentation names them so).
_PLUGINS: dict[str, str] = {
    "nvidia.com/gpu": "NVIDIA device plugin DaemonSet (or the NVIDIA GPU Operator)",
    "amd.com/gpu": "AMD GPU device plugin DaemonSet",
    NEURON: "Neuron device plugin DaemonSet",
}


def device_plugin(resource: str) -> str:
    """What advertises `resource` on a node: "Neuron device plugin DaemonSet", ..."""
    return _PLUGINS.get(resource, f"device plugin DaemonSet that advertises {resource}")
