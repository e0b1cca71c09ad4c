"""User data that makes an instance join the cluster with the node's labels, taints and max pods.

* EKS, AL2023: a MIME multi-part document with a `nodeadm` NodeConfig (cluster name,
  endpoint, CA, service CIDR; kubelet `maxPods`, `registerWithTaints`, `--node-labels`).
* EKS, Bottlerocket: TOML settings (`settings.kubernetes`: cluster, api-server, CA, DNS IP,
  max-pods, node-labels, node-taints).
* Self-managed (RKE2, kubeadm): `aws.userDataType: Template` and `aws.userData`, a Go-style
  template with Luna's field names `{{.Labels}}` ("k=v,k2=v2"), `{{.Taints}}`
  ("k=v:NoSchedule,..."), `{{.MaxPods}}`, and also `{{.ClusterName}}`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Mapping

from pricing.types import Taint

TEMPLATE_FIELDS = ("Labels", "Taints", "MaxPods", "ClusterName")
_FIELD = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
MIME_BOUNDARY = "//smart-autoscaler//"


class UserDataError(ValueError):
    """A user-data template that cannot be rendered; the message names the field."""


@dataclass(frozen=True)
class ClusterInfo:
    """What a node needs to find its EKS control plane (DescribeCluster)."""

    name: str
    endpoint: str
    certificate_authority: str  # base64, as DescribeCluster returns it
    service_cidr: str
    version: str = ""

    @property
    def dns_ip(self) -> str:
        network = ipaddress.ip_network(self.service_cidr, strict=False)
        return str(network.network_address + 10)


@dataclass(frozen=True)
class NodeBootstrap:
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    max_pods: int


def labels_flag(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def taints_flag(taints: tuple[Taint, ...]) -> str:
    return ",".join(f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in taints)


def nodeadm_user_data(cluster: ClusterInfo, node: NodeBootstrap) -> str:
    config = {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {
            "cluster": {
                "name": cluster.name,
                "apiServerEndpoint": cluster.endpoint,
                "certificateAuthority": cluster.certificate_authority,
                "cidr": cluster.service_cidr,
            },
            "kubelet": {
                "config": {
                    "maxPods": node.max_pods,
                    "registerWithTaints": [
                        {"key": t.key, "value": t.value, "effect": t.effect} if t.value else {"key": t.key, "effect": t.effect}
                        for t in node.taints
                    ],
                },
                "flags": [f"--node-labels={labels_flag(node.labels)}"] if node.labels else [],
            },
        },
    }
    # JSON is YAML: nodeadm reads it as the NodeConfig document.
    return (
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"\n\n'
        f"--{MIME_BOUNDARY}\n"
        "Content-Type: application/node.eks.aws\n\n"
        f"{json.dumps(config, indent=2, sort_keys=True)}\n\n"
        f"--{MIME_BOUNDARY}--\n"
    )


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for these characters


def bottlerocket_user_data(cluster: ClusterInfo, node: NodeBootstrap) -> str:
    lines = [
        "[settings.kubernetes]",
        f"cluster-name = {_toml_string(cluster.name)}",
        f"api-server = {_toml_string(cluster.endpoint)}",
        f"cluster-certificate = {_toml_string(cluster.certificate_authority)}",
        f"cluster-dns-ip = {_toml_string(cluster.dns_ip)}",
        f"max-pods = {node.max_pods}",
        "",
        "[settings.kubernetes.node-labels]",
        *(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in sorted(node.labels.items())),
        "",
        "[settings.kubernetes.node-taints]",
    ]
    by_key: dict[str, list[str]] = {}
    for taint in node.taints:
        by_key.setdefault(taint.key, []).append(f"{taint.value}:{taint.effect}")
    lines += [f"{_toml_string(k)} = [{', '.join(_toml_string(v) for v in values)}]" for k, values in sorted(by_key.items())]
    return "\n".join(lines) + "\n"


def check_template(template: str) -> None:
    """Raise UserDataError naming the first `{{...}}` that is not one of TEMPLATE_FIELDS."""
    for match in _FIELD.finditer(template):
        expression = match.group(1)
        if not expression.startswith(".") or expression[1:] not in TEMPLATE_FIELDS:
            known = ", ".join(f"{{{{.{name}}}}}" for name in TEMPLATE_FIELDS)
            raise UserDataError(f"aws.userData: unknown template field {match.group(0)!r}; known fields: {known}")


def template_user_data(template: str, cluster_name: str, node: NodeBootstrap) -> str:
    check_template(template)
    values = {
        "Labels": labels_flag(node.labels),
        "Taints": taints_flag(node.taints),
        "MaxPods": str(node.max_pods),
        "ClusterName": cluster_name,
    }
    return _FIELD.sub(lambda match: values[match.group(1)[1:]], template)


def encode(user_data: str) -> str:
    return base64.b64encode(user_data.encode()).decode()


def node_config_from_user_data(user_data: str) -> dict | None:
    """The NodeConfig of an AL2023 user-data document, or None (for tests and the registrar)."""
    match = re.search(r"Content-Type: application/node\.eks\.aws\n\n(.*?)\n\n--", user_data, re.S)
    return json.loads(match.group(1)) if match else None
