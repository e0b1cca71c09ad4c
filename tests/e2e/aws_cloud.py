"""moto_server on loopback as the AWS account of the e2e tier, and what its kubelets would do.

`MotoServer` runs moto's server app (the one `moto_server` runs) on a free 127.0.0.1 port
behind `StockoutMiddleware` (tests/aws_faults.py); `aws_machines` reads its running
instances the way their kubelets would register: the Node name is the private DNS name, the
labels and taints come from the instance's own user data (the AL2023 NodeConfig's
`--node-labels` and `registerWithTaints`, `maxPods`), plus what the kubelet and the cloud
controller add (hostname, arch, os, instance type, zone, region), and providerID is
`aws:///<zone>/<instance id>`.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from pricing.catalog import raw_catalog
from providers.aws.userdata import node_config_from_user_data
from tests.aws_faults import StockoutMiddleware
from tests.e2e.registrar import Machine


class MotoServer:
    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        from tests.controlplane.cluster import free_port

        self.faults = StockoutMiddleware(DomainDispatcherApplication(create_backend_app))
        self.port = free_port()
        self._server = make_server("127.0.0.1", self.port, self.faults, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def _specs() -> dict[str, dict]:
    return {spec["name"]: spec for spec in raw_catalog("aws")["instance_types"]}


def aws_machines(ec2: Any, cluster_name: str, region: str) -> list[Machine]:
    from pricing.catalog import region_catalog

    types = {o.instance_type.name: o.instance_type for o in region_catalog("aws", region).offerings}
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:smart-autoscaler.io/cluster", "Values": [cluster_name]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )
    machines = []
    for page in pages:
        for reservation in page["Reservations"]:
            for item in reservation["Instances"]:
                machines.append(_machine(ec2, item, types, region))
    return machines


def _machine(ec2: Any, item: dict, types: dict, region: str) -> Machine:
    instance_id = item["InstanceId"]
    zone = item["Placement"]["AvailabilityZone"]
    raw = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"].get("Value", "")
    config = node_config_from_user_data(base64.b64decode(raw).decode()) if raw else None
    kubelet = (config or {}).get("spec", {}).get("kubelet", {})
    labels: dict[str, str] = {}
    for flag in kubelet.get("flags", []):
        if flag.startswith("--node-labels="):
            labels.update(pair.split("=", 1) for pair in flag.removeprefix("--node-labels=").split(",") if pair)
    itype = types[item["InstanceType"]]
    name = item.get("PrivateDnsName") or instance_id
    labels.update({
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": itype.name,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": region,
    })
    allocatable = itype.allocatable
    return Machine(
        name=name,
        provider_id=f"aws:///{zone}/{instance_id}",
        labels=labels,
        cpu=f"{allocatable.cpu}m",
        memory=str(allocatable.memory),
        pods=int(kubelet.get("config", {}).get("maxPods") or itype.max_pods),
        gpus=itype.gpu_count,
        taints=tuple(kubelet.get("config", {}).get("registerWithTaints") or ()),
        arch=itype.arch,
    )
