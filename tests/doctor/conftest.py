"""Fixtures of doctor's tests: an AWS account in moto with IAM enforced
(tests/doctor/aws_account.py), built once per module; each test sets the daemon user's
policy and the transport answers it needs, and its instances are gone afterwards."""

from __future__ import annotations

import json

import pytest

from tests.doctor.aws_account import (
    ACCOUNT, CLUSTER, NODE_PROFILE, NODE_ROLE, REGION, AwsAccount, Calls, price_list_answer, quotas_answer,
    readme_policy, simulate_answer, terminate_answer,
)

USER = "smart-autoscaler"
# what doctor itself reads beyond the daemon's policy (README 'Before you enable it')
DOCTOR_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "iam:GetInstanceProfile", "iam:SimulatePrincipalPolicy", "ec2:DescribeImages", "eks:ListAccessEntries",
    "servicequotas:ListServiceQuotas"]}]}


def build_account() -> tuple[AwsAccount, dict[str, str]]:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    for index, zone in enumerate(("us-west-2a", "us-west-2b")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[subnet], Tags=[{"Key": "karpenter.sh/discovery", "Value": CLUSTER}])
    group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[group], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
    boto3.client("eks", region_name=REGION).create_cluster(
        name=CLUSTER, version="1.31", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        resourcesVpcConfig={"subnetIds": []}, kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16"},
    )
    iam = boto3.client("iam", region_name=REGION)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                      "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=NODE_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName=NODE_PROFILE)
    iam.add_role_to_instance_profile(InstanceProfileName=NODE_PROFILE, RoleName=NODE_ROLE)
    iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="doctor", PolicyDocument=json.dumps(DOCTOR_POLICY))
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    image_id = ec2.register_image(Name="amazon-eks-node-al2023-x86_64-standard-1.31", RootDeviceName="/dev/xvda")["ImageId"]
    account = AwsAccount(ec2, iam, image_id, Calls(), {}, {})
    return account, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def default_answers(account: AwsAccount, policy: dict) -> dict:
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{NODE_ROLE}"
    return {
        "GetParameter": json.dumps({"Parameter": {"Name": "eks-ami", "Type": "String", "Value": account.image_id,
                                                  "Version": 1}}).encode(),
        "GetProducts": price_list_answer(),
        "ListServiceQuotas": quotas_answer(),
        "ListAccessEntries": json.dumps({"accessEntries": [role_arn]}).encode(),
        "SimulatePrincipalPolicy": simulate_answer(policy),
        "TerminateInstances": terminate_answer(policy),
    }


@pytest.fixture(scope="module")
def _aws_world():
    pytest.importorskip("moto")
    from moto import mock_aws, settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest

    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": REGION}.items():
            patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            patch.delenv(key, raising=False)
        with mock_aws():
            account, credentials = build_account()
            # moto's IAM enforcement (moto docs, "IAM-like Access Control"): every request from
            # here on is checked against the caller's policies
            patch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
            patch.setattr(ActionAuthenticatorMixin, "request_count", 0)
            # moto recomputes SigV4 wrongly for EKS's REST paths (SignatureDoesNotMatch on a
            # correct request): the signature is not what these tests are about, the action is
            patch.setattr(IAMRequest, "check_signature", lambda self: None)
            yield account, credentials


@pytest.fixture
def aws_account(_aws_world, monkeypatch):
    """make(policy=README's) -> AwsAccount whose daemon user holds `policy`."""
    from moto.ec2.models import ec2_backends
    from moto.iam.models import iam_backends

    account, credentials = _aws_world
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)

    def make(policy: dict | None = None) -> AwsAccount:
        policy = readme_policy() if policy is None else policy
        iam_backends[ACCOUNT]["global"].put_user_policy(USER, "daemon", json.dumps(policy))
        account.calls = Calls()
        account.answers = default_answers(account, policy)
        account.failures = {}
        return account

    yield make
    backend = ec2_backends[ACCOUNT][REGION]
    running = [i.id for i in backend.all_instances() if i.state == "running"]
    if running:
        backend.terminate_instances(running)
