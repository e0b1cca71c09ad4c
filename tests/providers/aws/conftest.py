"""An AWS account in moto (in-process): a VPC with discovery-tagged subnets in two zones, an
untagged subnet in a third, a tagged security group and an EKS cluster; the provider under test
with FleetFaults hooked on its clients (stock-outs, error codes, price answers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from autoscaler.config import config_from_mapping  # noqa: E402
from tests.aws_faults import FleetFaults  # noqa: E402

REGION = "us-west-2"
CLUSTER = "demo"
EKS_AMI = "ami-0e1ca1e0e1ca1e0e1"


@dataclass
class World:
    ec2: Any
    subnets: dict[str, str]  # zone -> subnet id (tagged)
    untagged_subnet: str
    security_group: str
    faults: FleetFaults

    def provider(self, cluster: str = CLUSTER, **aws_options: Any):
        from providers.aws import create_provider

        config = config_from_mapping({"cloud": "aws", "region": REGION, "clusterName": cluster, "aws": aws_options})
        provider = create_provider(config=config, clock=None, start_prices=False)
        for client in (provider.clients.ec2, provider.clients.ssm, provider.clients.pricing):
            self.faults.install(client)
        return provider

    def instances(self, **filters: Any) -> list[dict]:
        reservations = self.ec2.describe_instances(**filters)["Reservations"]
        return [i for r in reservations for i in r["Instances"]]

    def user_data(self, instance_id: str) -> str:
        import base64

        attribute = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        return base64.b64decode(attribute["UserData"]["Value"]).decode()


def ssm_answer(image_id: str) -> bytes:
    return json.dumps({"Parameter": {"Name": "x", "Type": "String", "Value": image_id, "Version": 1}}).encode()


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = {}
        for index, zone in enumerate(("us-west-2a", "us-west-2b")):
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
            ec2.create_tags(Resources=[subnet], Tags=[{"Key": "karpenter.sh/discovery", "Value": CLUSTER}])
            subnets[zone] = subnet
        untagged = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.9.0/24", AvailabilityZone="us-west-2c")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[group], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
        boto3.client("eks", region_name=REGION).create_cluster(
            name=CLUSTER,
            version="1.31",
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": list(subnets.values())},
            kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16"},
        )
        faults = FleetFaults()
        faults.answers["GetParameter"] = ssm_answer(EKS_AMI)
        yield World(ec2, subnets, untagged, group, faults)
