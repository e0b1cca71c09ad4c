"""Tests for autoscaler.manifests: reading manifests and expanding workloads into pods."""

from __future__ import annotations

import io
import json
import re
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from autoscaler.manifests import (
    ExpandedPod,
    LoadedManifests,
    ManifestError,
    expand_object,
    load_manifest_files,
    load_manifest_text,
)

DATA = Path(__file__).parent / "data" / "manifests"
TOKEN = "[a-z0-9]"


def load(text: str, source: str = "m.yaml") -> LoadedManifests:
    return load_manifest_text(textwrap.dedent(text), source)


def pod_template(name: str = "app", labels: dict | None = None, annotations: dict | None = None) -> dict:
    meta = {"labels": labels or {"app": name}}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"containers": [{"name": name, "image": "nginx", "resources": {"requests": {"cpu": "1"}}}]}}


def workload(kind: str, name: str, spec: dict, api_version: str = "apps/v1", **metadata) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


def names(pods: list[ExpandedPod]) -> list[str]:
    return [p.manifest["metadata"]["name"] for p in pods]


def owner(pod: ExpandedPod) -> dict:
    [ref] = pod.manifest["metadata"]["ownerReferences"]
    return ref


# ---------------------------------------------------------------------------------------------
# Kinds


def test_bare_pod_is_kept_as_is_in_default_namespace():
    [pod] = load("""
        apiVersion: v1
        kind: Pod
        metadata: {name: solo, labels: {a: b}}
        spec:
          containers: [{name: c, image: busybox}]
    """).pods
    meta = pod.manifest["metadata"]
    assert (meta["name"], meta["namespace"], meta["labels"]) == ("solo", "default", {"a": "b"})
    assert "ownerReferences" not in meta
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert pod.manifest["status"] == {"phase": "Pending"}
    assert pod.manifest["spec"] == {"containers": [{"name": "c", "image": "busybox"}]}
    assert (pod.workload, pod.group, pod.source) == ("Pod/default/solo", "", "m.yaml#1 Pod/solo")


def test_deployment_pods_are_owned_by_a_hashed_replicaset():
    deploy = workload(
        "Deployment",
        "web",
        {"replicas": 3, "template": pod_template("web", annotations={"prometheus.io/scrape": "true"})},
        namespace="prod",
        annotations={"deployment.kubernetes.io/revision": "4"},
    )
    pods = expand_object(deploy, "d.yaml#2")
    assert len(pods) == 3 and len(set(names(pods))) == 3
    rs = owner(pods[0])["name"]
    pod_hash = rs.removeprefix("web-")
    assert re.fullmatch(f"{TOKEN}{{10}}", pod_hash)
    for pod in pods:
        meta = pod.manifest["metadata"]
        assert re.fullmatch(f"web-{pod_hash}-{TOKEN}{{5}}", meta["name"])
        assert meta["namespace"] == "prod"
        assert meta["labels"] == {"app": "web", "pod-template-hash": pod_hash}
        assert meta["annotations"] == {"prometheus.io/scrape": "true"}  # workload annotations are not copied
        assert owner(pod) | {"uid": None} == {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": None,
            "controller": True, "blockOwnerDeletion": True,
        }  # fmt: skip
        assert pod.manifest["apiVersion"] == "v1" and pod.manifest["kind"] == "Pod"
        assert pod.manifest["status"] == {"phase": "Pending"}
        assert (pod.workload, pod.group, pod.source) == ("Deployment/prod/web", "", "d.yaml#2 Deployment/web")
    # Each pod has its own copy of the spec.
    pods[0].manifest["spec"]["containers"][0]["image"] = "changed"
    assert pods[1].manifest["spec"]["containers"][0]["image"] == "nginx"


def test_deployment_replicas_default_to_one_and_zero_gives_none():
    assert len(expand_object(workload("Deployment", "a", {"template": pod_template()}), "x")) == 1
    assert expand_object(workload("Deployment", "a", {"replicas": 0, "template": pod_template()}), "x") == []


def test_template_change_changes_the_replicaset_hash():
    one = expand_object(workload("Deployment", "a", {"template": pod_template("a")}), "x")
    two = expand_object(workload("Deployment", "a", {"template": pod_template("b")}), "x")
    assert owner(one[0])["name"] != owner(two[0])["name"]


def test_replicaset_pods_are_owned_by_the_replicaset():
    pods = expand_object(workload("ReplicaSet", "rs", {"template": pod_template()}, namespace="ns"), "x")
    [pod] = pods
    assert owner(pod)["kind"] == "ReplicaSet" and owner(pod)["name"] == "rs"
    assert re.fullmatch(f"rs-{TOKEN}{{5}}", names(pods)[0])
    assert pod.workload == "ReplicaSet/ns/rs"


def test_statefulset_pods_are_numbered_and_get_their_claims():
    spec = {
        "replicas": 3,
        "serviceName": "db",
        "template": pod_template("db"),
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}],
    }
    pods = expand_object(workload("StatefulSet", "db", spec), "x")
    assert names(pods) == ["db-0", "db-1", "db-2"]
    assert {owner(p)["kind"] for p in pods} == {"StatefulSet"}
    assert pods[2].manifest["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-2"
    assert pods[2].manifest["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-2"}}]
    assert {p.workload for p in pods} == {"StatefulSet/default/db"}


@pytest.mark.parametrize(
    ("job_spec", "expected"),
    [
        ({}, 1),
        ({"parallelism": 4}, 4),
        ({"parallelism": 4, "completions": 2}, 2),
        ({"parallelism": 2, "completions": 10}, 2),
        ({"completions": 5}, 1),
        ({"parallelism": 0}, 0),
        ({"parallelism": 3, "suspend": True}, 0),
    ],
)
def test_job_parallelism_capped_by_completions(job_spec, expected):
    job = workload("Job", "train", {**job_spec, "template": pod_template()}, api_version="batch/v1")
    pods = expand_object(job, "j.yaml#1")
    assert len(pods) == expected and len(set(names(pods))) == expected
    for pod in pods:
        labels = pod.manifest["metadata"]["labels"]
        assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == "train"
        assert labels["batch.kubernetes.io/controller-uid"] == owner(pod)["uid"]
        assert owner(pod)["kind"] == "Job" and owner(pod)["name"] == "train"
        assert re.fullmatch(f"train-{TOKEN}{{5}}", pod.manifest["metadata"]["name"])
        assert pod.workload == "Job/default/train"


def test_cronjob_gives_one_jobs_worth_of_pods():
    pods = load("""
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: nightly, namespace: ops}
        spec:
          schedule: "0 3 * * *"
          jobTemplate:
            metadata: {labels: {on-job: "yes"}}
            spec:
              parallelism: 3
              completions: 2
              template:
                metadata: {labels: {app: report}}
                spec:
                  restartPolicy: Never
                  containers: [{name: report, image: busybox}]
    """).pods
    assert len(pods) == 2
    job = owner(pods[0])["name"]
    assert re.fullmatch(r"nightly-\d{8}", job)
    for pod in pods:
        meta = pod.manifest["metadata"]
        assert owner(pod)["kind"] == "Job" and owner(pod)["name"] == job
        assert meta["labels"]["job-name"] == job and meta["labels"]["app"] == "report"
        assert "on-job" not in meta["labels"]  # Job-level labels stay on the Job
        assert re.fullmatch(f"{job}-{TOKEN}{{5}}", meta["name"]) and meta["namespace"] == "ops"
        assert pod.workload == "CronJob/ops/nightly"


def test_suspended_cronjob_creates_nothing():
    spec = {"suspend": True, "jobTemplate": {"spec": {"template": pod_template()}}}
    assert expand_object(workload("CronJob", "c", spec, api_version="batch/v1"), "x") == []


def test_daemonset_is_returned_apart():
    loaded = load("""
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: logs, namespace: kube-system}
        spec:
          selector: {matchLabels: {app: logs}}
          template:
            metadata: {labels: {app: logs}}
            spec:
              containers: [{name: fluentbit, image: fluent/fluent-bit}]
    """)
    assert loaded.pods == [] and loaded.skipped == []
    assert [d["metadata"]["name"] for d in loaded.daemonsets] == ["logs"]
    assert expand_object(loaded.daemonsets[0], "x") == []


def test_rayservice_head_and_two_worker_groups():
    loaded = load_manifest_files([str(DATA / "rayservice.yaml")])
    pods = loaded.pods
    assert Counter(p.group for p in pods) == {"head": 1, "small": 2, "gpu": 3}
    assert {p.workload for p in pods} == {"RayService/default/llm"}
    assert len(set(names(pods))) == 6
    cluster = owner(pods[0])["name"]
    assert re.fullmatch(f"llm-raycluster-{TOKEN}{{5}}", cluster)
    for pod in pods:
        meta = pod.manifest["metadata"]
        assert owner(pod)["kind"] == "RayCluster" and owner(pod)["name"] == cluster
        assert owner(pod)["apiVersion"] == "ray.io/v1"
        assert meta["labels"]["ray.io/cluster"] == cluster
        assert "team" not in meta["annotations"]
        if pod.group == "head":
            assert re.fullmatch(f"{cluster}-head-{TOKEN}{{5}}", meta["name"])
            assert meta["labels"]["ray.io/node-type"] == "head" and meta["labels"]["app"] == "llm"
        else:
            assert re.fullmatch(f"{cluster}-{pod.group}-worker-{TOKEN}{{5}}", meta["name"])
            assert meta["labels"]["ray.io/node-type"] == "worker"
            assert meta["labels"]["ray.io/group"] == pod.group
    gpu = next(p for p in pods if p.group == "gpu")
    assert gpu.manifest["metadata"]["annotations"] == {"profile": "gpu"}
    assert gpu.manifest["spec"]["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert loaded.skipped == [f"{DATA / 'rayservice.yaml'}#2 Service/llm-serve: no pods"]


def ray_group(name: str, **fields) -> dict:
    return {"groupName": name, "rayStartParams": {}, "template": pod_template(name), **fields}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, 1),
        ({"minReplicas": 3}, 3),
        ({"replicas": 4, "minReplicas": 1, "maxReplicas": 10}, 4),
        ({"replicas": 20, "maxReplicas": 10}, 10),
        ({"replicas": 0, "minReplicas": 2}, 2),
        ({"replicas": 2, "numOfHosts": 4}, 8),
        ({"replicas": 5, "suspend": True}, 0),
    ],
)
def test_raycluster_worker_counts(fields, expected):
    spec = {"headGroupSpec": {"template": pod_template("head")}, "workerGroupSpecs": [ray_group("w", **fields)]}
    pods = expand_object(workload("RayCluster", "rc", spec, api_version="ray.io/v1alpha1", namespace="ray"), "x")
    assert Counter(p.group for p in pods) == {"head": 1, **({"w": expected} if expected else {})}
    assert {owner(p)["name"] for p in pods} == {"rc"}
    assert {owner(p)["apiVersion"] for p in pods} == {"ray.io/v1alpha1"}
    assert {p.workload for p in pods} == {"RayCluster/ray/rc"}
    assert all(p.manifest["metadata"]["labels"]["ray.io/cluster"] == "rc" for p in pods)


def test_raycluster_suspended_creates_nothing():
    spec = {"suspend": True, "headGroupSpec": {"template": pod_template()}, "workerGroupSpecs": [ray_group("w")]}
    assert expand_object(workload("RayCluster", "rc", spec, api_version="ray.io/v1"), "x") == []


def rayjob(**spec) -> dict:
    cluster = {"headGroupSpec": {"template": pod_template("head")}, "workerGroupSpecs": [ray_group("cpu", replicas=2)]}
    return workload("RayJob", "etl", {"entrypoint": "python job.py", "rayClusterSpec": cluster, **spec}, api_version="ray.io/v1")


def test_rayjob_cluster_and_submitter():
    pods = expand_object(rayjob(submitterPodTemplate=pod_template("submit")), "r.yaml#1")
    assert Counter(p.group for p in pods) == {"head": 1, "cpu": 2, "submitter": 1}
    assert {p.workload for p in pods} == {"RayJob/default/etl"}
    submitter = next(p for p in pods if p.group == "submitter")
    assert owner(submitter)["kind"] == "Job" and owner(submitter)["name"] == "etl"
    assert submitter.manifest["metadata"]["labels"]["job-name"] == "etl"
    cluster = owner(next(p for p in pods if p.group == "head"))["name"]
    assert re.fullmatch(f"etl-raycluster-{TOKEN}{{5}}", cluster)


def test_rayjob_without_submitter_template_or_in_http_mode_has_no_submitter():
    assert Counter(p.group for p in expand_object(rayjob(), "x")) == {"head": 1, "cpu": 2}
    http = rayjob(submissionMode="HTTPMode", submitterPodTemplate=pod_template())
    assert "submitter" not in {p.group for p in expand_object(http, "x")}


def test_rayjob_on_existing_cluster_creates_no_cluster():
    job = workload("RayJob", "etl", {"clusterSelector": {"ray.io/cluster": "shared"}}, api_version="ray.io/v1")
    assert expand_object(job, "x") == []


# ---------------------------------------------------------------------------------------------
# Documents: multi-document YAML, JSON, Lists, skipped kinds


def test_multi_document_yaml_with_empty_documents_and_skipped_kinds():
    loaded = load("""
        ---
        # nothing here
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg}
        data: {a: b}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          template:
            spec:
              containers: [{name: web, image: nginx}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        ---
        apiVersion: example.com/v1
        kind: Deployment
        metadata: {name: not-apps}
    """)
    assert [p.source for p in loaded.pods] == ["m.yaml#3 Deployment/web"] * 2
    assert loaded.skipped == [
        "m.yaml#2 ConfigMap/cfg: no pods",
        "m.yaml#4 Service/web: no pods",
        "m.yaml#5 Deployment/not-apps: no pods: a Deployment of example.com/v1 is not expanded (the preview reads Deployment of apps/v1)",
    ]


def test_json_object_array_and_list():
    deploy = workload("Deployment", "web", {"replicas": 2, "template": pod_template()})
    job = workload("Job", "once", {"template": pod_template()}, api_version="batch/v1")
    single = load_manifest_text(json.dumps(deploy), "one.json")
    array = load_manifest_text(json.dumps([deploy, job]), "array.json")
    listed = load_manifest_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [deploy, job]}), "list.json")
    typed = load_manifest_text(json.dumps({"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [deploy]}), "dl.json")
    assert len(single.pods) == 2 and len(typed.pods) == 2
    assert len(array.pods) == len(listed.pods) == 3
    assert names(array.pods) == names(listed.pods) == names(single.pods) + names(expand_object(job, "x"))
    assert listed.pods[2].source == "list.json#1/items[1] Job/once"
    assert array.pods[0].source == "array.json#1/[0] Deployment/web"


def test_pod_names_are_deterministic_across_loads(tmp_path):
    text = (DATA / "rayservice.yaml").read_text() + "\n---\n" + json.dumps(
        workload("Deployment", "web", {"replicas": 50, "template": pod_template()})
    )
    path = tmp_path / "all.yaml"
    path.write_text(text)
    first, second = load_manifest_files([str(path)]), load_manifest_files([str(path)])
    assert [p.manifest for p in first.pods] == [p.manifest for p in second.pods]
    assert len({(p.manifest["metadata"]["namespace"], p.manifest["metadata"]["name"]) for p in first.pods}) == 56
    assert len({p.manifest["metadata"]["uid"] for p in first.pods}) == 56


def test_many_replicas_get_unique_names():
    pods = expand_object(workload("Deployment", "big", {"replicas": 3000, "template": pod_template()}), "x")
    assert len(set(names(pods))) == 3000


def test_several_files_and_stdin(tmp_path, monkeypatch):
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(json.dumps(workload("Deployment", "web", {"template": pod_template()})))
    job = workload("Job", "once", {"template": pod_template()}, api_version="batch/v1")
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(job)))
    loaded = load_manifest_files([str(deploy), "-"])
    assert [p.workload for p in loaded.pods] == ["Deployment/default/web", "Job/default/once"]
    assert loaded.pods[1].source == "<stdin>#1 Job/once"


def test_same_pod_twice_is_an_error(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n")
    with pytest.raises(ManifestError, match=r"pod default/p is also created by .*pod.yaml#1 Pod/p"):
        load_manifest_files([str(path), str(path)])


# ---------------------------------------------------------------------------------------------
# Errors


DEPLOY_HEAD = """\
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
"""


def test_error_message_names_file_document_kind_field_and_value():
    text = DEPLOY_HEAD + "spec:\n  replicas: three\n  template: {spec: {containers: [{name: c}]}}\n"
    with pytest.raises(ManifestError) as caught:
        load_manifest_text(text, "examples/x.yaml")
    err = caught.value
    assert str(err) == "examples/x.yaml: document 2 (Deployment web): spec.replicas: expected a non-negative integer, got 'three'"
    assert (err.file, err.document, err.field) == ("examples/x.yaml", 2, "spec.replicas")
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("text", "document", "field", "message"),
    [
        ("---\n# empty\n---\nhello\n", 2, None, "document 2: expected a mapping (a Kubernetes object), got 'hello'"),
        ("[1]\n", 1, "[0]", "document 1: [0]: expected a mapping (a Kubernetes object), got 1"),
        ("apiVersion: v1\nmetadata: {name: a}\n", 1, "kind", "document 1: kind: missing"),
        ("kind: Pod\nmetadata: {name: a}\n", 1, "apiVersion", "document 1 (Pod): apiVersion: missing"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {labels: {}}\n", 1, "metadata.name", "document 1 (Pod): metadata.name: missing"),
        ("apiVersion: v1\nkind: Pod\n", 1, "metadata", "document 1 (Pod): metadata: missing"),
        (DEPLOY_HEAD, 2, "spec", "document 2 (Deployment web): spec: missing"),
        (DEPLOY_HEAD + "spec: {replicas: 1}\n", 2, "spec.template", "(Deployment web): spec.template: missing"),
        (DEPLOY_HEAD + "spec: {replicas: -2, template: {spec: {containers: [{name: c}]}}}\n", 2, "spec.replicas", "got -2"),
        (DEPLOY_HEAD + "spec: {replicas: true, template: {spec: {containers: [{name: c}]}}}\n", 2, "spec.replicas", "got True"),
        (DEPLOY_HEAD + "spec: {template: {metadata: {}}}\n", 2, "spec.template.spec", "spec.template.spec: missing"),
        (DEPLOY_HEAD + "spec: {template: {spec: {containers: []}}}\n", 2, "spec.template.spec.containers", "expected a non-empty list, got []"),
        (DEPLOY_HEAD + "spec: {template: {spec: {}}}\n", 2, "spec.template.spec.containers", "containers: missing"),
        (DEPLOY_HEAD + "spec: {template: {spec: {containers: [{image: x}]}}}\n", 2, "spec.template.spec.containers[0].name", "missing"),
        (DEPLOY_HEAD + "spec: {template: {spec: {containers: [nginx]}}}\n", 2, "spec.template.spec.containers[0]", "expected a mapping, got 'nginx'"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {parallelism: -1, template: {spec: {containers: [{name: c}]}}}\n",
         1, "spec.parallelism", "(Job j): spec.parallelism: expected a non-negative integer, got -1"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {completions: 1.5, template: {spec: {containers: [{name: c}]}}}\n",
         1, "spec.completions", "got 1.5"),
        ("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec: {schedule: x}\n", 1, "spec.jobTemplate", "(CronJob cj): spec.jobTemplate: missing"),
        ("apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: s}\nspec: {rayClusterConfig: {headGroupSpec: {template: {spec: {containers: [{name: h}]}}},"
         " workerGroupSpecs: [{groupName: g, replicas: many, template: {spec: {containers: [{name: w}]}}}]}}\n",
         1, "spec.rayClusterConfig.workerGroupSpecs[0].replicas", "(RayService s): spec.rayClusterConfig.workerGroupSpecs[0].replicas: expected"),
        ("apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: j}\nspec: {entrypoint: x}\n", 1, "spec.rayClusterSpec", "spec.rayClusterSpec: missing"),
        ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec: {template: {spec: {}}}\n", 1, "spec.template.spec.containers", "missing"),
        ('{"kind": "List", "apiVersion": "v1", "items": [{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}}]}',
         1, "items[0].spec", "document 1 (Pod p): items[0].spec: missing"),
        ("apiVersion: v1\nkind: List\nitems: {a: 1}\n", 1, "items", "document 1 (List): items: expected a list, got a mapping"),
    ],
)
def test_errors_name_document_and_field(text, document, field, message):
    with pytest.raises(ManifestError) as caught:
        load_manifest_text(text, "bad.yaml")
    err = caught.value
    assert (err.file, err.document, err.field) == ("bad.yaml", document, field)
    assert str(err).startswith("bad.yaml: document")
    assert message in str(err)


def test_yaml_syntax_error_names_document_and_line():
    text = DEPLOY_HEAD + "spec:\n  replicas: 2\n   template: {\n"
    with pytest.raises(ManifestError) as caught:
        load_manifest_text(text, "broken.yaml")
    err = caught.value
    assert (err.file, err.document, err.line) == ("broken.yaml", 2, 10)
    assert str(err).startswith("broken.yaml: document 2: line 10: YAML syntax error: ")


def test_unreadable_files_are_named(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(ManifestError, match="nope.yaml: cannot read: No such file") as caught:
        load_manifest_files([missing])
    assert (caught.value.file, caught.value.document) == (missing, None)
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest_files([str(tmp_path)])
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(ManifestError, match="bin.yaml: cannot read: not UTF-8"):
        load_manifest_files([str(binary)])


def test_the_kinds_counted_are_the_kinds_validated():
    """autoscaler/validate/workload_counts.py lists the expanded kinds without pydantic; the
    workload schemas in autoscaler/validate/workloads.py must cover exactly those."""
    from autoscaler.validate import workloads

    assert workloads.EXPANDED_KINDS == tuple(sorted({kind for _, kind in workloads._SPECS} | {"Pod"}))
