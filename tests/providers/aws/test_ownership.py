"""Two clusters in one AWS account never touch each other's instances: an instance is listed,
adopted and terminated only by the daemon whose cluster identity its tags name."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.config import config_from_mapping
from autoscaler.identity import with_cluster_identity
from tests.providers.aws.conftest import REGION
from tests.providers.aws.test_launch import request


def _cluster(aws, name: str):
    import boto3

    boto3.client("eks", region_name=REGION).create_cluster(
        name=name, version="1.31", roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": list(aws.subnets.values())}, kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16"},
    )
    return aws.provider(cluster=name, subnets=list(aws.subnets.values()), securityGroups=[aws.security_group])


def _launch(provider, request_id: str) -> str:
    asked = request(request_id=request_id)
    return provider.launch(replace(asked, tags={**asked.tags, "smart-autoscaler.io/cluster": provider.cluster_name})).instance_id


def test_two_clusters_in_one_account_stay_apart(aws):
    blue, green = _cluster(aws, "blue"), _cluster(aws, "green")
    blue_ids = {_launch(blue, f"b{i}") for i in range(2)}
    green_id = _launch(green, "g1")

    assert {i.instance_id for i in blue.list_instances()} == blue_ids
    assert {i.instance_id for i in green.list_instances()} == {green_id}

    blue.terminate(green_id)  # blue's drain or timeout can never reach green's instance
    assert {i["InstanceId"] for i in aws.instances(InstanceIds=[green_id]) if i["State"]["Name"] == "running"} == {green_id}
    green.terminate(green_id)
    assert green.list_instances() == [] and {i.instance_id for i in blue.list_instances()} == blue_ids


def test_an_unset_cluster_name_becomes_this_clusters_own_identity():
    """Two daemons left on the default clusterName get different identities: the kube-system
    namespace UID, or the managed cluster's own id where the configuration names it."""
    default = config_from_mapping({"cloud": "aws", "region": REGION})
    first, note = with_cluster_identity(default, lambda: "0f3c-uid-a")
    second, _ = with_cluster_identity(default, lambda: "77aa-uid-b")
    assert (first.cluster_name, second.cluster_name) == ("k8s-0f3c-uid-a", "k8s-77aa-uid-b")
    assert "clusterName is not set" in note and "kube-system namespace UID" in note

    named = config_from_mapping({"cloud": "aws", "region": REGION, "clusterName": "prod-eks"})
    assert with_cluster_identity(named, lambda: "unused") == (named, "")

    oke = config_from_mapping({"cloud": "oci", "region": "us-ashburn-1", "oci": {"clusterId": "ocid1.cluster.oc1.iad.abc"}})
    assert with_cluster_identity(oke, lambda: "unused")[0].cluster_name == "ocid1.cluster.oc1.iad.abc"

    gke = config_from_mapping({"cloud": "gcp", "region": "us-central1", "gcp": {"project": "proj", "cluster": "c1"}})
    derived, _ = with_cluster_identity(gke, lambda: "unused")
    assert derived.cluster_name == "gke_proj_us-central1_c1" and derived.gcp.cluster == "c1"

    unnamed_gke = config_from_mapping({"cloud": "gcp", "region": "us-central1", "gcp": {"project": "proj"}})
    derived, _ = with_cluster_identity(unnamed_gke, lambda: "uid")
    assert derived.gcp.cluster == "smart-autoscaler"  # the GKE cluster it looked up before stays the same
