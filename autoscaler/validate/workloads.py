"""Workload objects of the preview (Deployment, StatefulSet, Job, KubeRay, ...): their specs'
types and ranges (replicas and counts are int32 in the API, as the controllers accept them),
their pod templates (`autoscaler.validate.pods`), and how many pods they would create at most,
so that the preview can refuse a workload of a billion replicas before expanding anything."""

from __future__ import annotations

from typing import Annotated, Any, Mapping, Optional

from pydantic import Field, StrictBool, StrictStr, ValidationError

from autoscaler.validate.pods import template_problems
from autoscaler.validate.podschema import K8sModel, LabelSelector, ObjectMeta, NonNegInt32, PositiveInt32, StringMap
from autoscaler.validate.problems import FieldProblem, join_path
from autoscaler.validate.pydantic_errors import problems_of
from autoscaler.validate.workload_counts import EXPANDED_KINDS, pod_count  # noqa: F401 (re-exported)

_Template = Optional[dict]  # checked by template_problems, which names its own fields


class _ReplicatedSpec(K8sModel):
    replicas: Optional[NonNegInt32] = None
    selector: Optional[LabelSelector] = None
    template: dict


class _Ordinals(K8sModel):
    start: Optional[NonNegInt32] = None


class _StatefulSetSpec(_ReplicatedSpec):
    ordinals: Optional[_Ordinals] = None
    volumeClaimTemplates: Optional[list[dict]] = None


class _JobSpec(K8sModel):
    parallelism: Optional[NonNegInt32] = None
    completions: Optional[NonNegInt32] = None
    backoffLimit: Optional[NonNegInt32] = None
    suspend: Optional[StrictBool] = None
    template: dict


class _JobTemplate(K8sModel):
    spec: _JobSpec


class _CronJobSpec(K8sModel):
    schedule: Optional[StrictStr] = None
    suspend: Optional[StrictBool] = None
    jobTemplate: _JobTemplate


class _HeadGroup(K8sModel):
    template: dict


class _WorkerGroup(K8sModel):
    groupName: Annotated[StrictStr, Field(min_length=1)]
    replicas: Optional[NonNegInt32] = None
    minReplicas: Optional[NonNegInt32] = None
    maxReplicas: Optional[NonNegInt32] = None
    numOfHosts: Optional[PositiveInt32] = None
    suspend: Optional[StrictBool] = None
    template: dict


class _RayClusterSpec(K8sModel):
    headGroupSpec: _HeadGroup
    workerGroupSpecs: Optional[list[_WorkerGroup]] = None
    suspend: Optional[StrictBool] = None


class _RayServiceSpec(K8sModel):
    rayClusterConfig: _RayClusterSpec


class _RayJobSpec(K8sModel):
    rayClusterSpec: Optional[_RayClusterSpec] = None
    clusterSelector: Optional[StringMap] = None
    submitterPodTemplate: Optional[dict] = None
    submissionMode: Optional[StrictStr] = None
    suspend: Optional[StrictBool] = None


class _PodObject(K8sModel):
    spec: dict


class _DaemonSetSpec(K8sModel):
    template: dict


_SPECS = {
    ("apps", "Deployment"): _ReplicatedSpec,
    ("apps", "ReplicaSet"): _ReplicatedSpec,
    ("", "ReplicationController"): _ReplicatedSpec,
    ("apps", "StatefulSet"): _StatefulSetSpec,
    ("apps", "DaemonSet"): _DaemonSetSpec,
    ("batch", "Job"): _JobSpec,
    ("batch", "CronJob"): _CronJobSpec,
    ("ray.io", "RayCluster"): _RayClusterSpec,
    ("ray.io", "RayService"): _RayServiceSpec,
    ("ray.io", "RayJob"): _RayJobSpec,
}


def _templates(group: str, kind: str, spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field path, template) of every pod template inside a valid spec."""
    def ray(cluster: Mapping[str, Any] | None, path: str) -> list[tuple[str, Any]]:
        if not cluster:
            return []
        found = [(f"{path}.headGroupSpec.template", cluster["headGroupSpec"]["template"])]
        for i, worker in enumerate(cluster.get("workerGroupSpecs") or ()):
            found.append((f"{path}.workerGroupSpecs[{i}].template", worker["template"]))
        return found

    if kind == "CronJob":
        return [("spec.jobTemplate.spec.template", spec["jobTemplate"]["spec"]["template"])]
    if kind == "RayCluster":
        return ray(spec, "spec")
    if kind == "RayService":
        return ray(spec["rayClusterConfig"], "spec.rayClusterConfig")
    if kind == "RayJob":
        found = ray(spec.get("rayClusterSpec"), "spec.rayClusterSpec")
        if spec.get("submitterPodTemplate") is not None:
            found.append(("spec.submitterPodTemplate", spec["submitterPodTemplate"]))
        return found
    return [("spec.template", spec["template"])]


def workload_problems(group: str, kind: str, obj: Mapping[str, Any]) -> list[FieldProblem]:
    """What is wrong with the spec and pod templates of a kind the preview expands."""
    if (group, kind) == ("", "Pod"):
        from autoscaler.validate.pods import pod_problems

        return pod_problems({key: obj.get(key) for key in ("metadata", "spec", "status")})
    model = _SPECS.get((group, kind))
    if model is None:
        return []
    try:
        ObjectMeta.__pydantic_validator__.validate_python(obj.get("metadata"))
    except ValidationError as err:
        return problems_of(err, "metadata")
    spec = obj.get("spec")
    try:
        model.__pydantic_validator__.validate_python(spec)
    except ValidationError as err:
        return problems_of(err, "spec")
    problems: list[FieldProblem] = []
    for path, template in _templates(group, kind, spec):
        problems += template_problems(template, path)
    return problems


__all__ = ["EXPANDED_KINDS", "join_path", "pod_count", "workload_problems"]
