"""The GKE example values: the chart renders the Workload Identity annotation and a config the
daemon accepts with its gcp.* options."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("helm_python", reason="needs helm-python-sdk (pip install helm-python-sdk)")

from autoscaler.config import load_config_file  # noqa: E402
from tests import test_helm_chart  # noqa: E402
from tests.test_helm_chart import config_yaml, only, render  # noqa: E402

chart = test_helm_chart.chart  # the module-scoped fixture that loads the chart

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "helm-values-gke.yaml"


def test_gke_values_give_workload_identity_and_a_valid_gcp_config(chart, tmp_path):
    objects = render(chart, yaml.safe_load(EXAMPLE.read_text()))

    account = only(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "smart-autoscaler@PROJECT.iam.gserviceaccount.com"}
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(objects))
    config = load_config_file(str(path))
    assert (config.cloud, config.gcp.project, config.gcp.location, config.gcp.cluster) == ("gcp", "PROJECT", "us-central1", "prod-gke")
    assert config.gcp.pool_idle_time == 600.0
