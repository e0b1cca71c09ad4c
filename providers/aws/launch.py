"""One node per request with EC2 CreateFleet (type instant) from a launch template.

The template is the operator's (`aws.launchTemplate`) or ones generated from configuration
(AMI, user data with the node's labels/taints/max pods, instance profile, security groups,
block devices, tags on instance, volumes and network interfaces), named by a hash of their
contents so equal requests share them. Overrides are the request's offering and the planner's
equivalent alternatives of the same capacity type, one per (type, zone) with that zone's
subnet: on-demand `lowest-price`, spot `price-capacity-optimized`. The fleet's per-override
`Errors` become typed failures with their scope; the instance it returns is what is recorded.

What depends on the instance type -- the AMI (arm64, GPU, Neuron), the kubelet's maxPods (the
VPC CNI's limit for that type) and the root volume -- is never shared across types that
differ in it: the overrides are grouped by the template they need, one LaunchTemplateConfig
per group (CreateFleet takes up to 50), as Karpenter groups instance types per launch
template. With the operator's own template, an override whose type needs another AMI than
the requested type carries its own `ImageId` (FleetLaunchTemplateOverridesRequest).

Generated templates are garbage-collected (EC2 allows 5,000 per region; Karpenter deletes the
ones it no longer uses): a template of this cluster neither created nor used for
TEMPLATE_IDLE seconds is deleted; an instance never needs its template after launch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pricing.disk import root_volume_gib, usable_bytes
from pricing.types import SPOT, InstanceType
from providers.aws.discovery import Discovery, Subnet
from providers.aws.userdata import NodeBootstrap, bottlerocket_user_data, encode, nodeadm_user_data, template_user_data
from providers.base import LaunchRequest

log = logging.getLogger("smart_autoscaler.providers.aws.launch")
MAX_OVERRIDES = 60  # Karpenter's bound too: big override lists slow CreateFleet down
MAX_TEMPLATE_CONFIGS = 50  # CreateFleet's limit on LaunchTemplateConfigs
TEMPLATE_IDLE = 3600.0  # seconds a generated template is kept after its last use
NAME_TAG = "Name"
TEMPLATE_PREFIX = "smart-autoscaler"
# Labels whose value depends on the instance type: left out of shared user data when the fleet
# may deliver another type (the kubelet / cloud controller set the well-known ones, the loop
# labels the rest at registration).
TYPE_LABELS = frozenset(
    {
        "node.kubernetes.io/instance-type",
        "kubernetes.io/arch",
        "karpenter.k8s.aws/instance-family",
        "karpenter.k8s.aws/instance-gpu-name",
        "karpenter.k8s.aws/instance-gpu-count",
    }
)
ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class Candidate:
    """One override: a type in a zone, through that zone's subnet."""

    instance_type: InstanceType
    subnet: Subnet
    image_id: str


def unfreeze(value: Any) -> Any:
    """Config's frozen EC2 shapes back to dicts/lists, keys in the API's PascalCase."""
    if isinstance(value, tuple) and value and value[0] == "__list__":
        return [unfreeze(v) for v in value[1:]]
    if isinstance(value, tuple) and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) for i in value):
        return {k[:1].upper() + k[1:]: unfreeze(v) for k, v in value}
    return value


def default_block_devices(ami_family: str, itype: InstanceType, volume_gib: int = 0) -> list[dict]:
    """Root (and Bottlerocket data) volumes: gp3, encrypted; sized as pricing/disk.py says
    (the planned pods' ephemeral storage; GPU AMIs and their images need more room)."""
    size = volume_gib or root_volume_gib("aws", itype.has_gpu, 0)

    def ebs(gib: int) -> dict:
        return {"VolumeSize": gib, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}

    if ami_family == "Bottlerocket":
        return [{"DeviceName": "/dev/xvda", "Ebs": ebs(4)}, {"DeviceName": "/dev/xvdb", "Ebs": ebs(size)}]
    return [{"DeviceName": "/dev/xvda", "Ebs": ebs(size)}]


def with_root_volume(mappings: list[dict], ami_family: str, volume_gib: int) -> list[dict]:
    """The operator's block device mappings, the volume pods' ephemeral storage lives on (the
    root; Bottlerocket's data volume /dev/xvdb) grown to `volume_gib` when smaller: their size
    is a floor, the pods' need decides above it."""
    if not mappings or not volume_gib:
        return mappings
    target = "/dev/xvdb" if ami_family == "Bottlerocket" else mappings[0].get("DeviceName")
    result = []
    for mapping in mappings:
        ebs = mapping.get("Ebs")
        if mapping.get("DeviceName") == target and isinstance(ebs, dict) and int(ebs.get("VolumeSize") or 0) < volume_gib:
            mapping = {**mapping, "Ebs": {**ebs, "VolumeSize": volume_gib}}
        result.append(mapping)
    return result


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class LaunchTemplates:
    """Generated launch templates by content hash (created once, found again after a restart)."""

    def __init__(
        self,
        clients: Any,
        discovery: Discovery,
        settings: Any,
        cluster_name: str,
        max_pods: Callable[[InstanceType], int] = lambda itype: itype.max_pods,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.discovery = discovery
        self.settings = settings
        self.cluster_name = cluster_name
        self.max_pods = max_pods
        self.clock = clock
        self._ids: dict[str, str] = {}
        self._used: dict[str, float] = {}  # template name -> when a launch last used it
        self._lock = threading.Lock()
        self._creating: dict[str, threading.Lock] = {}  # per name: a burst creates a template once

    @property
    def prefix(self) -> str:
        return f"{TEMPLATE_PREFIX}-{self.cluster_name}-"

    def configs(self, request: LaunchRequest, overrides: list[Candidate], labels: Mapping[str, str], tags: Mapping[str, str]) -> list[dict]:
        """The fleet's LaunchTemplateConfigs: each override under a template that fits its type."""
        if self.settings.launch_template:
            key = "LaunchTemplateId" if self.settings.launch_template.startswith("lt-") else "LaunchTemplateName"
            own = {key: self.settings.launch_template, "Version": "$Default"}
            requested = next((c.image_id for c in overrides if c.instance_type.name == request.instance_type.name), None)
            items = [override_item(c, c.image_id if requested is not None and c.image_id != requested else None) for c in overrides]
            return [{"LaunchTemplateSpecification": own, "Overrides": items}]
        groups: dict[str, tuple[dict, list[Candidate]]] = {}
        for candidate in overrides:
            data = self.template_data(request, labels, candidate.image_id, tags, candidate.instance_type)
            name = self.prefix + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
            if name not in groups:
                if len(groups) == MAX_TEMPLATE_CONFIGS:
                    continue
                groups[name] = (data, [])
            groups[name][1].append(candidate)
        return [
            {
                "LaunchTemplateSpecification": {"LaunchTemplateId": self._ensure(name[:128], data), "Version": "$Latest"},
                "Overrides": [override_item(c) for c in members],
            }
            for name, (data, members) in groups.items()
        ]

    def template_data(
        self, request: LaunchRequest, labels: Mapping[str, str], image_id: str, tags: Mapping[str, str], itype: InstanceType | None = None
    ) -> dict:
        settings = self.settings
        itype = itype or request.instance_type
        node = NodeBootstrap(labels=labels, taints=request.taints, max_pods=self.max_pods(itype))
        if settings.user_data_type == "Template":
            user_data = template_user_data(settings.user_data, self.cluster_name, node)
        elif settings.ami_family == "Bottlerocket":
            user_data = bottlerocket_user_data(self.discovery.cluster(), node)
        else:
            user_data = nodeadm_user_data(self.discovery.cluster(), node)
        volume = root_volume_gib("aws", itype.has_gpu, usable_bytes(request.root_volume_gib)) if request.root_volume_gib else 0
        devices = with_root_volume([unfreeze(m) for m in settings.block_device_mappings], settings.ami_family, volume)
        devices = devices or default_block_devices(settings.ami_family, itype, volume)
        data: dict[str, Any] = {
            "ImageId": image_id,
            "UserData": encode(user_data),
            "SecurityGroupIds": self.discovery.security_groups(),
            "BlockDeviceMappings": devices,
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
            "TagSpecifications": [
                {"ResourceType": kind, "Tags": tag_list(tags)} for kind in ("instance", "volume", "network-interface")
            ],
        }
        if settings.node_instance_profile:
            profile = settings.node_instance_profile
            data["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
        return data

    def _ensure(self, name: str, data: dict) -> str:
        with self._lock:
            self._used[name] = self.clock()
            if name in self._ids:
                return self._ids[name]
            creating = self._creating.setdefault(name, threading.Lock())
        with creating:  # the other launches of a burst wait for the first one's template
            with self._lock:
                if name in self._ids:
                    return self._ids[name]
            return self._find_or_create(name, data)

    def _find_or_create(self, name: str, data: dict) -> str:
        ec2 = self.clients.ec2
        found = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [name]}])["LaunchTemplates"]
        if found:
            template_id = found[0]["LaunchTemplateId"]
        else:
            try:
                created = ec2.create_launch_template(
                    LaunchTemplateName=name,
                    LaunchTemplateData=data,
                    TagSpecifications=[{"ResourceType": "launch-template", "Tags": tag_list({"smart-autoscaler.io/cluster": self.cluster_name})}],
                )
                template_id = created["LaunchTemplate"]["LaunchTemplateId"]
            except ec2.exceptions.ClientError as err:
                if "AlreadyExists" not in err.response.get("Error", {}).get("Code", ""):
                    raise
                template_id = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"][0]["LaunchTemplateId"]
        with self._lock:
            self._ids[name] = template_id
        return template_id


    def collect_garbage(self) -> list[str]:
        """Delete this cluster's generated templates idle for TEMPLATE_IDLE; their names."""
        ec2 = self.clients.ec2
        now = self.clock()
        listed = ec2.describe_launch_templates(
            Filters=[{"Name": "tag:smart-autoscaler.io/cluster", "Values": [self.cluster_name]}]
        ).get("LaunchTemplates", [])
        deleted = []
        for template in listed:
            name = template.get("LaunchTemplateName", "")
            created = template.get("CreateTime")
            created_at = created.timestamp() if hasattr(created, "timestamp") else now
            with self._lock:
                last = max(self._used.get(name, 0.0), created_at)
                if not name.startswith(self.prefix) or now - last < TEMPLATE_IDLE:
                    continue
                self._ids.pop(name, None)
                self._used.pop(name, None)
            try:
                ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
                deleted.append(name)
            except ec2.exceptions.ClientError as err:
                log.warning("could not delete unused launch template %s: %s", name, err)
        if deleted:
            log.info("deleted %d unused launch templates: %s", len(deleted), ", ".join(deleted))
        return deleted


def override_item(candidate: Candidate, image_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"InstanceType": candidate.instance_type.name, "SubnetId": candidate.subnet.subnet_id}
    if image_id is not None:
        item["ImageId"] = image_id
    return item


def shared_labels(request: LaunchRequest) -> dict[str, str]:
    """The request's labels that hold for every offering the fleet may deliver."""
    labels = {k: v for k, v in request.labels.items() if k != ZONE_LABEL or len(request.zones) == 1}
    others = [a for a in request.alternatives if a.capacity_type == request.capacity_type]
    if any(a.instance_type.name != request.instance_type.name for a in others):
        labels = {k: v for k, v in labels.items() if k not in TYPE_LABELS}
    if any(set(a.zones) != set(request.zones) for a in others) or len(request.zones) != 1:
        labels.pop(ZONE_LABEL, None)
    return labels


def candidates(request: LaunchRequest, subnets: dict[str, Subnet], ami_for: Any) -> list[Candidate]:
    """Overrides in the planner's order: the request's offering first, then its alternatives of
    the same capacity type; each in every zone it is offered in that has a subnet."""
    offered = [(request.instance_type, request.zones)]
    offered += [(a.instance_type, a.zones) for a in request.alternatives if a.capacity_type == request.capacity_type]
    result: list[Candidate] = []
    seen: set[tuple[str, str]] = set()
    for itype, zones in offered:
        for zone in zones or tuple(sorted(subnets)):
            subnet = subnets.get(zone)
            if subnet is None or (itype.name, zone) in seen:
                continue
            seen.add((itype.name, zone))
            result.append(Candidate(itype, subnet, ami_for(itype)))
    return result[:MAX_OVERRIDES]


def fleet_request(request: LaunchRequest, configs: list[dict], tags: Mapping[str, str]) -> dict:
    capacity_type = "spot" if request.capacity_type == SPOT else "on-demand"
    body: dict[str, Any] = {
        "Type": "instant",
        "ClientToken": request.request_id[:64],
        "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": capacity_type},
        "LaunchTemplateConfigs": configs,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list(tags)}, {"ResourceType": "fleet", "Tags": tag_list(tags)}],
    }
    if capacity_type == "spot":
        body["SpotOptions"] = {"AllocationStrategy": "price-capacity-optimized"}
    else:
        body["OnDemandOptions"] = {"AllocationStrategy": "lowest-price"}
    return body
