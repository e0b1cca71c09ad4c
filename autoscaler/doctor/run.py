"""The `doctor` command: configuration, then Kubernetes, then the cloud; each step guarded so
that a failure is a ✗ line and the steps after it still run where they can."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from autoscaler.doctor import kube, settings
from autoscaler.doctor.report import Check, Report, fail, guarded, run_steps, skip

CLOUDS = ("aws", "gcp", "azure", "oci")
SDK_EXTRAS = {"aws": "boto3", "gcp": "google-cloud-compute, google-cloud-container", "azure": "azure-mgmt-*",
              "oci": "oci"}


@dataclass(frozen=True)
class DoctorOptions:
    config: str | None = None
    provider: str | None = None  # default: the configuration's cloud
    kubeconfig: str | None = None
    context: str | None = None
    lease_namespace: str | None = None
    lease_name: str = "smart-autoscaler"
    leader_elect: bool = True
    kubernetes: bool = True  # --skip-kubernetes: the cloud part only (no cluster at hand)
    cloud: bool = True  # --skip-cloud: the Kubernetes part only


def _lease_namespace(options: DoctorOptions) -> str:
    from autoscaler.daemon import _lease_namespace as daemon_lease_namespace

    return daemon_lease_namespace(SimpleNamespace(lease_namespace=options.lease_namespace))


def run_doctor(options: DoctorOptions) -> Report:
    report = Report()
    config, loaded = settings.load(options.config)
    report.add([loaded])
    if config is None:
        return report
    report.options = settings.options_in_force(config, options.config)
    report.add(guarded(settings.AREA, "options against the region's offerings", lambda: settings.contradictions(config)))
    provider = options.provider or config.cloud
    target = _kubernetes(report, config, options, provider) if options.kubernetes else None
    if options.cloud:
        report.add(cloud_checks(provider, config, target))
    return report


def _kubernetes(report: Report, config: Any, options: DoctorOptions, provider: str) -> kube.KubeTarget | None:
    target, connected = kube.connect(options.kubeconfig, options.context)
    report.add([connected])
    if target is None:
        return None
    reachable = kube.api_server(target)
    report.add(reachable)
    if any(c.status.value == "fail" for c in reachable):
        return None
    lease = (_lease_namespace(options), options.lease_name) if options.leader_elect else None
    report.add(run_steps(kube.AREA, [
        ("identity", lambda: kube.identity(target)),
        ("RBAC", lambda: kube.permissions(target, hot_nodes=config.manage_high_utilization.enabled,
                                          simulated=provider == "simulated", lease=lease)),
        ("metrics API", lambda: kube.metrics_api(target, config)),
        ("device plugins", lambda: kube.device_plugins(target, config)),
    ]))
    return target


def cloud_checks(provider: str, config: Any, target: kube.KubeTarget | None) -> list[Check]:
    area = {"aws": "AWS", "gcp": "GCP", "azure": "Azure", "oci": "OCI"}.get(provider, provider)
    if provider == "simulated":
        return [skip(area, "cloud account", "the simulated provider needs no cloud account")]
    if provider not in CLOUDS:
        return [skip(area, "cloud account", f"provider {provider!r} is a plug-in: doctor checks only aws, gcp, azure, oci")]
    module = importlib.import_module(f"autoscaler.doctor.{provider}")
    if not module.sdk_available():
        return [fail(area, "cloud SDK", f"the {provider} SDK ({SDK_EXTRAS[provider]}) is not installed",
                     f"pip install 'smart-autoscaler[{provider}]' (the container image has every cloud's SDK)")]
    return guarded(area, "cloud checks", lambda: module.checks(config, target))
