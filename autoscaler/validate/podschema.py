"""The shape of a core/v1 Pod (and pod template) as far as the autoscaler reads it.

pydantic v2 models in strict mode: a string where Kubernetes wants a string, an int32 where
it wants an int32, one of the enumerated values where it has an enum, as the API server's
decoding and validation would insist. Fields the autoscaler never reads are not listed
(they are ignored, as the planner ignores them). Quantities are checked afterwards, by
`autoscaler.validate.quantities`, so that their problems name the resource.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from autoscaler.validate.limits import INT32_MAX, INT64_MAX, MAX_PORT
from autoscaler.validate.names import _annotations, _dns_label, _dns_subdomain, _labels, resource_names


DnsSubdomain = Annotated[str, PlainValidator(_dns_subdomain), WithJsonSchema({"type": "string", "pattern": "^[a-z][a-z0-9]{0,9}$"})]
DnsLabel = Annotated[str, PlainValidator(_dns_label), WithJsonSchema({"type": "string", "pattern": "^[a-z][a-z0-9]{0,9}$"})]
Labels = Annotated[dict, PlainValidator(_labels), WithJsonSchema(
    {"type": "object", "additionalProperties": {"type": "string", "pattern": "^[a-z0-9]{1,8}$"}})]
Annotations = Annotated[dict, PlainValidator(_annotations), WithJsonSchema(
    {"type": "object", "additionalProperties": {"type": "string"}})]


def _quantity_like(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a quantity such as 500m, 2, 16Gi or 1.5")
    return value


def _int32_at_least(minimum: int) -> Any:
    words = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer of at least {minimum}")

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected {words}")
        if value > INT32_MAX:
            raise ValueError(f"expected {words} of at most {INT32_MAX:,} (an int32, as the API server stores it)")
        return value

    return check


def _count_type(minimum: int) -> Any:
    return Annotated[int, PlainValidator(_int32_at_least(minimum)),
                     WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": INT32_MAX})]


Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=INT32_MAX)]
NonNegInt32 = _count_type(0)
PositiveInt32 = _count_type(1)
Int64 = Annotated[StrictInt, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
Weight = Annotated[StrictInt, Field(ge=1, le=100)]
_QUANTITY_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]{1,5}(\.[0-9]{1,3})?(m|k|M|G|Ki|Mi|Gi|Ti)?$"},
        {"type": "integer", "minimum": 0, "maximum": 1024},
    ]
}
Quantity = Annotated[Any, PlainValidator(_quantity_like), WithJsonSchema(_QUANTITY_SCHEMA)]
ResourceList = Annotated[dict[StrictStr, Quantity], AfterValidator(resource_names)]
StringMap = dict[StrictStr, StrictStr]
Strings = list[StrictStr]
Name = Annotated[StrictStr, Field(min_length=1)]


class K8sModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class ResourceRequirements(K8sModel):
    requests: Optional[ResourceList] = None
    limits: Optional[ResourceList] = None


class ContainerPort(K8sModel):
    containerPort: Annotated[StrictInt, Field(ge=1, le=MAX_PORT)]
    hostPort: Optional[Annotated[StrictInt, Field(ge=0, le=MAX_PORT)]] = None
    protocol: Optional[Literal["TCP", "UDP", "SCTP"]] = None
    name: Optional[StrictStr] = None
    hostIP: Optional[StrictStr] = None


class Container(K8sModel):
    name: DnsLabel
    image: Optional[StrictStr] = None
    resources: Optional[ResourceRequirements] = None
    ports: Optional[list[ContainerPort]] = None
    restartPolicy: Optional[Literal["Always", "OnFailure", "Never"]] = None  # regular containers may set it too (1.34+)


def _check_values(requirement: Any) -> Any:
    """The values an operator takes, as the API server checks them."""
    values, operator = requirement.values or [], requirement.operator
    if operator in ("In", "NotIn") and not values:
        raise ValueError(f"values: must be non-empty when operator is {operator}")
    if operator in ("Exists", "DoesNotExist") and values:
        raise ValueError(f"values: must be empty when operator is {operator}")
    if operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
        raise ValueError(f"values: must be a single integer when operator is {operator}")
    return requirement


class LabelSelectorRequirement(K8sModel):
    key: Name
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: Optional[Strings] = None

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        return _check_values(self)


class LabelSelector(K8sModel):
    matchLabels: Optional[StringMap] = None
    matchExpressions: Optional[list[LabelSelectorRequirement]] = None


class NodeSelectorRequirement(K8sModel):
    key: Name
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: Optional[Strings] = None

    @model_validator(mode="after")
    def _values_fit_operator(self) -> NodeSelectorRequirement:
        return _check_values(self)


class NodeSelectorTerm(K8sModel):
    matchExpressions: Optional[list[NodeSelectorRequirement]] = None
    matchFields: Optional[list[NodeSelectorRequirement]] = None


class NodeSelector(K8sModel):
    nodeSelectorTerms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(K8sModel):
    weight: Weight
    preference: NodeSelectorTerm


class NodeAffinity(K8sModel):
    requiredDuringSchedulingIgnoredDuringExecution: Optional[NodeSelector] = None
    preferredDuringSchedulingIgnoredDuringExecution: Optional[list[PreferredSchedulingTerm]] = None


class PodAffinityTerm(K8sModel):
    labelSelector: Optional[LabelSelector] = None
    namespaceSelector: Optional[LabelSelector] = None
    namespaces: Optional[Strings] = None
    topologyKey: Name
    matchLabelKeys: Optional[Strings] = None
    mismatchLabelKeys: Optional[Strings] = None


class WeightedPodAffinityTerm(K8sModel):
    weight: Weight
    podAffinityTerm: PodAffinityTerm


class PodAffinity(K8sModel):
    requiredDuringSchedulingIgnoredDuringExecution: Optional[list[PodAffinityTerm]] = None
    preferredDuringSchedulingIgnoredDuringExecution: Optional[list[WeightedPodAffinityTerm]] = None


class Affinity(K8sModel):
    nodeAffinity: Optional[NodeAffinity] = None
    podAffinity: Optional[PodAffinity] = None
    podAntiAffinity: Optional[PodAffinity] = None


class Toleration(K8sModel):
    key: Optional[StrictStr] = None
    operator: Optional[Literal["Exists", "Equal", "Lt", "Gt"]] = None
    value: Optional[StrictStr] = None
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""]] = None
    tolerationSeconds: Optional[Int64] = None


class TopologySpreadConstraint(K8sModel):
    maxSkew: PositiveInt32
    topologyKey: Name
    whenUnsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    labelSelector: Optional[LabelSelector] = None
    minDomains: Optional[PositiveInt32] = None
    nodeAffinityPolicy: Optional[Literal["Honor", "Ignore"]] = None
    nodeTaintsPolicy: Optional[Literal["Honor", "Ignore"]] = None
    matchLabelKeys: Optional[Strings] = None


class SchedulingGate(K8sModel):
    name: Name


class PodSpec(K8sModel):
    containers: Annotated[list[Container], Field(min_length=1)]
    initContainers: Optional[list[Container]] = None
    nodeName: Optional[StrictStr] = None
    nodeSelector: Optional[StringMap] = None
    affinity: Optional[Affinity] = None
    tolerations: Optional[list[Toleration]] = None
    topologySpreadConstraints: Optional[list[TopologySpreadConstraint]] = None
    schedulingGates: Optional[list[SchedulingGate]] = None
    priority: Optional[Int32] = None
    priorityClassName: Optional[StrictStr] = None
    overhead: Optional[ResourceList] = None
    resources: Optional[ResourceRequirements] = None
    hostNetwork: Optional[StrictBool] = None
    restartPolicy: Optional[Literal["Always", "OnFailure", "Never"]] = None
    schedulerName: Optional[StrictStr] = None
    runtimeClassName: Optional[StrictStr] = None


class OwnerReference(K8sModel):
    apiVersion: Optional[StrictStr] = None
    kind: Name
    name: Name
    uid: Optional[StrictStr] = None
    controller: Optional[StrictBool] = None


class ObjectMeta(K8sModel):
    name: Optional[DnsSubdomain] = None
    generateName: Optional[StrictStr] = None
    namespace: Optional[DnsLabel] = None
    uid: Optional[StrictStr] = None
    labels: Optional[Labels] = None
    annotations: Optional[Annotations] = None
    ownerReferences: Optional[list[OwnerReference]] = None


class PodCondition(K8sModel):
    type: StrictStr
    status: StrictStr
    reason: Optional[StrictStr] = None
    message: Optional[StrictStr] = None


class PodStatus(K8sModel):
    phase: Optional[Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]] = None
    conditions: Optional[list[PodCondition]] = None


class PodTemplate(K8sModel):
    metadata: Optional[ObjectMeta] = None
    spec: PodSpec


class Pod(K8sModel):
    metadata: Optional[ObjectMeta] = None
    spec: PodSpec
    status: Optional[PodStatus] = None


class PodAroundSpec(K8sModel):
    """A Pod whose spec is known valid (autoscaler/validate/pods.py): the rest is checked."""

    metadata: Optional[ObjectMeta] = None
    status: Optional[PodStatus] = None
