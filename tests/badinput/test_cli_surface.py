"""What a new user sees around bad input: whole pod names in the table, skipped objects and pods
in the JSON, --version, help texts that point to the scenario format and show defaults, and
honest YAML anchors still accepted."""

from __future__ import annotations

import json

import pytest

from autoscaler.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def deployment(name: str, replicas: int, labels: str = "{app: web}") -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n"
            f"  template:\n    metadata: {{labels: {labels}}}\n    spec:\n"
            "      containers: [{name: c, image: nginx, resources: {requests: {cpu: 100m, memory: 64Mi}}}]\n")


def test_a_long_pod_name_is_shown_whole_in_the_table(tmp_path, capsys):
    # Given one pod whose name is 120 characters (the old table cut it to "+1 more")
    name = "a" * 120
    path = tmp_path / "m.yaml"
    path.write_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: c}}]}}\n")
    code, out, _ = run(capsys, "preview", "-f", str(path))
    assert code == 0
    assert f"default/{name}" in out


def test_many_pods_wrap_and_the_rest_are_counted_visibly(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(deployment("web", 200))
    code, out, _ = run(capsys, "preview", "-f", str(path))
    assert code == 0
    assert "... and" in out and "more pods (-o json lists every pod)" in out
    shown = out.count("default/web-")
    hidden = int(out.split("... and ")[1].split(" more pods")[0])
    assert shown + hidden == 200  # every pod is either named or counted


def test_json_lists_skipped_objects_and_pods_with_reasons(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(
        deployment("web", 1, "{app: web, smart-autoscaler.io/managed: 'true'}")
        + "---\napiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: train}\nspec: {}\n"
        + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: plain}\nspec: {containers: [{name: c}]}\n"
    )
    code, out, _ = run(capsys, "preview", "-f", str(path), "-o", "json")
    assert code == 0
    document = json.loads(out)
    assert document["skipped"] == [{"object": f"{path}#2 PyTorchJob/train", "reason": document["skipped"][0]["reason"]}]
    assert "not expanded: PyTorchJob (Kubeflow Training Operator)" in document["skipped"][0]["reason"]
    assert document["skipped_pods"] == [{"pod": "default/plain", "reason": "not managed: lacks the managedPodLabels "
                                         "smart-autoscaler.io/managed=true; the daemon would not act for it"}]
    assert document["targets"][0]["node_count"] == 1


def test_max_pods_moves_the_preview_cap(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(deployment("web", 30))
    code, _, err = run(capsys, "preview", "-f", str(path), "--max-pods", "20")
    assert code == 2 and "would create 30 pods, more than the preview's maximum of 20 pods" in err


def test_honest_yaml_anchors_are_still_accepted(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n"
        "  - name: c\n    resources: &small {requests: {cpu: 250m, memory: 256Mi}}\n"
        "  - name: d\n    resources: *small\n"
    )
    code, out, _ = run(capsys, "preview", "-f", str(path), "-o", "json")
    assert code == 0 and json.loads(out)["targets"][0]["node_count"] == 1


def test_version_and_help_texts(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("smart-autoscaler ")
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Scenario format: README.md, section 'Scenario files'" in text and "at most 30 days" in text
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.0.0.0:8080)" in text and "(default: 30s)" in text
