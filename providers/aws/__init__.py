"""The AWS provider: EC2 nodes for EKS and self-managed clusters (`pip install 'smart-autoscaler[aws]'`).

One module per job -- the layout the other clouds copy:

    clients.py    SDK clients: credential chain, retries, a timeout on every call
    errors.py     the cloud's error codes -> typed failures with their scope (the table)
    discovery.py  cluster, subnets, security groups, images (explicit or by tag), cached
    userdata.py   how a machine joins the cluster with the node's labels, taints, max pods
    launch.py     the launch request -> the cloud's launch call (CreateFleet + template)
    prices.py     live prices and offerings, refreshed off the loop, embedded fallback
    instances.py  the cloud's answers -> Instances (what a fleet delivered, or its typed failure)
    provider.py   AwsProvider: launch / terminate / list_instances (+ live_catalog)

boto3 is imported here, so `providers.registry` loads it only for `--provider aws`.
"""

from __future__ import annotations

from typing import Any


from providers.aws.provider import AwsProvider


def create_provider(config: Any = None, clock: Any = None, **kwargs: Any) -> AwsProvider:
    if config is None:
        raise ValueError("the aws provider needs the configuration (cloud, region, clusterName, aws.*)")
    if config.cloud != "aws":
        raise ValueError(f"--provider aws with configuration cloud {config.cloud!r}: set cloud: aws")
    if config.aws.user_data_type == "Template":
        from providers.aws.userdata import UserDataError, check_template

        try:
            check_template(config.aws.user_data)
        except UserDataError as err:
            raise ValueError(str(err)) from None
    _check_block_devices(config)
    return AwsProvider(config, clock=clock, **kwargs)


def _check_block_devices(config: Any) -> None:
    """aws.blockDeviceMappings checked against EC2's own request shape at start, so a typo
    stops start-up naming the field instead of failing every launch."""
    if not config.aws.block_device_mappings:
        return
    import botocore.session
    from botocore.validate import ParamValidator

    from providers.aws.launch import unfreeze

    shape = botocore.session.get_session().get_service_model("ec2").shape_for("LaunchTemplateBlockDeviceMappingRequestList")
    mappings = [unfreeze(m) for m in config.aws.block_device_mappings]
    report = ParamValidator().validate(mappings, shape)
    if report.has_errors():
        raise ValueError(f"aws.blockDeviceMappings: {report.generate_report().replace(chr(10), '; ')}")


__all__ = ["AwsProvider", "create_provider"]
