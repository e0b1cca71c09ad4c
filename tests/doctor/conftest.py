"""Fixtures of doctor's tests: an AWS account in moto with IAM enforced (tests/doctor/aws_account.py)."""

from __future__ import annotations

import json

import pytest

from tests.doctor.aws_account import (
    ACCOUNT, CLUSTER, NODE_PROFILE, NODE_ROLE, REGION, AwsAccount, Calls, price_list_answer, quotas_answer,
    readme_policy, simulate_answer, terminate_answer,
)


def build_account(monkeypatch, policy: dict) -> AwsAccount:
    import boto3
    from moto.core import set_initial_no_auth_action_count  # noqa: F401 - the documented switch below

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
    role_arn = iam.create_role(RoleName=NODE_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName=NODE_PROFILE)
    iam.add_role_to_instance_profile(InstanceProfileName=NODE_PROFILE, RoleName=NODE_ROLE)
    iam.create_user(UserName="smart-autoscaler")
    iam.put_user_policy(UserName="smart-autoscaler", PolicyName="daemon", PolicyDocument=json.dumps(policy))
    # what doctor itself reads beyond the daemon's policy (README 'Before you enable it')
    iam.put_user_policy(UserName="smart-autoscaler", PolicyName="doctor", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "iam:GetInstanceProfile", "iam:SimulatePrincipalPolicy", "ec2:DescribeImages",
            "eks:ListAccessEntries", "servicequotas:ListServiceQuotas"]}]}))
    key = iam.create_access_key(UserName="smart-autoscaler")["AccessKey"]
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    answers = {
        "GetParameter": json.dumps({"Parameter": {"Name": "eks-ami", "Type": "String", "Value": image_id, "Version": 1}}).encode(),
        "GetProducts": price_list_answer(),
        "ListServiceQuotas": quotas_answer(),
        "ListAccessEntries": json.dumps({"accessEntries": [role_arn]}).encode(),
        "SimulatePrincipalPolicy": simulate_answer(policy),
        "TerminateInstances": terminate_answer(policy),
    }
    return AwsAccount(ec2, iam, image_id, Calls(), answers, {})


@pytest.fixture
def aws_account(monkeypatch):
    """Returns make(policy=README's) -> AwsAccount; IAM is enforced from then on."""
    pytest.importorskip("moto")
    from moto import mock_aws, settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        def make(policy: dict | None = None) -> AwsAccount:
            account = build_account(monkeypatch, readme_policy() if policy is None else policy)
            # moto's IAM enforcement (moto docs, "IAM-like Access Control"): every request from
            # here on is checked against the caller's policies
            monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
            monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
            # moto recomputes SigV4 wrongly for EKS's REST paths (SignatureDoesNotMatch on a
            # correct request): the signature is not what these tests are about, the action is
            monkeypatch.setattr(IAMRequest, "check_signature", lambda self: None)
            return account

        yield make
