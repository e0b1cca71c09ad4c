"""AwsProvider against moto in-process: launch, alternatives, idempotency, joining, terminate, list."""

from __future__ import annotations

import pytest

from pricing.catalog import region_catalog
from pricing.types import Taint
from providers.aws.userdata import node_config_from_user_data
from providers.base import InsufficientCapacity, LaunchAlternative, LaunchRequest
from tests.providers.aws.conftest import CLUSTER, EKS_AMI, REGION

CATALOG = region_catalog("aws", REGION)
TYPES = {o.instance_type.name: o.instance_type for o in CATALOG.offerings}
ZONES = ("us-west-2a", "us-west-2b")


def request(type_name: str = "m5.large", capacity: str = "on-demand", request_id: str = "req-1", zones=ZONES,
            alternatives: tuple[str, ...] = (), **extra) -> LaunchRequest:
    return LaunchRequest(
        request_id=request_id,
        instance_type=TYPES[type_name],
        capacity_type=capacity,
        zones=zones,
        labels={"smart-autoscaler.io/node-type": "bin-pack", "node.kubernetes.io/instance-type": type_name, "team": "ml"},
        taints=(Taint("dedicated", "ml", "NoSchedule"),),
        tags={"smart-autoscaler.io/cluster": CLUSTER, "smart-autoscaler.io/node-type": "bin-pack"},
        alternatives=tuple(LaunchAlternative(TYPES[name], capacity, zones, 0.1 * (i + 2)) for i, name in enumerate(alternatives)),
        **extra,
    )


def test_a_launch_starts_one_tagged_instance_that_joins_the_eks_cluster(aws):
    provider = aws.provider()
    # when one on-demand m5.large is launched
    instance = provider.launch(request())
    # then EC2 runs one m5.large in a discovered subnet, with the EKS-optimized AMI
    (ec2_instance,) = aws.instances()
    assert (instance.instance_type, instance.capacity_type) == ("m5.large", "on-demand")
    assert instance.zone in ZONES and instance.provider_id == f"aws:///{instance.zone}/{instance.instance_id}"
    assert ec2_instance["SubnetId"] == aws.subnets[instance.zone] and ec2_instance["ImageId"] == EKS_AMI
    tags = {t["Key"]: t["Value"] for t in ec2_instance["Tags"]}
    assert tags["smart-autoscaler.io/cluster"] == CLUSTER and tags["smart-autoscaler.io/request-id"] == "req-1"
    assert tags["smart-autoscaler.io/capacity-type"] == "on-demand" and tags["Name"] == "demo-bin-pack"
    # and its user data is an AL2023 NodeConfig with the cluster, labels, taints and max pods
    config = node_config_from_user_data(aws.user_data(instance.instance_id))
    assert config["spec"]["cluster"]["name"] == CLUSTER and config["spec"]["cluster"]["cidr"] == "10.100.0.0/16"
    assert config["spec"]["kubelet"]["config"]["maxPods"] == TYPES["m5.large"].max_pods == 29
    assert config["spec"]["kubelet"]["config"]["registerWithTaints"] == [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]
    assert "team=ml" in config["spec"]["kubelet"]["flags"][0]
    assert aws.faults.calls["CreateFleet"] == 1


def test_the_same_launch_attempt_twice_gives_one_instance(aws):
    provider = aws.provider()
    first = provider.launch(request(request_id="attempt-7"))
    again = provider.launch(request(request_id="attempt-7"))
    assert again.instance_id == first.instance_id
    assert len(aws.instances()) == 1 and aws.faults.calls["CreateFleet"] == 1


def test_a_stockout_of_the_cheapest_type_is_ridden_out_by_the_next_override_in_one_call(aws):
    provider = aws.provider()
    aws.faults.stocked_out = {"m5.large"}
    # given m5.large (cheapest) and m5a.large, m6i.large as equivalent alternatives
    instance = provider.launch(request(alternatives=("m5a.large", "m6i.large")))
    # then EC2 delivered the next offering, in one CreateFleet call
    assert instance.instance_type == "m5a.large"
    assert aws.faults.calls["CreateFleet"] == 1
    (ec2_instance,) = aws.instances()
    assert ec2_instance["InstanceType"] == "m5a.large"
    # and the stocked-out override comes back as a typed failure per zone, to be backed off
    skipped = {(scope.label, err.kind) for err in instance.skipped for scope in err.scopes}
    assert skipped == {("m5.large/on-demand/us-west-2a", "insufficient-capacity"), ("m5.large/on-demand/us-west-2b", "insufficient-capacity")}
    # and the shared user data leaves out the type's own label (the kubelet sets it)
    flags = node_config_from_user_data(aws.user_data(instance.instance_id))["spec"]["kubelet"]["flags"][0]
    assert "instance-type" not in flags and "team=ml" in flags


def test_every_override_stocked_out_is_one_insufficient_capacity_failure_and_no_instance(aws):
    provider = aws.provider()
    aws.faults.stocked_out = {"m5.large", "m5a.large"}
    with pytest.raises(InsufficientCapacity) as failure:
        provider.launch(request(alternatives=("m5a.large",)))
    labels = {scope.label for scope in failure.value.scopes}
    assert labels == {f"{t}/on-demand/{z}" for t in ("m5.large", "m5a.large") for z in ZONES}
    assert failure.value.code == "InsufficientInstanceCapacity"
    assert aws.instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]) == []


def test_spot_launches_ask_for_price_capacity_optimized_spot(aws):
    provider = aws.provider()
    instance = provider.launch(request("c5.xlarge", capacity="spot", request_id="spot-1"))
    (ec2_instance,) = aws.instances()
    assert instance.capacity_type == "spot" and ec2_instance.get("InstanceLifecycle") == "spot"
    assert [i.capacity_type for i in provider.list_instances()] == ["spot"]


def test_no_subnet_in_the_offered_zones_is_insufficient_capacity_there(aws):
    provider = aws.provider()
    with pytest.raises(InsufficientCapacity, match="no subnet with free addresses in us-west-2c"):
        provider.launch(request(zones=("us-west-2c",)))  # its only subnet carries no discovery tag


def test_explicit_subnets_and_security_groups_are_used_as_given(aws):
    provider = aws.provider(subnets=[aws.untagged_subnet], securityGroups=[aws.security_group])
    instance = provider.launch(request(zones=("us-west-2c",)))
    assert instance.zone == "us-west-2c"
    (ec2_instance,) = aws.instances()
    assert ec2_instance["SubnetId"] == aws.untagged_subnet


def test_terminate_is_quiet_when_the_instance_is_already_gone_and_list_shows_only_live_owned_instances(aws):
    provider = aws.provider()
    kept = provider.launch(request(request_id="a"))
    removed = provider.launch(request(request_id="b"))
    # an instance of another cluster is never listed
    aws.ec2.run_instances(ImageId=EKS_AMI, MinCount=1, MaxCount=1, InstanceType="m5.large",
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "smart-autoscaler.io/cluster", "Value": "other"}]}])
    provider.terminate(removed.instance_id)
    provider.terminate(removed.instance_id)
    provider.terminate("i-0123456789abcdef0")  # never existed
    listed = provider.list_instances()
    assert [(i.instance_id, i.request_id, i.zone) for i in listed] == [(kept.instance_id, "a", kept.zone)]
    assert listed[0].provider_id == kept.provider_id and listed[0].alive


def test_list_instances_reads_every_page(aws):
    provider = aws.provider()
    tags = [{"Key": "smart-autoscaler.io/cluster", "Value": CLUSTER}]
    for _ in range(3):
        aws.ec2.run_instances(ImageId=EKS_AMI, MinCount=2, MaxCount=2, InstanceType="t3.large",
                              TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    provider.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DescribeInstances", lambda params, **_: params.update(MaxResults=5)
    )
    assert len(provider.list_instances()) == 6


def test_self_managed_clusters_get_the_template_user_data_and_the_generic_ami(aws):
    template = "#!/bin/bash\nrke2-agent --node-label '{{ .Labels }}' --node-taint '{{.Taints}}' --kubelet-arg max-pods={{.MaxPods}}\n"
    provider = aws.provider(userDataType="Template", userData=template, amiIdGeneric="ami-0123456789abcdef0")
    instance = provider.launch(request())
    (ec2_instance,) = aws.instances()
    assert ec2_instance["ImageId"] == "ami-0123456789abcdef0"
    text = aws.user_data(instance.instance_id)
    assert "--node-taint 'dedicated=ml:NoSchedule'" in text and "max-pods=29" in text
    assert "smart-autoscaler.io/node-type=bin-pack" in text and "team=ml" in text
    assert aws.faults.calls.get("DescribeCluster", 0) == 0


def test_a_template_with_an_unknown_field_is_refused_naming_it():
    from autoscaler.config import config_from_mapping
    from providers.aws import create_provider

    config = config_from_mapping({"aws": {"userDataType": "Template", "userData": "x {{.NodeName}}"}})
    with pytest.raises(ValueError, match=r"unknown template field '\{\{.NodeName\}\}'"):
        create_provider(config=config)


def test_bottlerocket_nodes_get_toml_settings(aws):
    provider = aws.provider(amiFamily="Bottlerocket")
    instance = provider.launch(request())
    text = aws.user_data(instance.instance_id)
    assert '[settings.kubernetes]' in text and 'cluster-name = "demo"' in text
    assert 'cluster-dns-ip = "10.100.0.10"' in text and "max-pods = 29" in text
    assert '"team" = "ml"' in text and '"dedicated" = ["ml:NoSchedule"]' in text


def test_launches_from_ten_threads_at_once_each_get_their_own_instance(aws):
    from concurrent.futures import ThreadPoolExecutor

    provider = aws.provider()
    with ThreadPoolExecutor(max_workers=10) as pool:
        launched = list(pool.map(lambda i: provider.launch(request(request_id=f"parallel-{i}")), range(10)))
    assert len({i.instance_id for i in launched}) == 10
    assert sorted(i.request_id for i in provider.list_instances()) == sorted(f"parallel-{i}" for i in range(10))
    # one generated launch template serves them all
    templates = aws.ec2.describe_launch_templates()["LaunchTemplates"]
    assert len(templates) == 1 and templates[0]["LaunchTemplateName"].startswith("smart-autoscaler-demo-")


def test_a_burst_of_ten_launches_on_a_cold_start_looks_up_the_account_once(aws):
    """Given a provider that has not looked at the account yet and ten launches that reach it
    together (the loop's executor, maxConcurrentLaunches 10), when they run, then EC2 and EKS
    are asked once for the subnets, the security groups, the cluster and the launch template
    (not once per launch thread, which would spend the account's API rate on a burst), and each
    launch still gets its own instance."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    provider = aws.provider()
    together = threading.Barrier(10, timeout=30)  # every launch is past its own look-up at once
    second_look = threading.Event()
    lookups: list[str] = []

    def hold_first_subnet_lookup(model, **_):
        lookups.append(model.name)
        if model.name == "DescribeInstances" and lookups.count("DescribeInstances") <= 10:
            together.wait()
        if model.name == "DescribeSubnets":
            if lookups.count("DescribeSubnets") > 1:
                second_look.set()
            else:  # the first look-up stays open until another thread asks too (or a second)
                second_look.wait(timeout=1)

    provider.clients.ec2.meta.events.register("before-call.ec2", hold_first_subnet_lookup)
    provider.clients.eks.meta.events.register("before-call.eks", lambda model, **_: lookups.append(model.name))
    with ThreadPoolExecutor(max_workers=10) as pool:
        launched = list(pool.map(lambda i: provider.launch(request(request_id=f"burst-{i}")), range(10)))

    assert len({i.instance_id for i in launched}) == 10
    # one load per discovery filter (cluster tag, karpenter.sh/discovery tag)
    assert lookups.count("DescribeSubnets") == 2
    assert lookups.count("DescribeSecurityGroups") == 2
    assert lookups.count("DescribeCluster") == 1
    assert lookups.count("CreateLaunchTemplate") == 1
    assert len(aws.ec2.describe_launch_templates()["LaunchTemplates"]) == 1


def test_block_device_mappings_and_the_instance_profile_go_into_the_launch_template(aws):
    provider = aws.provider(
        nodeInstanceProfile="eks-nodes",
        blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 200, "volumeType": "gp3"}}],
    )
    provider.launch(request("g5.xlarge"))
    (template,) = aws.ec2.describe_launch_templates()["LaunchTemplates"]
    data = aws.ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["IamInstanceProfile"] == {"Name": "eks-nodes"}
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 200, "VolumeType": "gp3"}}]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    kinds = {spec["ResourceType"] for spec in data["TagSpecifications"]}
    assert {"instance", "volume", "network-interface"} <= kinds


def test_gpu_nodes_get_a_bigger_root_volume_by_default(aws):
    provider = aws.provider()
    provider.launch(request("g5.xlarge"))
    (template,) = aws.ec2.describe_launch_templates()["LaunchTemplates"]
    data = aws.ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 100


def test_a_launch_attempt_that_got_nothing_asks_again_under_a_new_client_token(aws):
    # EC2 answers a repeated ClientToken with its first answer, even an empty fleet
    provider = aws.provider()
    aws.faults.stocked_out = {"m5.large"}
    with pytest.raises(InsufficientCapacity):
        provider.launch(request(request_id="need-1"))
    aws.faults.stocked_out = set()  # capacity is back
    instance = provider.launch(request(request_id="need-1"))
    again = provider.launch(request(request_id="need-1"))  # a retry of the successful attempt
    assert again.instance_id == instance.instance_id and len(aws.instances()) == 1
    assert aws.faults.client_tokens == ["need-1", "need-1-1"]


def test_a_misspelt_block_device_mapping_stops_start_up_naming_the_field():
    from autoscaler.config import config_from_mapping
    from providers.aws import create_provider

    config = config_from_mapping({"aws": {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumSize": 100}}]}})
    with pytest.raises(ValueError, match=r'aws.blockDeviceMappings: Unknown parameter in \[0\].Ebs: "VolumSize"'):
        create_provider(config=config, start_prices=False)


@pytest.mark.parametrize(
    ("family", "type_name", "parameter"),
    [
        ("AL2023", "m5.large", "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id"),
        ("AL2023", "m7g.large", "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/arm64/standard/recommended/image_id"),
        ("AL2023", "g6.xlarge", "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/nvidia/recommended/image_id"),
        ("AL2023", "inf2.xlarge", "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/neuron/recommended/image_id"),
        ("Bottlerocket", "m5.large", "/aws/service/bottlerocket/aws-k8s-1.31/x86_64/latest/image_id"),
        ("Bottlerocket", "g6.xlarge", "/aws/service/bottlerocket/aws-k8s-1.31-nvidia/x86_64/latest/image_id"),
    ],
)
def test_the_eks_optimized_ami_parameter_follows_version_architecture_and_gpu(family, type_name, parameter):
    from providers.aws.discovery import ssm_ami_parameter

    itype = TYPES[type_name]
    assert ssm_ami_parameter(family, "1.31", itype.arch, itype.gpu_count > 0, itype) == parameter


# ---- what depends on the instance type is per override


def _delivered_config(aws, instance):
    return node_config_from_user_data(aws.user_data(instance.instance_id))["spec"]["kubelet"]["config"]


def test_each_fleet_override_gets_the_max_pods_of_its_own_type(aws):
    """m5.xlarge (58 pods) asked for, m5.large (29) delivered: the node's kubelet is told 29,
    what the VPC CNI can serve on it, not the requested type's 58."""
    provider = aws.provider()
    aws.faults.stocked_out.add("m5.xlarge")
    instance = provider.launch(request("m5.xlarge", alternatives=("m5.large",)))
    assert instance.instance_type == "m5.large"
    assert _delivered_config(aws, instance)["maxPods"] == 29


def test_an_arm64_alternative_gets_the_arm64_ami_and_its_own_template(aws):
    provider = aws.provider(amiIdGeneric="ami-0000000000000a64a", amiIdGenericArm="ami-0000000000000a64b")
    aws.faults.stocked_out.add("m5.xlarge")
    instance = provider.launch(request("m5.xlarge", alternatives=("m6g.xlarge",)))
    (ec2_instance,) = aws.instances()
    assert (instance.instance_type, ec2_instance["ImageId"]) == ("m6g.xlarge", "ami-0000000000000a64b")
    templates = aws.ec2.describe_launch_templates()["LaunchTemplates"]
    assert len(templates) == 2  # one per AMI: the x86 one for m5.xlarge, the arm64 one for m6g.xlarge


def test_with_the_operators_own_template_an_arm64_alternative_carries_its_own_ami(aws):
    aws.ec2.create_launch_template(LaunchTemplateName="ops-nodes", LaunchTemplateData={"ImageId": "ami-0000000000000a64a"})
    provider = aws.provider(launchTemplate="ops-nodes", amiIdGeneric="ami-0000000000000a64a", amiIdGenericArm="ami-0000000000000a64b")
    aws.faults.stocked_out.add("m5.xlarge")
    instance = provider.launch(request("m5.xlarge", alternatives=("m6g.xlarge",)))
    (ec2_instance,) = aws.instances()
    assert (instance.instance_type, ec2_instance["ImageId"]) == ("m6g.xlarge", "ami-0000000000000a64b")


def test_a_type_without_a_published_pod_figure_gets_the_one_its_eni_limits_allow(aws):
    """g3s.xlarge: 4 network interfaces x 15 IPv4 addresses (DescribeInstanceTypes) -> 4 x 14 + 2 = 58
    pods, not the 110 fallback the VPC CNI could never serve."""
    aws.faults.answers["DescribeInstanceTypes"] = (
        b'<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>'
        b"<instanceTypeSet><item><instanceType>g3s.xlarge</instanceType><networkInfo>"
        b"<maximumNetworkInterfaces>4</maximumNetworkInterfaces><ipv4AddressesPerInterface>15</ipv4AddressesPerInterface>"
        b"</networkInfo></item></instanceTypeSet></DescribeInstanceTypesResponse>"
    )
    provider = aws.provider()
    instance = provider.launch(request("g3s.xlarge"))
    assert TYPES["g3s.xlarge"].max_pods == 110  # the catalog has no published figure
    assert _delivered_config(aws, instance)["maxPods"] == 58


def test_generated_launch_templates_unused_for_an_hour_are_deleted(aws):
    import time

    now = [time.time()]
    provider = aws.provider()
    provider.templates.clock = lambda: now[0]
    provider.launch(request("m5.large", request_id="a"))
    provider.launch(request("m5.xlarge", request_id="b"))
    aws.ec2.create_launch_template(LaunchTemplateName="someone-elses", LaunchTemplateData={"ImageId": EKS_AMI})
    assert len(aws.ec2.describe_launch_templates()["LaunchTemplates"]) == 3
    assert provider.templates.collect_garbage() == []  # just made

    now[0] += 3000
    provider.launch(request("m5.xlarge", request_id="c"))  # used again: kept
    now[0] += 1000
    (deleted,) = provider.templates.collect_garbage()
    names = {t["LaunchTemplateName"] for t in aws.ec2.describe_launch_templates()["LaunchTemplates"]}
    assert deleted not in names and "someone-elses" in names and len(names) == 2
    provider.launch(request("m5.large", request_id="d"))  # needed again later: made again
    assert len(aws.ec2.describe_launch_templates()["LaunchTemplates"]) == 3



def test_the_root_volume_is_the_size_the_loop_planned_for_the_pods(aws):
    """The loop sized the disk for 150 GiB of pods' ephemeral storage (256 GiB); the operator's
    200 GiB mapping is a floor, grown to it; a smaller need keeps the operator's 200."""
    provider = aws.provider(blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 200, "volumeType": "gp3"}}])
    provider.launch(request("m5.large", request_id="big", root_volume_gib=256))
    provider.launch(request("m5.large", request_id="small", root_volume_gib=20))
    sizes = sorted(
        aws.ec2.describe_launch_template_versions(LaunchTemplateId=t["LaunchTemplateId"])["LaunchTemplateVersions"][0]
        ["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"]
        for t in aws.ec2.describe_launch_templates()["LaunchTemplates"]
    )
    assert sizes == [200, 256]
