"""Every EC2 error code the issue names maps to its failure kind and scope -- raised by EC2
(through the SDK's real error parsing) on CreateFleet, or as a fleet's per-override Errors."""

from __future__ import annotations

import pytest

from providers.aws.errors import ErrorContext, provider_error, quota_group
from providers.base import FailureKind, FailureScope
from tests.providers.aws.test_launch import request

STANDARD = "Standard (A, C, D, H, I, M, R, T, Z)"

# code -> (kind, instance_types covered (None = all), capacity type (None = both), zone (None = every))
CASES = {
    "InsufficientInstanceCapacity": (FailureKind.INSUFFICIENT_CAPACITY, {"m5.large"}, "on-demand", "us-west-2a"),
    "UnfulfillableCapacity": (FailureKind.INSUFFICIENT_CAPACITY, {"m5.large"}, "on-demand", "us-west-2a"),
    "ReservationCapacityExceeded": (FailureKind.INSUFFICIENT_CAPACITY, {"m5.large"}, "on-demand", "us-west-2a"),
    "Unsupported": (FailureKind.INSUFFICIENT_CAPACITY, {"m5.large"}, None, "us-west-2a"),
    "InsufficientFreeAddressesInSubnet": (FailureKind.INSUFFICIENT_CAPACITY, None, None, "us-west-2a"),
    "MaxSpotInstanceCountExceeded": (FailureKind.QUOTA_EXCEEDED, None, "spot", None),
    "MaxFleetCountExceeded": (FailureKind.QUOTA_EXCEEDED, None, None, None),
    "RequestLimitExceeded": (FailureKind.THROTTLED, None, None, None),
    "InvalidParameterValue": (FailureKind.OTHER, {"m5.large"}, "on-demand", "us-west-2a"),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_a_fleet_error_of_an_override_maps_to_kind_and_scope(aws, code):
    # given EC2 answers the only override (m5.large in us-west-2a) with this error code
    provider = aws.provider()
    aws.faults.stocked_out = {"m5.large"}
    aws.faults.stockout_code = code
    with pytest.raises(Exception) as failure:
        provider.launch(request(zones=("us-west-2a",)))
    kind, types, capacity, zone = CASES[code]
    err = failure.value
    assert err.kind == kind and err.code == code and code in str(err)
    (scope,) = err.scopes
    assert (scope.instance_types, scope.capacity_type, scope.zone) == (types and frozenset(types), capacity, zone)


@pytest.mark.parametrize("code", ["VcpuLimitExceeded", "RequestLimitExceeded", "MaxSpotInstanceCountExceeded", "AuthFailure"])
def test_an_error_answer_to_create_fleet_is_typed_through_the_sdk(aws, code):
    provider = aws.provider()
    aws.faults.fail("CreateFleet", code, "injected by the test", status=400)
    with pytest.raises(Exception) as failure:
        provider.launch(request("c5.xlarge", capacity="spot"))
    err = failure.value
    assert err.code == code and f"{code}: CreateFleet: injected by the test" in str(err)
    expected = {
        "VcpuLimitExceeded": FailureKind.QUOTA_EXCEEDED,
        "RequestLimitExceeded": FailureKind.THROTTLED,
        "MaxSpotInstanceCountExceeded": FailureKind.QUOTA_EXCEEDED,
        "AuthFailure": FailureKind.OTHER,
    }[code]
    assert err.kind == expected
    assert aws.instances() == []


def test_a_vcpu_quota_backs_off_its_quota_group_for_its_capacity_type(aws):
    provider = aws.provider()
    aws.faults.fail("CreateFleet", "VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit")
    with pytest.raises(Exception) as failure:
        provider.launch(request("c5.xlarge", capacity="spot"))
    (scope,) = failure.value.scopes
    assert scope.capacity_type == "spot" and scope.zone is None
    assert f"spot vCPU quota group {STANDARD} in us-west-2" == scope.label
    # the Standard group: A, C, D, H, I, M, R, T, Z families, and only those
    for member in ("c5.xlarge", "m5.large", "r5.large", "t3.large", "i4i.large", "z1d.large", "a1.large", "d3.xlarge", "im4gn.large"):
        assert scope.covers(member, "spot", "us-west-2b"), member
    for other in ("g5.xlarge", "p4d.24xlarge", "x2idn.16xlarge", "inf2.xlarge", "trn1.2xlarge"):
        assert not scope.covers(other, "spot", "us-west-2b"), other
    assert not scope.covers("c5.xlarge", "on-demand", "us-west-2a")


@pytest.mark.parametrize(
    ("instance_type", "group"),
    [
        ("m7i-flex.large", STANDARD), ("c7gn.xlarge", STANDARD), ("hpc7g.16xlarge", "HPC"), ("is4gen.large", STANDARD),
        ("g6.xlarge", "G and VT"), ("gr6.4xlarge", "G and VT"), ("vt1.3xlarge", "G and VT"), ("p5.48xlarge", "P"),
        ("f2.12xlarge", "F"), ("x8g.large", "X"), ("inf2.xlarge", "Inf"), ("dl1.24xlarge", "DL"),
        ("trn1n.32xlarge", "Trn"), ("u-6tb1.112xlarge", "High Memory"), ("u7i-12tb.224xlarge", "High Memory"),
        ("mac2.metal", None),
    ],
)
def test_on_demand_quota_groups_follow_ec2s_grouping(instance_type, group):
    assert quota_group(instance_type) == group


def test_spot_has_no_high_memory_or_hpc_group():
    assert quota_group("u-6tb1.112xlarge", "spot") is None and quota_group("hpc7g.16xlarge", "spot") is None
    assert quota_group("g6.xlarge", "spot") == "G and VT"


def test_an_unknown_code_is_other_and_keeps_the_aws_code_in_the_message():
    err = provider_error("InvalidAMIID.NotFound", "The image id '[ami-1]' does not exist", ErrorContext("m5.large", "on-demand", "us-west-2a", "us-west-2"))
    assert err.kind == FailureKind.OTHER and str(err).startswith("InvalidAMIID.NotFound: ")
    assert err.scopes == (FailureScope.offering("m5.large", "on-demand", "us-west-2a"),)


def test_a_full_subnet_makes_the_provider_look_for_subnets_again(aws):
    provider = aws.provider()
    provider.launch(request(request_id="first"))  # subnets discovered and cached
    looked = aws.faults.calls["DescribeSubnets"]
    aws.faults.stocked_out, aws.faults.stockout_code = {"m5.large"}, "InsufficientFreeAddressesInSubnet"
    with pytest.raises(Exception):
        provider.launch(request(request_id="second", zones=("us-west-2a",)))
    aws.faults.stocked_out = set()
    provider.launch(request(request_id="third"))
    assert aws.faults.calls["DescribeSubnets"] > looked


# ---- the AWS fake refuses what EC2 refuses (botocore's service model; EC2's tag restrictions)


def test_the_ec2_fake_refuses_a_wrong_field_name_a_wrong_type_and_a_reserved_tag(aws):
    import botocore.exceptions

    from providers.base import ProviderError
    from tests.providers.aws.test_launch import request

    ec2 = aws.ec2
    aws.faults.install(ec2)
    with pytest.raises(botocore.exceptions.ParamValidationError, match="Unknown parameter in LaunchTemplateData"):
        ec2.create_launch_template(LaunchTemplateName="nodes", LaunchTemplateData={"ImageIdd": "ami-1"})
    with pytest.raises(botocore.exceptions.ParamValidationError, match="Invalid type for parameter"):
        ec2.create_launch_template(LaunchTemplateName="nodes", LaunchTemplateData={"ImageId": 5})
    provider = aws.provider(tags={"aws:owner": "platform"})  # EC2 reserves the aws: prefix
    with pytest.raises(ProviderError) as refused:
        provider.launch(request())
    assert refused.value.code == "InvalidParameterValue" and "reserved" in str(refused.value)
    assert aws.instances() == []
