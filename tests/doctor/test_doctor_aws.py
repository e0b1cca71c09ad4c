"""`doctor`'s AWS part against moto with IAM enforced: the README's policy passes; each action
taken out of it is named with a ✗; nothing doctor does changes the account."""

from __future__ import annotations

import json

import pytest

from autoscaler.doctor.report import Report, Status
from tests.doctor.aws_account import CLUSTER, NODE_PROFILE, REGION, readme_policy, without_action

pytest.importorskip("boto3")


def config(**aws_options):
    from autoscaler.config import config_from_mapping

    options = {"nodeInstanceProfile": NODE_PROFILE, **aws_options}
    return config_from_mapping({"cloud": "aws", "region": REGION, "clusterName": CLUSTER, "aws": options})


def run_aws(account, cfg=None) -> Report:
    from autoscaler.doctor import aws

    report = Report()
    report.add(aws.checks(cfg or config(), None, session=account.session()))
    return report


def launch_tagged(account) -> str:
    """An instance the daemon launched earlier, tagged for the cluster (made in moto's backend:
    the test's own setup, not a call doctor makes)."""
    from moto.ec2.models import ec2_backends

    from tests.doctor.aws_account import ACCOUNT

    backend = ec2_backends[ACCOUNT][REGION]
    reservation = backend.run_instances(account.image_id, 1, None, [], instance_type="m5.large",
                                        is_instance_type_default=False, region_name=REGION,
                                        tags={"instance": {"smart-autoscaler.io/cluster": CLUSTER}})
    return reservation.instances[0].id


def line(report: Report, what: str):
    found = [c for c in report.checks if c.what == what]
    assert found, f"no line {what!r} in:\n{report.to_table()}"
    return found[0]


def failed(report: Report) -> list[str]:
    return [c.what for c in report.checks if c.status is Status.FAIL]


def test_the_readme_policy_passes_and_nothing_is_changed(aws_account):
    # given an account whose daemon user holds exactly the README's policy
    account = aws_account()
    # when doctor checks it
    report = run_aws(account)
    # then nothing is ✗: identity, cluster, discovery, DryRun launches, PassRole, access entry, user data, prices
    assert failed(report) == [], report.to_table()
    for what in ("credentials", "EKS cluster", "subnets", "security groups", "ec2:CreateFleet (DryRun)",
                 "ec2:RunInstances (DryRun)", "ec2:CreateTags (DryRun)", "ec2:CreateLaunchTemplate (DryRun)",
                 "iam:PassRole of the node role", "node role mapped in the cluster", "user data renders",
                 "on-demand prices (Price List API)"):
        assert line(report, what).status is Status.OK, report.to_table()
    assert "us-west-2a: subnet-" in line(report, "subnets").detail and "251 free" in line(report, "subnets").detail
    assert line(report, "user data renders").detail.startswith("AL2023")
    # the launches were only DryRuns: the account has no instance, template or tag it did not have
    assert account.calls.mutating() == []
    assert {name for _, name, dry in account.calls.made if dry} >= {"CreateFleet", "RunInstances", "CreateTags", "TerminateInstances"}
    from moto.ec2.models import ec2_backends

    from tests.doctor.aws_account import ACCOUNT

    backend = ec2_backends[ACCOUNT][REGION]
    assert backend.launch_templates == {} and list(backend.all_instances()) == []


def test_the_p_family_quota_of_zero_is_a_warning_not_a_failure(aws_account):
    report = run_aws(aws_account())
    p_quota = line(report, "quota Running On-Demand P instances")
    assert p_quota.status is Status.WARN and "0 vCPUs (L-417A185B)" in p_quota.detail and "p5" in p_quota.detail
    assert line(report, "quota Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances").detail.startswith("640 vCPUs")


@pytest.mark.parametrize("action", ["ec2:CreateFleet", "ec2:RunInstances", "ec2:CreateTags", "ec2:CreateLaunchTemplate"])
def test_an_action_missing_from_the_policy_is_named(aws_account, action):
    # given the README's policy without one launch action
    account = aws_account(without_action(readme_policy(), action))
    report = run_aws(account)
    # then exactly that DryRun line is ✗, with the action and the fix, and doctor's exit code is 1
    assert failed(report) == [f"{action} (DryRun)"], report.to_table()
    check = line(report, f"{action} (DryRun)")
    assert "denied" in check.detail and f"allow {action}" in check.fix
    assert report.exit_code() == 1
    assert account.calls.mutating() == []


def test_terminate_is_proved_on_an_instance_of_the_cluster(aws_account):
    account = aws_account()
    # an instance the daemon launched earlier (tagged for the cluster), made before IAM is enforced
    from moto.ec2.models import ec2_backends

    from tests.doctor.aws_account import ACCOUNT

    backend = ec2_backends[ACCOUNT][REGION]
    instance = launch_tagged(account)
    report = run_aws(account)
    assert line(report, "ec2:TerminateInstances (DryRun)").status is Status.OK
    assert backend.get_instance(instance).state == "running"  # a DryRun only


def test_terminate_limited_to_another_cluster_is_denied(aws_account):
    policy = readme_policy()
    for statement in policy["Statement"]:
        if statement["Sid"] == "TerminateOwnInstances":
            statement["Condition"]["StringEquals"]["aws:ResourceTag/smart-autoscaler.io/cluster"] = "other"
    account = aws_account(policy)
    launch_tagged(account)
    report = run_aws(account)
    assert failed(report) == ["ec2:TerminateInstances (DryRun)"], report.to_table()


def test_pass_role_missing_is_named_with_the_node_role(aws_account):
    report = run_aws(aws_account(without_action(readme_policy(), "iam:PassRole")))
    check = line(report, "iam:PassRole of the node role")
    assert check.status is Status.FAIL and "implicitDeny" in check.detail
    assert "arn:aws:iam::123456789012:role/eks-nodes" in check.fix


def test_a_missing_instance_profile_and_no_option_are_failures(aws_account):
    account = aws_account()
    assert line(run_aws(account, config(nodeInstanceProfile="no-such-profile")), "node instance profile").status is Status.FAIL
    unset = line(run_aws(account, config(nodeInstanceProfile="")), "node instance profile")
    assert unset.status is Status.FAIL and "aws.nodeInstanceProfile" in unset.fix


def test_untagged_subnets_and_an_unknown_cluster(aws_account):
    from autoscaler.config import config_from_mapping

    account = aws_account()
    cfg = config_from_mapping({"cloud": "aws", "region": REGION, "clusterName": "elsewhere",
                               "aws": {"nodeInstanceProfile": NODE_PROFILE}})
    report = run_aws(account, cfg)
    assert line(report, "EKS cluster").status is Status.FAIL and "no EKS cluster 'elsewhere'" in line(report, "EKS cluster").detail
    subnets = line(report, "subnets")
    assert subnets.status is Status.FAIL and "kubernetes.io/cluster/elsewhere" in subnets.fix
    assert line(report, "security groups").status is Status.FAIL


def test_a_node_role_without_access_entry_is_not_reported_mapped(aws_account):
    account = aws_account()
    account.answers["ListAccessEntries"] = json.dumps({"accessEntries": []}).encode()
    check = line(run_aws(account), "node role mapped in the cluster")
    assert check.status is not Status.OK and "create-access-entry" in check.fix


def test_a_standard_quota_of_zero_fails(aws_account):
    from tests.doctor.aws_account import quotas_answer

    account = aws_account()
    account.answers["ListServiceQuotas"] = quotas_answer([
        ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 0.0)])
    check = line(run_aws(account), "quota Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances")
    assert check.status is Status.FAIL and "--quota-code L-1216C47A" in check.fix


def test_doctor_only_reads_are_warnings_when_denied(aws_account):
    # Service Quotas and the IAM simulator are doctor's own reads: the daemon does not need them
    account = aws_account()
    account.failures["ListServiceQuotas"] = ("AccessDeniedException", 400)
    account.failures["SimulatePrincipalPolicy"] = ("AccessDenied", 403)
    report = run_aws(account)
    assert line(report, "vCPU quotas").status is Status.WARN
    assert line(report, "iam:PassRole of the node role").status is Status.WARN
    assert failed(report) == []


def test_prices_denied_are_a_warning_the_catalog_answers(aws_account):
    account = aws_account(without_action(readme_policy(), "pricing:GetProducts"))
    account.answers.pop("GetProducts")
    account.failures["GetProducts"] = ("AccessDeniedException", 400)
    check = line(run_aws(account), "on-demand prices (Price List API)")
    assert check.status is Status.WARN and "embedded catalog" in check.detail


def test_no_credentials_is_one_failure_line(monkeypatch, aws_account):
    account = aws_account()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    report = run_aws(account)
    assert [(c.what, c.status) for c in report.checks] == [("credentials", Status.FAIL)]
    assert "IRSA" in report.checks[0].fix


def test_unknown_credentials_are_refused(monkeypatch, aws_account):
    account = aws_account()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    report = run_aws(account)
    assert report.checks[0].status is Status.FAIL and "GetCallerIdentity" in report.checks[0].detail


@pytest.mark.parametrize("mapped, status", [(True, Status.OK), (False, Status.FAIL)])
def test_a_config_map_cluster_maps_the_node_role_in_aws_auth(aws_account, mapped, status):
    # given a cluster in CONFIG_MAP authentication mode: EKS refuses ListAccessEntries
    # (InvalidRequestException), and kube-system/aws-auth holds the mapRoles
    from autoscaler.doctor.kube import KubeTarget
    from tests.kube.fakeapi import FakeApiServer, Reply

    account = aws_account()
    account.answers.pop("ListAccessEntries")
    account.failures["ListAccessEntries"] = ("InvalidRequestException", 400)
    role = "arn:aws:iam::123456789012:role/eks-nodes" if mapped else "arn:aws:iam::123456789012:role/other"
    roles = f"- rolearn: {role}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups: [system:bootstrappers, system:nodes]\n"
    server = FakeApiServer()
    try:
        server.on("GET", "/api/v1/namespaces/kube-system/configmaps/aws-auth",
                  Reply(200, {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "aws-auth"}, "data": {"mapRoles": roles}}))
        from autoscaler.doctor import aws

        checks = {c.what: c for c in aws.checks(config(), KubeTarget(server.api_client(), server.url), session=account.session())}
    finally:
        server.close()
    check = checks["node role mapped in the cluster"]
    assert check.status is status, check
    assert ("kube-system/aws-auth maps" in check.detail) is mapped


def test_an_ami_parameter_not_published_and_a_user_data_template_with_an_unknown_field(aws_account):
    account = aws_account()
    account.answers.pop("GetParameter")
    account.failures["GetParameter"] = ("ParameterNotFound", 400)
    report = run_aws(account)
    ami = line(report, "AMI for x86_64")
    assert ami.status is Status.FAIL and "aws.amiIdGeneric" in ami.fix
    # a self-managed cluster's template naming a field Luna's templates do not have
    report = run_aws(account, config(userDataType="Template", userData="#!/bin/sh\njoin --labels {{.Labels}} --zone {{.Zone}}\n"))
    user_data = line(report, "user data renders")
    assert user_data.status is Status.FAIL and "{{.Zone}}" in user_data.detail


def test_a_read_the_daemon_needs_is_named_when_denied(aws_account):
    report = run_aws(aws_account(without_action(readme_policy(), "ec2:DescribeInstanceTypeOfferings")))
    assert failed(report) == ["ec2:DescribeInstanceTypeOfferings"], report.to_table()
    assert "allow ec2:DescribeInstanceTypeOfferings" in line(report, "ec2:DescribeInstanceTypeOfferings").fix
