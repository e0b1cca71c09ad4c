"""AWS checks, all without side effects: who the credentials are (STS GetCallerIdentity); the
launch actions proved with `DryRun=True` (EC2 answers `DryRunOperation` when the call would
have been allowed and `UnauthorizedOperation` when not -- EC2 API reference, "DryRun"
parameter); `iam:PassRole` of the node role through the IAM policy simulator
(SimulatePrincipalPolicy); the EKS cluster, subnets, security groups, AMIs, the node role's
access entry or aws-auth mapping, user data; vCPU quotas (Service Quotas) for the families the
catalog would choose; live prices and their age.

The daemon's own calls go through providers/aws (its clients and discovery); the calls only
doctor makes (IAM, Service Quotas, EKS access entries, DescribeImages) are optional: denied,
they are a warning, not a ✗.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from autoscaler.doctor.report import Check, Status, fail, guarded, ok, run_steps, skip, warn

AREA = "AWS"
DENIED = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "UnauthorizedAccess"})
POLICY_FIX = "README 'Run it on EKS' lists the daemon's IAM policy"
PLACEHOLDER_INSTANCE = "i-0000000000000000f"  # never exists: an instance id in the documented shape
GPU_QUOTA_LETTERS = frozenset({"G", "VT", "P", "DL", "INF", "TRN", "F"})


def sdk_available() -> bool:
    return importlib.util.find_spec("boto3") is not None


@dataclass
class Account:
    """What the checks learn as they go, for the checks after them."""

    config: Any
    clients: Any
    discovery: Any
    arn: str = ""
    account: str = ""
    cluster: Any = None  # providers.aws.userdata.ClusterInfo
    cluster_raw: dict = field(default_factory=dict)
    subnets: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)  # arch -> AMI id
    node_role_arn: str = ""
    owned_instance: str = ""


def error_code(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code", ""))
    return ""


def describe_error(err: Exception) -> str:
    code = error_code(err)
    if code:
        message = str((err.response.get("Error") or {}).get("Message", ""))  # type: ignore[attr-defined]
        return f"{code}: {message[:200]}" if message else code
    return f"{type(err).__name__}: {err}"


def _failed_call(what: str, action: str, err: Exception, *, optional: bool = False) -> Check:
    """A read call that failed: denied (the policy lacks `action`), or unreachable."""
    code = error_code(err)
    if code in DENIED:
        fix = f"allow {action} to the daemon's role ({POLICY_FIX})" if not optional else \
            f"allow {action} to whoever runs doctor to check this (the daemon does not need it)"
        make = warn if optional else fail
        return make(AREA, what, f"{action} denied", fix)
    if not code:
        return fail(AREA, what, f"{action} failed: {describe_error(err)}",
                    "check network access to the AWS endpoints (VPC endpoints, proxy) and the credentials")
    make = warn if optional else fail
    return make(AREA, what, f"{action}: {describe_error(err)}", f"see the error above ({action})")


def checks(config: Any, target: Any = None, session: Any = None) -> list[Check]:
    from providers.aws.clients import AwsClients
    from providers.aws.discovery import Discovery

    clients = AwsClients(config.region, min(config.aws.api_timeout, 20.0), session=session)
    account = Account(config, clients, Discovery(clients, config.aws, config.cluster_name))
    found = guarded(AREA, "identity", lambda: identity(account))
    if any(c.status is Status.FAIL for c in found):
        return found  # without credentials every other call fails the same way
    return found + run_steps(AREA, [
        ("EKS cluster", lambda: eks_cluster(account)),
        ("subnets", lambda: subnets(account)),
        ("security groups", lambda: security_groups(account)),
        ("AMIs", lambda: images(account)),
        ("instances of the cluster", lambda: owned_instances(account)),
        ("other reads", lambda: other_reads(account)),
        ("launch permissions", lambda: dry_runs(account)),
        ("node role", lambda: node_role(account)),
        ("node role mapping", lambda: node_role_mapping(account, target)),
        ("user data", lambda: user_data(account)),
        ("vCPU quotas", lambda: quotas(account)),
        ("prices", lambda: prices(account)),
    ])


# ---- identity


def identity(account: Account) -> list[Check]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        answer = account.clients.client("sts").get_caller_identity()
    except NoCredentialsError:
        return [fail(AREA, "credentials", "none found in the SDK's chain",
                     "give the daemon an IAM role (IRSA: serviceAccount.awsRoleArn, or EKS Pod Identity); "
                     "locally: AWS_PROFILE or aws configure")]
    except (ClientError, BotoCoreError) as err:
        return [fail(AREA, "credentials", f"STS GetCallerIdentity: {describe_error(err)}",
                     "the credentials are invalid or expired: renew them (aws sts get-caller-identity shows the same)")]
    account.arn, account.account = answer["Arn"], answer["Account"]
    return [ok(AREA, "credentials", f"{account.arn} (account {account.account}, region {account.config.region})")]


# ---- discovery


def eks_cluster(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    name = account.config.cluster_name
    what = "EKS cluster"
    if account.config.aws.user_data_type == "Template":
        return [skip(AREA, what, "self-managed cluster (aws.userDataType Template): no EKS cluster to describe")]
    try:
        raw = account.clients.eks.describe_cluster(name=name)["cluster"]
        account.cluster = account.discovery.cluster()
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return [fail(AREA, what, f"no EKS cluster {name!r} in {account.config.region}",
                         "set clusterName to the EKS cluster's name and region to its region")]
        return [_failed_call(what, "eks:DescribeCluster", err)]
    account.cluster_raw = raw
    status = raw.get("status", "")
    detail = f"{name}: Kubernetes {raw.get('version', '?')}, {status or 'status unknown'}, {raw.get('endpoint', '')}"
    if status and status != "ACTIVE":
        return [warn(AREA, what, detail, "nodes can join only an ACTIVE cluster")]
    return [ok(AREA, what, detail)]


def subnets(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    what = "subnets"
    settings = account.config.aws
    try:
        account.subnets = account.discovery.subnets_by_zone()
    except ClientError as err:
        return [_failed_call(what, "ec2:DescribeSubnets", err)]
    how = "aws.subnets" if settings.subnets else \
        f"tag kubernetes.io/cluster/{account.config.cluster_name} or karpenter.sh/discovery={account.config.cluster_name}"
    if not account.subnets:
        return [fail(AREA, what, f"no subnet with free addresses found by {how}",
                     f"tag the node subnets with kubernetes.io/cluster/{account.config.cluster_name}=owned "
                     "(or karpenter.sh/discovery), or list them in aws.subnets")]
    zones = ", ".join(f"{zone}: {s.subnet_id} ({s.free_addresses} free)" for zone, s in sorted(account.subnets.items()))
    return [ok(AREA, what, f"by {how}: {zones}")]


def security_groups(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    what = "security groups"
    try:
        groups = account.discovery.security_groups()
    except ClientError as err:
        return [_failed_call(what, "ec2:DescribeSecurityGroups", err)]
    if not groups:
        return [fail(AREA, what, "none found by tag",
                     f"tag the node security group with kubernetes.io/cluster/{account.config.cluster_name} "
                     "(or karpenter.sh/discovery), or list it in aws.securityGroups")]
    return [ok(AREA, what, ", ".join(groups))]


def _representatives(config: Any) -> dict[str, Any]:
    """One instance type per kind of image the catalog would need: x86, Arm (when allowed),
    NVIDIA GPU (when the region has any)."""
    from pricing.catalog import catalog_settings, region_catalog

    catalog = region_catalog("aws", config.region, catalog_settings(config))
    chosen: dict[str, Any] = {}
    for offering in sorted(catalog.offerings, key=lambda o: o.price):
        itype = offering.instance_type
        if itype.arch == "arm64" and not config.include_arm_instance:
            continue
        kind = "gpu" if itype.gpu_count and (itype.gpu_manufacturer or "nvidia").lower() == "nvidia" else \
            "arm64" if itype.arch == "arm64" else "x86_64" if not itype.gpu_count else ""
        if kind and kind not in chosen and itype.vcpu * 1000 >= config.min_node_cpu:
            chosen[kind] = itype
    return chosen


def images(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    if account.config.aws.launch_template:
        return [skip(AREA, "AMIs", f"from the launch template {account.config.aws.launch_template}")]
    if account.cluster is None and not account.config.aws.ami_id_generic:
        return [skip(AREA, "AMIs", "the EKS-optimized AMI needs the cluster's version (see the EKS cluster line)")]
    results = []
    for kind, itype in _representatives(account.config).items():
        what = f"AMI for {kind}"
        try:
            image = account.discovery.ami_for(itype)
        except ClientError as err:
            results.append(_failed_call(what, "ssm:GetParameter", err) if error_code(err) != "ParameterNotFound" else
                           fail(AREA, what, f"no EKS-optimized AMI published for Kubernetes "
                                f"{account.cluster.version if account.cluster else '?'} ({err})",
                                "set aws.amiIdGeneric (and ...Arm / ...Gpu) to AMIs that join this cluster"))
            continue
        account.images[kind] = image
        results.append(_image_exists(account, what, image, itype.name))
    return results


def _image_exists(account: Account, what: str, image: str, example: str) -> Check:
    from botocore.exceptions import ClientError

    try:
        found = account.clients.ec2.describe_images(ImageIds=[image]).get("Images", [])
    except ClientError as err:
        if error_code(err).startswith("InvalidAMIID"):
            return fail(AREA, what, f"{image} does not exist in {account.config.region}",
                        "set aws.amiIdGeneric / aws.amiIdGenericArm / aws.amiIdGenericGpu to AMIs of this region")
        return ok(AREA, what, f"{image} (e.g. for {example}; ec2:DescribeImages not allowed to confirm it)")
    if not found:
        return fail(AREA, what, f"{image} is not visible to this account", "share the AMI with the account or choose another")
    state = found[0].get("State", "available")
    if state != "available":
        return fail(AREA, what, f"{image} is {state}", "choose an available AMI")
    return ok(AREA, what, f"{image} {found[0].get('Name', '')} (e.g. for {example})".rstrip())


def owned_instances(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    from providers.base import TAG_CLUSTER

    what = "instances of the cluster"
    try:
        pages = account.clients.ec2.get_paginator("describe_instances").paginate(Filters=[
            {"Name": f"tag:{TAG_CLUSTER}", "Values": [account.config.cluster_name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ])
        found = [i["InstanceId"] for page in pages for r in page.get("Reservations", []) for i in r.get("Instances", [])]
    except ClientError as err:
        return [_failed_call(what, "ec2:DescribeInstances", err)]
    account.owned_instance = found[0] if found else ""
    return [ok(AREA, what, f"{len(found)} running, tagged {TAG_CLUSTER}={account.config.cluster_name}")]


def other_reads(account: Account) -> list[Check]:
    """The daemon's reads no other line makes: zones per type, and its launch templates."""
    from botocore.exceptions import ClientError

    ec2 = account.clients.ec2
    reads: list[tuple[str, Callable[[], Any]]] = [
        ("ec2:DescribeInstanceTypeOfferings",
         lambda: ec2.describe_instance_type_offerings(LocationType="availability-zone", MaxResults=5)),
        ("ec2:DescribeLaunchTemplates", lambda: ec2.describe_launch_templates(MaxResults=5)),
    ]
    results = []
    for action, call in reads:
        try:
            call()
        except ClientError as err:
            results.append(_failed_call(action, action, err))
            continue
        results.append(ok(AREA, action, "allowed"))
    return results


# ---- permissions, proved with DryRun


def dry_run(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    """('allowed' | 'denied' | 'unproved', detail) for one EC2 call made with DryRun=True."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        call(DryRun=True, **params)
    except ClientError as err:
        code = error_code(err)
        if code == "DryRunOperation":
            return "allowed", "DryRunOperation"
        if code in DENIED:
            return "denied", code
        return "unproved", describe_error(err)
    except BotoCoreError as err:
        return "unproved", f"{type(err).__name__}: {err}"
    return "unproved", "EC2 answered a DryRun call without an error: nothing proved"


def dry_runs(account: Account) -> list[Check]:
    from providers.base import TAG_CLUSTER

    ec2 = account.clients.ec2
    settings = account.config.aws
    tags = [{"Key": TAG_CLUSTER, "Value": account.config.cluster_name}]
    subnet = next(iter(sorted(account.subnets.values(), key=lambda s: s.zone)), None)
    image = account.images.get("x86_64") or settings.ami_id_generic or "ami-00000000000000000"
    itype = _representatives(account.config).get("x86_64")
    instance = account.owned_instance or PLACEHOLDER_INSTANCE
    run_params: dict[str, Any] = {
        "ImageId": image, "InstanceType": itype.name if itype else "m5.large", "MinCount": 1, "MaxCount": 1,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
    }
    if subnet is not None:
        run_params["SubnetId"] = subnet.subnet_id
    if settings.node_instance_profile:
        profile = settings.node_instance_profile
        run_params["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
    template = ({"LaunchTemplateId": settings.launch_template} if settings.launch_template.startswith("lt-")
                else {"LaunchTemplateName": settings.launch_template or _generated_template(account)})
    fleet_params = {
        "Type": "instant",
        "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {**template, "Version": "$Default"},
                                   "Overrides": [{"InstanceType": run_params["InstanceType"],
                                                  **({"SubnetId": subnet.subnet_id} if subnet else {})}]}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
    }
    calls: list[tuple[str, Callable[..., Any], dict[str, Any], str]] = [
        ("ec2:CreateFleet", ec2.create_fleet, fleet_params, "launches every node"),
        ("ec2:RunInstances", ec2.run_instances, run_params, "CreateFleet launches through it"),
        ("ec2:CreateTags", ec2.create_tags, {"Resources": [instance], "Tags": tags}, "tags instances at launch"),
        ("ec2:TerminateInstances", ec2.terminate_instances, {"InstanceIds": [instance]}, "removes nodes it scaled down"),
    ]
    if not settings.launch_template:
        calls.insert(1, ("ec2:CreateLaunchTemplate", ec2.create_launch_template, {
            "LaunchTemplateName": f"smart-autoscaler-{account.config.cluster_name}-doctor",
            "LaunchTemplateData": {"ImageId": image}}, "makes the launch template of each node shape"))
    results = []
    for action, call, params, why in calls:
        outcome, detail = dry_run(call, **params)
        what = f"{action} (DryRun)"
        if outcome == "allowed":
            results.append(ok(AREA, what, "allowed"))
        elif outcome == "denied" and (action != "ec2:TerminateInstances" or account.owned_instance):
            results.append(fail(AREA, what, f"denied ({detail}) for {account.arn}",
                                f"allow {action} to the daemon's role: it {why} ({POLICY_FIX}); "
                                "aws sts decode-authorization-message shows which statement refused it"))
        elif action == "ec2:TerminateInstances" and not account.owned_instance:  # a tag condition cannot match
            results.append(warn(AREA, what, f"no instance of the cluster to prove it on ({detail})",
                                "proved once an instance tagged for the cluster runs (the policy may limit it by tag)"))
        else:
            results.append(warn(AREA, what, f"not proved: EC2 answered {detail}",
                                "EC2 checked the request before the permission (CreateFleet needs a launch template "
                                "the provider made: proved after the first launch); check the policy by hand"))
    return results


def _generated_template(account: Account) -> str:
    """A launch template the provider generated earlier (EC2 checks CreateFleet's template
    before its permission), else a name that does not exist yet."""
    from botocore.exceptions import ClientError

    from providers.aws.launch import TEMPLATE_PREFIX

    prefix = f"{TEMPLATE_PREFIX}-{account.config.cluster_name}-"
    try:
        found = account.clients.ec2.describe_launch_templates(
            Filters=[{"Name": "launch-template-name", "Values": [f"{prefix}*"]}]).get("LaunchTemplates", [])
    except ClientError:
        found = []
    return found[0]["LaunchTemplateName"] if found else f"{prefix}doctor"


# ---- node role


def _role_of(arn: str) -> str:
    """The IAM role ARN behind an assumed-role session ARN (IAM policy simulator's source)."""
    match = re.match(r"^arn:([\w-]+):sts::(\d+):assumed-role/([^/]+)/", arn)
    return f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}" if match else arn


def node_role(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    settings = account.config.aws
    what = "node instance profile"
    if not settings.node_instance_profile:
        if settings.launch_template:
            return [skip(AREA, what, f"the launch template {settings.launch_template} names it")]
        if settings.user_data_type == "Template":
            return [warn(AREA, what, "aws.nodeInstanceProfile is not set: nodes start without an IAM role",
                         "set aws.nodeInstanceProfile if your nodes need one to join")]
        return [fail(AREA, what, "aws.nodeInstanceProfile is not set: EKS nodes need an IAM role to join",
                     "set aws.nodeInstanceProfile to the instance profile of the node role (README 'Run it on EKS', step 2)")]
    iam = account.clients.client("iam")
    name = settings.node_instance_profile.rsplit("/", 1)[-1]
    try:
        roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Roles", [])
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return [fail(AREA, what, f"no instance profile {name!r}", "set aws.nodeInstanceProfile to an existing instance profile")]
        return [_failed_call(what, "iam:GetInstanceProfile", err, optional=True)]
    if not roles:
        return [fail(AREA, what, f"{name} holds no role", f"aws iam add-role-to-instance-profile --instance-profile-name {name} --role-name NODE_ROLE")]
    account.node_role_arn = roles[0]["Arn"]
    return [ok(AREA, what, f"{name} -> {account.node_role_arn}"), *_pass_role(account)]


def _pass_role(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    what = "iam:PassRole of the node role"
    source = _role_of(account.arn)
    try:
        answer = account.clients.client("iam").simulate_principal_policy(
            PolicySourceArn=source, ActionNames=["iam:PassRole"], ResourceArns=[account.node_role_arn])
    except ClientError as err:
        return [_failed_call(what, "iam:SimulatePrincipalPolicy", err, optional=True)]
    decisions = {r.get("EvalResourceName", ""): r.get("EvalDecision", "") for r in answer.get("EvaluationResults", [])}
    decision = decisions.get(account.node_role_arn) or next(iter(decisions.values()), "")
    if decision == "allowed":
        return [ok(AREA, what, f"allowed for {source} (IAM policy simulator)")]
    return [fail(AREA, what, f"{decision or 'no decision'} for {source} (IAM policy simulator)",
                 f"allow iam:PassRole on {account.node_role_arn} to the daemon's role ({POLICY_FIX})")]


def node_role_mapping(account: Account, target: Any) -> list[Check]:
    """The node role may join: an EKS access entry (authentication mode API*), or a mapRoles
    entry of kube-system/aws-auth (CONFIG_MAP)."""
    from botocore.exceptions import ClientError

    what = "node role mapped in the cluster"
    if account.cluster is None or not account.node_role_arn:
        return [skip(AREA, what, "needs the EKS cluster and the node role (lines above)")]
    mode = ((account.cluster_raw.get("accessConfig") or {}).get("authenticationMode") or "").upper()
    wanted = _without_path(account.node_role_arn)
    if mode != "CONFIG_MAP":
        try:
            entries = account.clients.eks.list_access_entries(clusterName=account.config.cluster_name).get("accessEntries", [])
        except ClientError as err:
            if error_code(err) != "InvalidRequestException" or mode == "API":
                return [_failed_call(what, "eks:ListAccessEntries", err, optional=True)]
            entries = None  # the cluster uses aws-auth only
        if entries is not None:
            if wanted in {_without_path(e) for e in entries}:
                return [ok(AREA, what, f"access entry for {account.node_role_arn}")]
            if mode == "API":
                return [fail(AREA, what, f"no access entry for {account.node_role_arn} (authentication mode API)",
                             f"aws eks create-access-entry --cluster-name {account.config.cluster_name} "
                             f"--principal-arn {account.node_role_arn} --type EC2_LINUX")]
    return _aws_auth(account, target, wanted, what)


def _without_path(arn: str) -> str:
    match = re.match(r"^(arn:[\w-]+:iam::\d+:role/)(?:.*/)?([^/]+)$", arn)
    return f"{match.group(1)}{match.group(2)}" if match else arn


def _aws_auth(account: Account, target: Any, wanted: str, what: str) -> list[Check]:
    import yaml

    fix = (f"aws eks create-access-entry --cluster-name {account.config.cluster_name} --principal-arn "
           f"{account.node_role_arn} --type EC2_LINUX (or a mapRoles entry in kube-system/aws-auth)")
    if target is None:
        return [warn(AREA, what, "no access entry; aws-auth not read (no Kubernetes connection)", fix)]
    from kubernetes.client import CoreV1Api

    try:
        config_map = CoreV1Api(target.api_client).read_namespaced_config_map("aws-auth", "kube-system", _request_timeout=15)
    except Exception as err:  # noqa: BLE001
        status = getattr(err, "status", None)
        if status == 404:
            return [fail(AREA, what, f"no access entry and no kube-system/aws-auth for {account.node_role_arn}", fix)]
        return [warn(AREA, what, f"no access entry; kube-system/aws-auth not readable (HTTP {status})",
                     "check it: kubectl -n kube-system get configmap aws-auth -o yaml")]
    roles = yaml.safe_load((config_map.data or {}).get("mapRoles") or "[]") or []
    if any(isinstance(r, dict) and _without_path(str(r.get("rolearn", ""))) == wanted for r in roles):
        return [ok(AREA, what, f"kube-system/aws-auth maps {account.node_role_arn}")]
    return [fail(AREA, what, f"{account.node_role_arn} is in neither an access entry nor aws-auth", fix)]


def user_data(account: Account) -> list[Check]:
    from providers.aws.userdata import (NodeBootstrap, UserDataError, bottlerocket_user_data, encode,
                                        nodeadm_user_data, template_user_data)

    settings = account.config.aws
    what = "user data renders"
    if settings.launch_template:
        return [skip(AREA, what, f"from the launch template {settings.launch_template}")]
    node = NodeBootstrap(labels=dict(account.config.node_labels), taints=(), max_pods=110)
    try:
        if settings.user_data_type == "Template":
            text = template_user_data(settings.user_data, account.config.cluster_name, node)
        elif account.cluster is None:
            return [skip(AREA, what, "needs the EKS cluster (line above)")]
        elif settings.ami_family == "Bottlerocket":
            text = bottlerocket_user_data(account.cluster, node)
        else:
            text = nodeadm_user_data(account.cluster, node)
    except UserDataError as err:
        return [fail(AREA, what, str(err), "correct aws.userData")]
    size = len(text.encode())
    if size > 16 * 1024:  # EC2 user data: at most 16 KB before base64 encoding
        return [fail(AREA, what, f"{size} bytes: EC2 accepts at most 16 KB", "shorten aws.userData")]
    kind = "template" if settings.user_data_type == "Template" else settings.ami_family
    return [ok(AREA, what, f"{kind}, {size} bytes ({len(encode(text))} base64)")]


# ---- quotas and prices


def quota_letters(name: str) -> frozenset[str]:
    """The instance-family letters an EC2 vCPU quota covers, from its published name:
    'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances' -> {A, C, ...},
    'All G and VT Spot Instance Requests' -> {G, VT}."""
    match = re.match(r"^(?:Running On-Demand (.+) instances|All (.+) Spot Instance Requests)$", name)
    if not match:
        return frozenset()
    text = match.group(1) or match.group(2)
    inner = re.search(r"\(([^)]*)\)", text)
    text = inner.group(1) if inner else text
    return frozenset(part.strip().upper() for part in re.split(r",| and ", text) if part.strip())


def family_letters(family: str) -> str:
    """`m7i-flex` -> M, `inf2` -> INF, `g6e` -> G, `vt1` -> VT."""
    match = re.match(r"^([a-z]+)", family.lower())
    return match.group(1).upper() if match else ""


def quotas(account: Account) -> list[Check]:
    from botocore.exceptions import ClientError

    from pricing.catalog import catalog_settings, region_catalog

    config = account.config
    try:
        listed = []
        for page in account.clients.client("service-quotas").get_paginator("list_service_quotas").paginate(ServiceCode="ec2"):
            listed += page.get("Quotas", [])
    except ClientError as err:
        return [_failed_call("vCPU quotas", "servicequotas:ListServiceQuotas", err, optional=True)]
    vcpu_quotas = [(q, quota_letters(q.get("QuotaName", ""))) for q in listed]
    vcpu_quotas = [(q, letters) for q, letters in vcpu_quotas if letters]
    catalog = region_catalog("aws", config.region, catalog_settings(config))
    families = {o.instance_type.family for o in catalog.offerings
                if o.instance_type.arch == "amd64" or config.include_arm_instance}
    results = []
    for quota, letters in sorted(vcpu_quotas, key=lambda item: item[0].get("QuotaName", "")):
        used = sorted(f for f in families if family_letters(f) in letters)
        if not used:
            continue
        value = float(quota.get("Value", 0))
        what = f"quota {quota['QuotaName']}"
        detail = f"{value:g} vCPUs ({quota.get('QuotaCode', '')}), for {', '.join(used[:6])}{' ...' if len(used) > 6 else ''}"
        fix = (f"request an increase: aws service-quotas request-service-quota-increase --service-code ec2 "
               f"--quota-code {quota.get('QuotaCode', '')} --desired-value N")
        if value > 0:
            results.append(ok(AREA, what, detail))
        elif letters & GPU_QUOTA_LETTERS:
            results.append(warn(AREA, what, f"{detail}: pods that need these types stay pending", fix))
        else:
            results.append(fail(AREA, what, f"{detail}: no node of these families can launch", fix))
    return results or [warn(AREA, "vCPU quotas", "Service Quotas listed no EC2 vCPU quota for this region")]


def prices(account: Account, now: datetime | None = None) -> list[Check]:
    from botocore.exceptions import BotoCoreError, ClientError

    from providers.aws.prices import on_demand_filters

    config = account.config
    now = now or datetime.now(timezone.utc)
    if not config.aws.live_prices:
        return [skip(AREA, "live prices", "aws.livePrices is false: the embedded catalog's prices are used")]
    results = []
    try:
        page = account.clients.pricing.get_products(ServiceCode="AmazonEC2", Filters=on_demand_filters(config.region),
                                                    FormatVersion="aws_v1", MaxResults=1)
        items = page.get("PriceList", [])
        published = _published(items[0]) if items else None
        age = f", published {published:%Y-%m-%d}" if published else ""
        results.append(ok(AREA, "on-demand prices (Price List API)", f"reachable{age}") if items else
                       warn(AREA, "on-demand prices (Price List API)", f"no product for {config.region}",
                            "the embedded catalog answers; check the region name"))
    except (ClientError, BotoCoreError) as err:
        results.append(_price_failure("on-demand prices (Price List API)", "pricing:GetProducts", err))
    try:
        sample = _representatives(config).get("x86_64")
        history = account.clients.ec2.describe_spot_price_history(
            ProductDescriptions=["Linux/UNIX"], StartTime=now - timedelta(hours=6), MaxResults=50,
            **({"InstanceTypes": [sample.name]} if sample else {})).get("SpotPriceHistory", [])
        stamps = [h["Timestamp"] for h in history if h.get("Timestamp")]
        if stamps:
            newest = max(stamps)
            newest = newest if newest.tzinfo else newest.replace(tzinfo=timezone.utc)
            results.append(ok(AREA, "spot prices (spot price history)", f"newest {_age(now - newest)} old"))
        else:
            results.append(warn(AREA, "spot prices (spot price history)", "no spot price in the last 6 hours",
                                "spot is estimated as on-demand x spotPriceRatioEstimate until prices are seen"))
    except (ClientError, BotoCoreError) as err:
        results.append(_price_failure("spot prices (spot price history)", "ec2:DescribeSpotPriceHistory", err))
    return results


def _price_failure(what: str, action: str, err: Exception) -> Check:
    check = _failed_call(what, action, err)
    # Prices are not needed to launch: the embedded catalog answers, so this is a warning.
    return warn(AREA, what, f"{check.detail}; the embedded catalog's prices answer", check.fix)


def _published(item: Any) -> datetime | None:
    import json

    try:
        product = json.loads(item) if isinstance(item, str) else item
        return datetime.fromisoformat(str(product["publicationDate"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
