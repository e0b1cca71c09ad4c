"""Spot Instance Advisor (SPEC §4, aws.useSpotAdvisor): Luna's published us-west-2 spot
estimates, reproduced through the preview path from a fixture in the advisor's JSON shape.

Luna publishes, with the advisor on: r5a.xlarge $0.0859, g6.8xlarge $0.9871, g6.12xlarge
$2.2548, p4d.24xlarge $9.6614 (savings 62, 51, 51, 56 %). The fixture holds those savings;
its interruption buckets are the fixture's own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from autoscaler.config import config_from_mapping
from autoscaler.manifests import load_manifest_text
from autoscaler.preview import Target, run_preview
from pricing.spot_advisor import SpotAdvisorError, parse_advisor

ADVISOR = str(Path(__file__).parent / "data" / "aws" / "spot-advisor-data.json")


def pod(type_regexp: str, offerings: str = "spot", gpus: int = 0, cpu: str = "1", memory: str = "2Gi") -> str:
    limits = f"limits: {{nvidia.com/gpu: \"{gpus}\"}}" if gpus else ""
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: job
  namespace: default
  labels: {{smart-autoscaler.io/managed: "true"}}
  annotations:
    smart-autoscaler.io/instance-type-regexp: "{type_regexp}"
    smart-autoscaler.io/instance-offerings: "{offerings}"
spec:
  containers:
  - name: main
    resources:
      requests: {{cpu: "{cpu}", memory: {memory}}}
      {limits}
"""


def preview(text: str, **options: object):
    config = config_from_mapping({"binSelectPodCpuThreshold": 1, **options})
    result = run_preview(load_manifest_text(text, "test.yaml"), [Target("aws", "us-west-2")], config)
    (only,) = result.targets
    return only


ADVISOR_ON = {"aws": {"useSpotAdvisor": True, "spotAdvisorURL": ADVISOR}}


@pytest.mark.parametrize(
    ("instance_type", "gpus", "luna_price"),
    [
        ("r5a.xlarge", 0, 0.0859),
        ("g6.8xlarge", 1, 0.9871),
        ("g6.12xlarge", 1, 2.2548),
        ("p4d.24xlarge", 1, 9.6614),
    ],
)
def test_luna_spot_estimates_with_the_advisor_on(instance_type, gpus, luna_price):
    # given a pod that asks for one type as spot, in us-west-2, with the advisor on
    result = preview(pod(f"^{instance_type}$", gpus=gpus), **ADVISOR_ON)
    # then the node is that type, as spot, at Luna's published estimate (4 decimals)
    (line,) = result.nodes
    assert (line.instance_type, line.capacity_type, line.count) == (instance_type, "spot", 1)
    assert round(line.hourly_cost_each, 4) == luna_price
    assert "Spot Instance Advisor" in line.price_note


def test_without_the_advisor_spot_is_the_ratio_estimate():
    (line,) = preview(pod("^r5a.xlarge$")).nodes
    assert line.hourly_cost_each == pytest.approx(0.226 * 0.5)


def test_a_type_above_the_interruption_bucket_is_not_offered_as_spot():
    # p4d.24xlarge is in bucket 3 (15-20%) in the fixture; the pod accepts spot or on-demand
    options = {"aws": {**ADVISOR_ON["aws"], "maxSpotInterruptBucket": 2}}
    (line,) = preview(pod("^p4d.24xlarge$", "spot,on-demand", gpus=1), **options).nodes
    assert (line.capacity_type, line.hourly_cost_each) == ("on-demand", 21.957642)
    # and a spot-only pod finds nothing
    result = preview(pod("^p4d.24xlarge$", "spot", gpus=1), **options)
    assert result.nodes == [] and len(result.unplaceable) == 1


def test_a_type_that_saves_too_little_is_not_offered_as_spot():
    # m5a.xlarge saves 20% (ratio 0.8), m5.xlarge 55% but bucket 4 (>20%)
    options = {"aws": {**ADVISOR_ON["aws"], "maxSpotPriceRatio": 0.5, "maxSpotInterruptBucket": 3}}
    result = preview(pod("^m5a?\\\\.xlarge$", "spot"), **options)
    assert result.nodes == []
    # with the defaults both are candidates, and m5.xlarge (0.192 x 0.45 = 0.0864) is cheaper
    (line,) = preview(pod("^m5a?\\\\.xlarge$", "spot"), **ADVISOR_ON).nodes
    assert (line.instance_type, round(line.hourly_cost_each, 4)) == ("m5.xlarge", 0.0864)


def test_no_advisor_data_at_start_means_the_ratio_estimate_with_a_warning(caplog):
    # the public address is fetched by the daemon at run time, never at start (or in preview)
    caplog.set_level(logging.WARNING, logger="smart_autoscaler.pricing")
    options = {"aws": {"useSpotAdvisor": True, "spotAdvisorURL": "https://example.invalid/spot-advisor-data.json"}}
    (line,) = preview(pod("^r5a.xlarge$"), **options).nodes
    assert line.hourly_cost_each == pytest.approx(0.113)
    assert "fetched at run time" in caplog.text


def test_advisor_data_in_the_wrong_shape_name_the_source_and_the_field():
    with pytest.raises(SpotAdvisorError, match=r"x.json: spot_advisor.us-west-2.Linux.r5a.xlarge = .*expected"):
        parse_advisor('{"ranges": [{"index": 0}], "spot_advisor": {"us-west-2": {"Linux": {"r5a.xlarge": {"s": "x"}}}}}', "x.json")
