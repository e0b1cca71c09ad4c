"""A test registrar that plays OKE's worker nodes: every node the local OKE server has given an
instance becomes a kwok Node, as OKE's kubelet and cloud controller would register it; a node
deleted from its pool loses its Node.

The Node carries what a real OKE node carries: `spec.providerID` `oci://<instance ocid>`, the
node pool's initial labels, `node.kubernetes.io/instance-type` = the shape,
`topology.kubernetes.io/zone` = the availability domain, `oci.oraclecloud.com/fault-domain`,
the taints the pool's cloud-init hands the kubelet (`--register-with-taints`) and OKE's own
`nvidia.com/gpu` taint on GPU shapes; its allocatable is the shape's size after OKE's
reservation (pricing.allocatable), and a GPU counts `time_slices` times (the NVIDIA device
plugin's time-slicing replicas). Named test fixture, not part of the product.
"""

from __future__ import annotations

import base64
import contextlib
import re
import threading
from typing import Any

from pricing.allocatable import node_resources
from pricing.catalog import raw_catalog
from tests.controlplane import kwok_node_manifest
from tests.providers.oke_server import OkeState

_TAINTS = re.compile(r"--register-with-taints=([^\"\s]+)")


def _shape_size(pool: dict[str, Any]) -> tuple[int, int, int, str, str]:
    """(vcpu, memory MiB, gpus, arch, gpu model) of the pool's shape and shape config."""
    data = raw_catalog("oci")
    shape = pool["nodeShape"]
    flex = next((f for f in data["flex_shapes"] if f["name"] == shape), None)
    if flex is not None:
        config = pool["nodeShapeConfig"]
        return int(config["ocpus"]) * flex["vcpu_per_ocpu"], int(config["memoryInGBs"]) * 1024, 0, flex["arch"], ""
    spec = next(s for s in data["instance_types"] if s["name"] == shape)
    return spec["vcpu"], spec["memory_mib"], spec.get("gpu_count", 0), spec.get("arch", "amd64"), spec.get("gpu_model") or ""


def _taints(pool: dict[str, Any], gpus: int) -> list[dict[str, str]]:
    taints = []
    script = base64.b64decode((pool.get("nodeMetadata") or {}).get("user_data", "") or b"").decode()
    match = _TAINTS.search(script)
    for text in match.group(1).split(",") if match else []:
        key_value, _, effect = text.partition(":")
        key, _, value = key_value.partition("=")
        taints.append({"key": key, "value": value, "effect": effect})
    if gpus:
        taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
    return taints


class OkeRegistrar:
    def __init__(self, state: OkeState, core_v1: Any, region: str = "us-ashburn-1", time_slices: int = 1) -> None:
        self.state = state
        self.core = core_v1
        self.region = region
        self.time_slices = time_slices
        self.registered: dict[str, str] = {}  # instance ocid -> Node name
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oke-registrar", daemon=True)

    def __enter__(self) -> OkeRegistrar:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for name in self.registered.values():
            with contextlib.suppress(Exception):
                self.core.delete_node(name)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception as err:  # noqa: BLE001 - keep playing the kubelet; the test sees `errors`
                self.errors.append(repr(err))
            self._stop.wait(0.2)

    def sync(self) -> None:
        with self.state.lock:
            pools = [dict(p, nodes=[dict(n) for n in p["nodes"]]) for p in self.state.pools.values()]
        for pool in pools:
            for node in pool["nodes"]:
                instance = node.get("id")
                if not instance:
                    continue
                gone = node["lifecycleState"] == "DELETED"
                if gone and instance in self.registered:
                    with contextlib.suppress(Exception):
                        self.core.delete_node(self.registered.pop(instance))
                elif not gone and instance not in self.registered:
                    self._register(pool, node)

    def _register(self, pool: dict[str, Any], node: dict[str, Any]) -> None:
        vcpu, memory_mib, gpus, arch, gpu_model = _shape_size(pool)
        _, allocatable, _ = node_resources("oci", vcpu, memory_mib, gpus, 110, 0.0)
        name = node["privateIp"]  # OKE names nodes by their private IP
        zone = node["availabilityDomain"].split(":", 1)[-1]
        labels = {kv["key"]: kv["value"] for kv in pool.get("initialNodeLabels", [])}
        labels.update({
            "oci.oraclecloud.com/fault-domain": node["faultDomain"],
            "topology.kubernetes.io/region": self.region,
            "name": pool["name"],
            **({"nvidia.com/gpu.product": gpu_model} if gpu_model else {}),
        })
        manifest = kwok_node_manifest(
            name,
            f"{allocatable.cpu}m",
            str(allocatable.memory),
            110,
            labels,
            f"oci://{node['id']}",
            gpus * self.time_slices,
            zone=zone,
            instance_type=pool["nodeShape"],
            arch=arch,
            taints=_taints(pool, gpus),
        )
        self.core.create_node(manifest)
        self.registered[node["id"]] = name
