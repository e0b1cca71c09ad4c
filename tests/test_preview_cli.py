"""`smart-autoscaler preview` as a user runs it: files in, table or JSON out, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "rayservice-llm.yaml")
LUNA = str(ROOT / "examples" / "luna-thresholds.yaml")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_has_the_documented_shape(capsys):
    code, out, _ = run(capsys, "preview", "-f", EXAMPLE, "--config", LUNA, "--target", "aws:us-west-2", "-o", "json")
    assert code == 0
    document = json.loads(out)
    (target,) = document["targets"]
    assert (target["cloud"], target["region"], target["total_hourly_cost"]) == ("aws", "us-west-2", 4.2548)
    head, workers = target["nodes"]
    assert {k: workers[k] for k in ("instance_type", "capacity_type", "mode", "count", "hourly_cost_each")} == {
        "instance_type": "g6.8xlarge",
        "capacity_type": "on-demand",
        "mode": "bin-select",
        "count": 2,
        "hourly_cost_each": 2.0144,
    }
    assert len(workers["pods"]) == 2 and all(p.startswith("default/llm-") for p in workers["pods"])
    assert head["instance_type"] == "r5a.xlarge" and head["count"] == 1
    assert target["unplaceable"] == []


def test_table_shows_every_target_side_by_side(capsys):
    code, out, _ = run(
        capsys, "preview", "-f", EXAMPLE, "--config", LUNA, "--target", "aws:us-west-2", "--target", "gcp:us-central1"
    )
    assert code == 0
    assert "== aws:us-west-2 ==" in out and "== gcp:us-central1 ==" in out
    summary = out.split("== summary ==")[1]
    assert "aws:us-west-2" in summary and "4.2548" in summary
    assert "cheapest: gcp:us-central1" in summary


def test_unplaceable_pods_are_listed_with_a_reason(capsys, tmp_path):
    # OCI sells no L4 (its catalog has A10 now, which used to make this example unplaceable there)
    manifest = tmp_path / "l4.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: l4-worker\n  annotations: {smart-autoscaler.io/instance-gpu-skus: L4}\n"
        "spec:\n  containers:\n  - name: c\n    resources: {limits: {nvidia.com/gpu: 1}}\n"
    )
    code, out, _ = run(capsys, "preview", "-f", str(manifest), "--target", "oci:us-ashburn-1", "-o", "json")
    assert code == 0
    (target,) = json.loads(out)["targets"]
    reasons = {u["reason"] for u in target["unplaceable"]}
    assert any("no offering has 1 L4 GPU" in r for r in reasons), reasons


def test_stdin_is_read_with_dash(monkeypatch, capsys):
    manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: solo}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: '3'}}\n"
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(manifest))
    code, out, _ = run(capsys, "preview", "-f", "-", "-o", "json")
    assert code == 0
    (target,) = json.loads(out)["targets"]
    assert target["cloud"] == "aws" and target["region"] == "us-east-1"
    assert target["nodes"][0]["pods"] == ["default/solo"]


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: web}\n"
            "spec: {replicas: three, template: {spec: {containers: [{name: c}]}}}\n",
            "spec.replicas",
        ),
        ("kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [}\n", "line"),
    ],
)
def test_bad_manifest_names_file_and_field_and_exits_2(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    code, out, err = run(capsys, "preview", "-f", str(path))
    assert code == 2
    assert str(path) in err and expected in err
    assert out == ""


def test_bad_config_names_the_key_and_exits_2(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("binSelectPodMemoryThreshold: lots\n")
    code, _, err = run(capsys, "preview", "-f", EXAMPLE, "--config", str(path))
    assert code == 2
    assert "binSelectPodMemoryThreshold" in err and "lots" in err


def test_unknown_target_exits_2(capsys):
    code, _, err = run(capsys, "preview", "-f", EXAMPLE, "--target", "aws:mars-north-1")
    assert code == 2
    assert "mars-north-1" in err and "us-west-2" in err


def test_bad_quantity_in_a_pod_stops_the_preview_naming_file_document_pod_and_field(tmp_path, capsys):
    # Given a file whose first Pod asks for "lots" of CPU
    path = tmp_path / "pods.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: c, resources: {requests: {cpu: lots}}}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec: {containers: [{name: c, resources: {requests: {cpu: '3'}}}]}\n"
    )
    # When previewed, then it exits 2 and says where the bad value is (it was planned as unplaceable before)
    code, out, err = run(capsys, "preview", "-f", str(path), "-o", "json")
    assert code == 2 and out == ""
    assert f"{path}: document 1 (Pod bad): spec.containers[0].resources.requests.cpu:" in err
    assert "'lots'" in err


def test_module_entry_point_runs(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "autoscaler", "preview", "-f", EXAMPLE, "--config", LUNA, "--target", "aws:us-west-2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "g6.8xlarge" in completed.stdout


def test_daemonsets_in_the_files_count_as_overhead_and_a_bad_one_stops_the_preview(tmp_path, capsys):
    pods = "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec: {{containers: [{{name: c, resources: {{requests: {{cpu: 900m}}}}}}]}}\n"
        for i in range(4)
    )
    agent = (
        "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: kube-system}\n"
        "spec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, "
        "spec: {containers: [{name: c, resources: {requests: {cpu: %s}}}]}}}\n"
    )
    without = tmp_path / "without.yaml"
    without.write_text(pods)
    with_agent = tmp_path / "with.yaml"
    with_agent.write_text(pods + agent % "500m")
    broken = tmp_path / "broken.yaml"
    broken.write_text(pods + agent % "lots")
    counts = []
    for path in (without, with_agent):
        code, out, err = run(capsys, "preview", "-f", str(path), "-o", "json")
        assert code == 0
        counts.append(json.loads(out)["targets"][0]["node_count"])
    assert counts == [1, 2]
    code, out, err = run(capsys, "preview", "-f", str(broken), "-o", "json")
    assert code == 2
    assert "(DaemonSet agent): spec.template.spec.containers[0].resources.requests.cpu:" in err and "'lots'" in err
