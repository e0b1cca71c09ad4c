"""The chart's defaults are safe: nothing an operator must choose is chosen for them.

No cluster name or region applies silently to every cluster; each cloud has a values section
whose options are explained, and a starting values file (helm/smart-autoscaler/ci/); the
dashboard's panels show each quantity in its unit; the NOTES name the next command.
Rendered offline with helm-python-sdk (Helm's Go SDK).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="needs helm-python-sdk (pip install helm-python-sdk)")

from autoscaler.cli import _parser  # noqa: E402
from autoscaler.cloudconfig import CLOUD_OPTIONS  # noqa: E402
from autoscaler.config import config_from_mapping  # noqa: E402
from tests.chart_values import CHART, CLOUDS, completed_values, values_file  # noqa: E402
# options that point the provider at a local test server, or that only `preview` reads: not for
# the daemon's values
TEST_ONLY_OPTIONS = {"gcp.apiEndpoint", "azure.resourceManagerEndpoint", "oci.serviceEndpoint", "oci.identityEndpoint",
                     "aws.publicPriceListURL"}


@pytest.fixture(scope="module")
def chart() -> Any:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render_all(chart: Any, values: dict[str, Any]) -> dict[str, str]:
    return chart.render(values=values, name="sa", namespace="kube-system", is_install=True)


def objects(manifests: dict[str, str]) -> list[dict[str, Any]]:
    return [doc for path, text in sorted(manifests.items()) if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]


# ---- nothing chosen for the operator


def test_install_without_a_cluster_name_fails_naming_the_value(chart: Any) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"config\.clusterName is required.*--set config\.clusterName="):
        render_all(chart, {"config": {"region": "us-east-1"}})


def test_install_without_a_region_fails_naming_the_value_with_the_clouds_example(chart: Any) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"config\.region is required.*--set config\.region=us-east-1"):
        render_all(chart, {"config": {"clusterName": "prod"}})
    with pytest.raises(helm.HelmRenderError, match=r"config\.region is required: the oci region.*us-ashburn-1"):
        render_all(chart, {"provider": "oci", "config": {"cloud": "oci", "clusterName": "prod"}})


def test_values_yaml_names_no_cluster_or_region() -> None:
    config = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    assert config["clusterName"] == "" and config["region"] == ""


# ---- every cloud


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_clouds_values_file_renders_a_daemon_for_that_cloud(chart: Any, cloud: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"config\.clusterName is required"):
        render_all(chart, values_file(cloud))  # the starting file leaves the cluster's name to the operator
    values = completed_values(cloud)
    report = helm.lint(CHART, values, strict=True, namespace="kube-system")
    assert not report["errors"] and not [m for m in report["messages"] if m["severity"] >= 2], report
    rendered = objects(render_all(chart, values))
    (deployment,) = [o for o in rendered if o["kind"] == "Deployment"]
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    args = _parser().parse_args(main["args"])
    assert args.provider == cloud
    assert main["image"] == f"ghcr.io/smart-autoscaler/smart-autoscaler:0.1.0-{cloud}"  # that cloud's SDK only
    (config_map,) = [o for o in rendered if o["kind"] == "ConfigMap" and "config.yaml" in o["data"]]
    config = config_from_mapping(yaml.safe_load(config_map["data"]["config.yaml"]))
    assert (config.cloud, config.region, config.cluster_name) == (
        cloud, values["config"]["region"], values["config"]["clusterName"])
    (account,) = [o for o in rendered if o["kind"] == "ServiceAccount"]
    assert account["metadata"].get("annotations") or cloud == "oci"  # OKE: workload identity needs none


@pytest.mark.parametrize("cloud", CLOUDS)
def test_values_yaml_explains_every_option_of_each_cloud(cloud: str) -> None:
    """Each cloud's section in values.yaml names every option the daemon reads for it (set to
    the daemon's default, or shown in a comment when it has no default), with a comment."""
    text = (CHART / "values.yaml").read_text()
    section = re.search(rf"^  {cloud}:\n((?:    .*\n|  #.*\n|\n)+)", text, re.MULTILINE)
    assert section, f"no config.{cloud} section in values.yaml"
    body = section.group(1)
    assert body.count("#") >= 5, f"config.{cloud} options are not explained"
    for option in CLOUD_OPTIONS:
        prefix, _, name = option.partition(".")
        if prefix == cloud and option not in TEST_ONLY_OPTIONS:
            assert re.search(rf"\b{name}:", body), f"values.yaml config.{cloud} does not show {name}"


def test_notes_name_the_next_command(chart: Any) -> None:
    manifests = render_all(chart, completed_values("aws"))
    (notes,) = [text for path, text in manifests.items() if path.endswith("NOTES.txt")]
    assert "smart-autoscaler doctor --config /etc/smart-autoscaler/config.yaml --provider aws" in notes
    assert "kubectl -n kube-system exec deploy/sa-smart-autoscaler --" in notes
    assert "us-east-1" in notes and "prod-eks" in notes
    assert "has no cloud identity" not in notes  # the values give IRSA's role


# ---- the dashboard's units


def unit_for(expressions: list[str]) -> set[str]:
    """Grafana units that fit what the queries return."""
    joined = " ".join(expressions)
    if "_dollars" in joined:
        return {"currencyUSD"}
    if "histogram_quantile" in joined or re.search(r"_seconds\{", joined):
        return {"s", "dtdurations"}
    if "rate(" in joined and "increase(" not in joined:
        return {"reqps", "ops", "cps"}  # per second
    return {"short", "none"}  # a count of things


def test_every_dashboard_panel_shows_its_quantity_in_its_unit() -> None:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        expressions = [t["expr"] for t in panel["targets"]]
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit in unit_for(expressions), f"panel {panel['title']!r}: unit {unit!r} for {expressions}"


def test_the_simulated_provider_and_plugins_get_the_image_with_every_sdk(chart: Any) -> None:
    rendered = objects(render_all(chart, values_file("simulated")))
    (deployment,) = [o for o in rendered if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/smart-autoscaler/smart-autoscaler:0.1.0"
