"""Prometheus' own checker on what the chart and the daemon expose: the alert rules
(helm/smart-autoscaler/files/alerts.yaml), the dashboard's queries, and the /metrics exposition.

Needs `promtool` on PATH (Debian/Ubuntu: `apt-get install prometheus`); skipped otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from autoscaler.metrics import Metrics

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (apt-get install prometheus, which ships it)"
)

FILES = Path(__file__).resolve().parent.parent / "helm" / "smart-autoscaler" / "files"
ALERTS = FILES / "alerts.yaml"


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, *args], input=stdin.decode() if stdin is not None else None,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_alert_rules_are_valid() -> None:
    out = promtool("check", "rules", str(ALERTS)).stdout
    assert "SUCCESS" in out


def touched_metrics() -> Metrics:
    """Every metric of the daemon with one sample (labelled ones with one child)."""
    metrics = Metrics()
    for metric in vars(metrics).values():
        if not isinstance(metric, (Counter, Gauge, Histogram)):
            continue
        if metric._labelnames:
            metric = metric.labels(*(f"{name}-1" for name in metric._labelnames))
        if isinstance(metric, Counter):
            metric.inc()
        elif isinstance(metric, Gauge):
            metric.set(1)
        else:
            metric.observe(42)
    return metrics


def test_metrics_exposition_passes_promtool_lint() -> None:
    metrics = touched_metrics()
    exposition = metrics.exposition()
    families = [family.name for family in metrics.registry.collect()]
    assert len(families) == 28  # + price age (live prices); hot-node colours, evictions, TTL cycling; unused launches; faults (issue 19); spot interruptions (4)
    for family in families:
        assert f"\n{family}".encode() in exposition, f"{family} has no sample"
    result = promtool("check", "metrics", stdin=exposition)
    assert not result.stdout.strip() and not result.stderr.strip(), result.stdout + result.stderr


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Each dashboard query, with Grafana's variables filled in, as a recording rule promtool parses."""
    dashboard = json.loads((FILES / "dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    rules = [
        {"record": f"smart_autoscaler:dashboard_query_{i}",
         "expr": expr.replace("$__rate_interval", "5m").replace("$job", ".+")}
        for i, expr in enumerate(exprs)
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    promtool("check", "rules", str(path))


# ---- the alerts fire when they should (promtool test rules)

SERIES = 'smart_autoscaler_{name}{{job="sa",namespace="kube-system",instance="{instance}"{extra}}}'


def series(name: str, instance: str, values: str, **labels: str) -> dict[str, str]:
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return {"series": SERIES.format(name=name, instance=instance, extra=extra), "values": values}


def alert(name: str, at: str, fires: bool, **labels: str) -> dict[str, Any]:
    expected = [{"exp_labels": {"namespace": "kube-system", "job": "sa", **labels}}] if fires else []
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


def test_alerts_fire_on_the_leaders_numbers(tmp_path: Path) -> None:
    # Annotations are checked by `check rules` above; without them the test states only what fires.
    groups = yaml.safe_load(ALERTS.read_text())
    for group in groups["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump(groups))
    leader_a = [series("leader", "a", "1x40"), series("leader", "b", "0x40")]
    tests = [
        {   # nobody leads: critical after 5 minutes, not before
            "interval": "1m",
            "input_series": [series("leader", "a", "0x20"), series("leader", "b", "0x20")],
            "alert_rule_test": [
                alert("SmartAutoscalerNoLeader", "4m", False),
                alert("SmartAutoscalerNoLeader", "6m", True, severity="critical"),
            ],
        },
        {   # one leader: quiet
            "interval": "1m",
            "input_series": leader_a,
            "alert_rule_test": [
                alert("SmartAutoscalerNoLeader", "10m", False),
                alert("SmartAutoscalerMultipleLeaders", "10m", False),
            ],
        },
        {   # the leader has unplaceable pods for 15m; a former leader's stale gauge is ignored
            "interval": "1m",
            "input_series": leader_a + [
                series("unplaceable_pods", "a", "3x40"),
                series("unplaceable_pods", "b", "0x40"),
                series("backoffs_active", "a", "2x40", reason="insufficient-capacity"),
                series("backoffs_active", "b", "0x40", reason="insufficient-capacity"),
            ],
            "alert_rule_test": [
                alert("SmartAutoscalerPodsUnplaceable", "10m", False),
                alert("SmartAutoscalerPodsUnplaceable", "20m", True, severity="warning"),
                alert("SmartAutoscalerAllOfferingsBackedOff", "12m", True, severity="warning"),
            ],
        },
        {   # stale numbers of a replica that no longer leads fire nothing
            "interval": "1m",
            "input_series": leader_a + [
                series("unplaceable_pods", "a", "0x40"),
                series("unplaceable_pods", "b", "5x40"),
                series("backoffs_active", "b", "4x40", reason="quota-exceeded"),
            ],
            "alert_rule_test": [
                alert("SmartAutoscalerPodsUnplaceable", "30m", False),
                alert("SmartAutoscalerAllOfferingsBackedOff", "30m", False),
            ],
        },
        {   # the Kubernetes API unreachable from the 5th minute; the cloud answers
            "interval": "1m",
            "input_series": leader_a + [
                series("api_reachable", "a", "1x4 0x20", api="kubernetes"),
                series("api_reachable", "a", "1x24", api="cloud"),
                series("planning_errors_total", "a", "0x10 1x20", error="ZeroDivisionError"),
            ],
            "alert_rule_test": [
                alert("SmartAutoscalerAPIUnreachable", "6m", False),
                alert("SmartAutoscalerAPIUnreachable", "9m", True, severity="critical", api="kubernetes"),
                alert("SmartAutoscalerPlanningErrors", "9m", False),
                alert("SmartAutoscalerPlanningErrors", "12m", True, severity="warning", error="ZeroDivisionError"),
            ],
        },
        {   # one launch whose node never advertised its device: warned for the hour, then quiet
            "interval": "1m",
            "input_series": leader_a + [
                series("launches_unused_total", "a", "0x5 1x90", reason="device_plugin_missing"),
                series("launches_unused_total", "a", "0x5 1x90", reason="taken"),
            ],
            "alert_rule_test": [
                alert("SmartAutoscalerDevicePluginMissing", "3m", False),
                alert("SmartAutoscalerDevicePluginMissing", "30m", True, severity="warning"),
                alert("SmartAutoscalerDevicePluginMissing", "80m", False),
            ],
        },
        {   # a failing loop every minute
            "interval": "1m",
            "input_series": leader_a + [series("reconcile_errors_total", "a", "0+1x40")],
            "alert_rule_test": [alert("SmartAutoscalerReconcileErrors", "25m", True, severity="warning")],
        },
        {   # every loop takes about 7 s: 6 observations a minute, all between the 5 s and 10 s bounds
            "interval": "1m",
            "input_series": leader_a + [
                series("reconcile_duration_seconds_bucket", "a", "0x60" if float(le) < 7 else "0+6x60", le=le)
                for le in ("0.5", "1", "5", "10", "+Inf")
            ],
            "alert_rule_test": [
                alert("SmartAutoscalerReconcileSlow", "10m", False),
                alert("SmartAutoscalerReconcileSlow", "20m", True, severity="warning"),
            ],
        },
    ]
    spec = tmp_path / "alerts_test.yaml"
    spec.write_text(yaml.safe_dump({
        "rule_files": [str(rules)], "evaluation_interval": "1m", "tests": tests,
    }, sort_keys=False))
    promtool("test", "rules", str(spec))
