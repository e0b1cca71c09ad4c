"""Configuration of the cloud providers: the `aws.*`, `azure.*`, `oci.*` and `gcp.*` sections
(each provider reads its own; the core never does), and their option tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from autoscaler.configvalues import (
    any_text,
    block_device_mappings,
    boolean,
    integer,
    label_map,
    number,
    one_of,
    optional,
    parse_duration,
    string_list,
    text,
)


SPOT_ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
AWS_PUBLIC_PRICE_LIST_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/{region}/index.csv"


@dataclass(frozen=True)
class AwsConfig:
    """`aws.*` options: the AWS provider (providers/aws) and the Spot Instance Advisor."""

    use_spot_advisor: bool = False
    max_spot_interrupt_bucket: int = 4
    max_spot_price_ratio: float = 1.0
    spot_advisor_url: str = SPOT_ADVISOR_URL  # an https:// address or a local file
    launch_template: str = ""  # the operator's template (name or lt-... id); "" = generated
    ami_family: str = "AL2023"  # AL2023 or Bottlerocket (EKS user data)
    ami_id_generic: str = ""  # one AMI for every type (self-managed clusters, or to pin EKS)
    ami_id_generic_arm: str = ""
    ami_id_generic_gpu: str = ""
    user_data_type: str = ""  # "" = EKS bootstrap for ami_family; Template = aws.userData
    user_data: str = ""
    subnets: tuple[str, ...] = ()  # subnet ids; () = discovered by tag
    security_groups: tuple[str, ...] = ()  # security group ids; () = discovered by tag
    node_instance_profile: str = ""
    block_device_mappings: tuple[tuple[tuple[str, Any], ...], ...] = ()  # frozen EC2 API shapes
    tags: tuple[tuple[str, str], ...] = ()
    live_prices: bool = True
    price_refresh_period: float = 600.0
    api_timeout: float = 20.0
    # `preview --live-prices`: the public bulk price list (no account), {region} filled in
    public_price_list_url: str = AWS_PUBLIC_PRICE_LIST_URL
    interruption_queue: str = ""  # SQS queue (name or URL) that EventBridge feeds EC2 interruption events


@dataclass(frozen=True)
class AzureConfig:
    """`azure.*`: the AKS cluster the provider grows, how its agent pools look, and how long
    Azure's own failures keep an offering out (what the Azure Karpenter provider learned)."""

    subscription_id: str = ""  # default: $AZURE_SUBSCRIPTION_ID
    resource_group: str = ""  # the AKS cluster's resource group
    cluster_name: str = ""  # the AKS cluster's name; default: clusterName
    node_resource_group: str = ""  # not read: the provider works through the AKS API only (kept valid)
    os_disk_size_gb: int = 128
    gpu_os_disk_size_gb: int = 256  # GPU images and drivers need more room
    os_sku: str = "Ubuntu"
    gpu_driver: str = "Install"  # Install: AKS installs the NVIDIA driver; None: the GPU operator does
    vnet_subnet_id: str = ""
    max_pods: int | None = None
    pool_idle_time: float = 600.0  # an empty pool the autoscaler made is deleted after this
    call_timeout: float = 60.0  # every HTTP call
    operation_timeout: float = 900.0  # a long-running operation (scale-out, pool create) end to end
    poll_interval: float = 5.0  # between polls of a long-running operation, unless Azure says (Retry-After)
    # Azure Resource Manager; another cloud's (e.g. https://management.chinacloudapi.cn), or a
    # local test server at http://127.0.0.1:PORT (then no credential is used or sent)
    resource_manager_endpoint: str = "https://management.azure.com"
    retail_prices_url: str = "https://prices.azure.com/api/retail/prices"
    price_refresh_interval: float = 12 * 3600.0
    allocation_failed_backoff: float = 3600.0
    sku_not_available_spot_backoff: float = 3600.0
    sku_not_available_on_demand_backoff: float = 23 * 3600.0
    quota_backoff: float = 600.0
    include_special_sizes: bool = False  # confidential (DC*, EC*, *_cc_*) and promo sizes: special images/hosts


@dataclass(frozen=True)
class OciConfig:
    """`oci.*`: where and how the OCI provider makes OKE node pools (providers/oci)."""

    compartment_id: str = ""
    cluster_id: str = ""
    subnet_id: str = ""  # worker subnet (regional subnets serve every availability domain)
    pod_subnet_id: str = ""  # VCN-native pod networking; "" for flannel
    availability_domains: tuple[str, ...] = ()  # () = every AD of the region (Identity API)
    image_id: str = ""  # OKE worker image for x86 shapes
    image_id_arm: str = ""  # for Ampere shapes
    image_id_gpu: str = ""  # for GPU shapes
    kubernetes_version: str = ""  # "" = the cluster's version
    boot_volume_size_gb: int | None = None
    nsg_ids: tuple[str, ...] = ()
    ssh_public_key: str = ""
    auth_method: str = "instance_principal"  # instance_principal, workload_identity, api_key, none
    config_profile: str = "DEFAULT"  # for api_key: the ~/.oci/config profile
    service_endpoint: str = ""  # Container Engine endpoint override (private endpoints, tests)
    identity_endpoint: str = ""
    call_timeout: float = 30.0
    launch_timeout: float = 180.0  # how long a launch waits for the node's instance (or its error)
    price_list_url: str = "https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/?currencyCode=USD"
    price_refresh_interval: float = 6 * 3600.0


_OCI_AUTH_METHODS = ("instance_principal", "workload_identity", "api_key", "none")


@dataclass(frozen=True)
class GcpConfig:
    """GKE: where the cluster is and how the node pools the autoscaler makes are set up."""

    project: str = ""  # empty: the project of the default credentials
    location: str = ""  # the cluster's location (region or zone); empty: `region`
    cluster: str = ""  # the GKE cluster's name; empty: `clusterName`
    disk_size_gb: int = 100
    disk_type: str = "pd-balanced"
    image_type: str = "COS_CONTAINERD"
    service_account: str = ""  # empty: the Compute Engine default service account
    network_tags: tuple[str, ...] = ()
    pod_range: str = ""  # secondary range for pods of new pools; empty: the cluster's default
    gpu_driver_version: str = "DEFAULT"  # DEFAULT, LATEST or INSTALLATION_DISABLED
    pool_idle_time: float = 600.0  # seconds a pool made by the autoscaler may stay empty
    call_timeout: float = 30.0  # seconds, every API call
    poll_interval: float = 2.0  # seconds between operation / instance polls
    price_refresh: float = 3600.0  # seconds between live price refreshes
    live_prices: bool = True
    api_endpoint: str = ""  # one endpoint for Compute, GKE and Billing (a test server)


# option name -> (attribute path, parser), merged into the configuration's one table
CLOUD_OPTIONS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "aws.useSpotAdvisor": (("aws", "use_spot_advisor"), boolean),
    "aws.maxSpotInterruptBucket": (("aws", "max_spot_interrupt_bucket"), integer(0, 4)),
    "aws.maxSpotPriceRatio": (("aws", "max_spot_price_ratio"), number(0.0, 1.0)),
    "aws.spotAdvisorURL": (("aws", "spot_advisor_url"), text),
    "aws.launchTemplate": (("aws", "launch_template"), any_text),
    "aws.amiFamily": (("aws", "ami_family"), one_of("AL2023", "Bottlerocket")),
    "aws.amiIdGeneric": (("aws", "ami_id_generic"), any_text),
    "aws.amiIdGenericArm": (("aws", "ami_id_generic_arm"), any_text),
    "aws.amiIdGenericGpu": (("aws", "ami_id_generic_gpu"), any_text),
    "aws.userDataType": (("aws", "user_data_type"), lambda v: "" if v in (None, "") else one_of("Template")(v)),
    "aws.userData": (("aws", "user_data"), any_text),
    "aws.subnets": (("aws", "subnets"), string_list),
    "aws.securityGroups": (("aws", "security_groups"), string_list),
    "aws.nodeInstanceProfile": (("aws", "node_instance_profile"), any_text),
    "aws.blockDeviceMappings": (("aws", "block_device_mappings"), block_device_mappings),
    "aws.tags": (("aws", "tags"), label_map),
    "aws.livePrices": (("aws", "live_prices"), boolean),
    "aws.priceRefreshPeriod": (("aws", "price_refresh_period"), parse_duration),
    "aws.apiTimeout": (("aws", "api_timeout"), parse_duration),
    "aws.publicPriceListURL": (("aws", "public_price_list_url"), text),
    "aws.interruptionQueue": (("aws", "interruption_queue"), any_text),
    # ---- azure.* (providers/azure)
    **{
        f"azure.{name}": (("azure", attr), parse)
        for name, attr, parse in (
            ("subscriptionId", "subscription_id", text),
            ("resourceGroup", "resource_group", text),
            ("clusterName", "cluster_name", text),
            ("nodeResourceGroup", "node_resource_group", text),
            ("osDiskSizeGB", "os_disk_size_gb", integer(30, 2048)),
            ("gpuOSDiskSizeGB", "gpu_os_disk_size_gb", integer(30, 2048)),
            ("osSKU", "os_sku", text),
            ("gpuDriver", "gpu_driver", one_of("Install", "None")),
            ("vnetSubnetID", "vnet_subnet_id", text),
            ("maxPods", "max_pods", optional(integer(10, 250))),
            ("poolIdleTime", "pool_idle_time", parse_duration),
            ("callTimeout", "call_timeout", parse_duration),
            ("operationTimeout", "operation_timeout", parse_duration),
            ("pollInterval", "poll_interval", parse_duration),
            ("resourceManagerEndpoint", "resource_manager_endpoint", text),
            ("retailPricesURL", "retail_prices_url", text),
            ("priceRefreshInterval", "price_refresh_interval", parse_duration),
            ("allocationFailedBackoff", "allocation_failed_backoff", parse_duration),
            ("skuNotAvailableSpotBackoff", "sku_not_available_spot_backoff", parse_duration),
            ("skuNotAvailableOnDemandBackoff", "sku_not_available_on_demand_backoff", parse_duration),
            ("quotaBackoff", "quota_backoff", parse_duration),
            ("includeSpecialSizes", "include_special_sizes", boolean),
        )
    },
    # ---- OCI (providers/oci)
    **{
        f"oci.{name}": (("oci", attr), parse)
        for name, attr, parse in (
            ("compartmentId", "compartment_id", any_text),
            ("clusterId", "cluster_id", any_text),
            ("subnetId", "subnet_id", any_text),
            ("podSubnetId", "pod_subnet_id", any_text),
            ("availabilityDomains", "availability_domains", string_list),
            ("imageId", "image_id", any_text),
            ("imageIdArm", "image_id_arm", any_text),
            ("imageIdGpu", "image_id_gpu", any_text),
            ("kubernetesVersion", "kubernetes_version", any_text),
            ("bootVolumeSizeGB", "boot_volume_size_gb", optional(integer(50, 32768))),
            ("nsgIds", "nsg_ids", string_list),
            ("sshPublicKey", "ssh_public_key", any_text),
            ("authMethod", "auth_method", one_of(*_OCI_AUTH_METHODS)),
            ("configProfile", "config_profile", text),
            ("serviceEndpoint", "service_endpoint", any_text),
            ("identityEndpoint", "identity_endpoint", any_text),
            ("callTimeout", "call_timeout", parse_duration),
            ("launchTimeout", "launch_timeout", parse_duration),
            ("priceListURL", "price_list_url", any_text),
            ("priceRefreshInterval", "price_refresh_interval", parse_duration),
        )
    },
    **{
        f"gcp.{name}": (("gcp", attr), parse)
        for name, attr, parse in (
            ("project", "project", text),
            ("location", "location", text),
            ("cluster", "cluster", text),
            ("diskSizeGb", "disk_size_gb", integer(10, 65536)),
            ("diskType", "disk_type", text),
            ("imageType", "image_type", text),
            ("serviceAccount", "service_account", text),
            ("networkTags", "network_tags", string_list),
            ("podRange", "pod_range", text),
            ("gpuDriverVersion", "gpu_driver_version", one_of("DEFAULT", "LATEST", "INSTALLATION_DISABLED")),
            ("poolIdleTime", "pool_idle_time", parse_duration),
            ("callTimeout", "call_timeout", parse_duration),
            ("pollInterval", "poll_interval", parse_duration),
            ("priceRefresh", "price_refresh", parse_duration),
            ("livePrices", "live_prices", boolean),
            ("apiEndpoint", "api_endpoint", text),
        )
    },
}
