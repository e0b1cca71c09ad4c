"""Turn a core/v1 Pod (API JSON as a dict) into the planner's Pod.

Requests follow the scheduler's arithmetic: the larger of (sum of app containers plus
sidecar init containers) and (each regular init container plus the sidecars started before
it), plus the pod overhead. A resource given only as a limit is requested at the limit, as
the API server defaults it. Malformed annotations are recorded as problems and otherwise
ignored, so one bad pod never stops planning for the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from autoscaler.model import (
    AMD_GPU,
    NO_SELECTION,
    NVIDIA_GPU,
    AnnotationProblem,
    InstanceSelection,
    NodeAffinity,
    Pod,
    PodConstraints,
    PodShape,
    Requirement,
    Toleration,
)
from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis
from autoscaler.regex import RegexError, compile_user_regex
from autoscaler.resources import Resources
from autoscaler.validate.pods import pod_problems
from autoscaler.validate.problems import describe

HOSTNAME = "kubernetes.io/hostname"
GKE_SHARING_STRATEGY = "cloud.google.com/gke-gpu-sharing-strategy"
GKE_MAX_SHARED_CLIENTS = "cloud.google.com/gke-max-shared-clients-per-gpu"
DEFAULT_PREFIXES = ("smart-autoscaler.io/",)
_GPU_RESOURCES = (NVIDIA_GPU, AMD_GPU)


class PodSpecError(ValueError):
    """A pod whose resources cannot be read (e.g. a request that is not a quantity)."""


def _quantities(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    if not resources:
        return {}
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    return merged


def _container_request(container: Mapping[str, Any], where: str) -> tuple[Resources, str | None]:
    values = _quantities(container.get("resources"))
    gpu_resource = None
    gpus = 0
    try:
        for name in _GPU_RESOURCES:
            if name in values:
                count = parse_count(values[name])
                if count:
                    gpus += count
                    gpu_resource = name
        return (
            Resources(
                cpu=parse_cpu_millis(values["cpu"]) if "cpu" in values else 0,
                memory=parse_count(values["memory"]) if "memory" in values else 0,
                gpu=gpus,
                ephemeral=parse_count(values["ephemeral-storage"]) if "ephemeral-storage" in values else 0,
            ),
            gpu_resource,
        )
    except QuantityError as err:
        raise PodSpecError(f"{where}: {err}") from None


def _elementwise_max(a: Resources, b: Resources) -> Resources:
    return Resources(
        max(a.cpu, b.cpu), max(a.memory, b.memory), max(a.gpu, b.gpu), max(a.pods, b.pods), max(a.ephemeral, b.ephemeral)
    )


def pod_requests(spec: Mapping[str, Any], pod: str = "pod") -> tuple[Resources, str | None]:
    """Effective requests of a pod spec (with 1 pod slot) and the GPU resource it asks for."""
    gpu_resource = None
    app = Resources()
    for index, container in enumerate(spec.get("containers") or []):
        request, kind = _container_request(container, f"pod {pod}: spec.containers[{index}].resources")
        app += request
        gpu_resource = gpu_resource or kind
    sidecars = Resources()
    init_peak = Resources()
    for index, container in enumerate(spec.get("initContainers") or []):
        request, kind = _container_request(container, f"pod {pod}: spec.initContainers[{index}].resources")
        gpu_resource = gpu_resource or kind
        if container.get("restartPolicy") == "Always":
            sidecars += request
            init_peak = _elementwise_max(init_peak, sidecars)
        else:
            init_peak = _elementwise_max(init_peak, request + sidecars)
    total = _elementwise_max(app + sidecars, init_peak)
    overhead = spec.get("overhead")
    if overhead:
        extra, _ = _container_request({"resources": {"requests": overhead}}, f"pod {pod}: spec.overhead")
        total += extra
    return Resources(total.cpu, total.memory, total.gpu, 1, total.ephemeral), gpu_resource


def _requirement(expr: Mapping[str, Any]) -> Requirement:
    return Requirement(
        str(expr.get("key", "")),
        str(expr.get("operator", "In")),
        tuple(str(v) for v in expr.get("values") or ()),
    )


def node_affinity(spec: Mapping[str, Any]) -> NodeAffinity:
    selector = tuple(Requirement(str(k), "In", (str(v),)) for k, v in sorted((spec.get("nodeSelector") or {}).items()))
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        or {}
    )
    terms = []
    for term in required.get("nodeSelectorTerms") or []:
        expressions = tuple(_requirement(expr) for expr in term.get("matchExpressions") or [])
        if expressions or not term.get("matchFields"):
            terms.append(selector + expressions)
    if not terms:
        return NodeAffinity((selector,) if selector else ())
    return NodeAffinity(tuple(terms))


def tolerations_of(spec: Mapping[str, Any], gpu_resource: str | None) -> tuple[Toleration, ...]:
    tolerations = [
        Toleration(
            str(t.get("key") or ""),
            str(t.get("operator") or "Equal"),
            str(t.get("value") or ""),
            str(t.get("effect") or ""),
        )
        for t in spec.get("tolerations") or []
    ]
    if gpu_resource:
        # The ExtendedResourceToleration admission plugin adds this for extended resources.
        tolerations.append(Toleration(gpu_resource, "Exists", "", "NoSchedule"))
    return tuple(sorted(set(tolerations), key=lambda t: (t.key, t.operator, t.value, t.effect)))


def _selects_itself(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False  # a missing selector matches no pod; an empty one matches every pod
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not _requirement(expr).matches(labels):
            return False
    return True


def one_per_node(spec: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Required anti-affinity or a DoNotSchedule spread of maxSkew 1 on the hostname, against its own kind."""
    anti = ((spec.get("affinity") or {}).get("podAntiAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or []
    for term in anti:
        if term.get("topologyKey") == HOSTNAME and _selects_itself(term.get("labelSelector"), labels):
            return True
    for spread in spec.get("topologySpreadConstraints") or []:
        if (
            spread.get("topologyKey") == HOSTNAME
            and spread.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
            and int(spread.get("maxSkew", 1)) <= 1
            and _selects_itself(spread.get("labelSelector"), labels)
        ):
            return True
    return False


def _host_ports(spec: Mapping[str, Any]) -> frozenset[tuple[int, str]]:
    ports = set()
    for container in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                ports.add((int(port["hostPort"]), str(port.get("protocol") or "TCP")))
    return frozenset(ports)


# ---- annotations (SPEC §3)


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_regexp(value: str) -> str:
    try:
        compile_user_regex(value)
    except RegexError as err:
        raise ValueError(str(err)) from None
    return value


def _parse_families(value: str) -> frozenset[str]:
    items = _csv(value)
    if not items:
        raise ValueError("expected a comma-separated list of instance families, e.g. g5,g6")
    return frozenset(item.lower() for item in items)


def _parse_skus(value: str) -> frozenset[str]:
    items = _csv(value)
    if not items:
        raise ValueError("expected a comma-separated list of GPU models, e.g. L4,A10G")
    return frozenset(item.upper() for item in items)


def _parse_positive_int(value: str) -> int:
    if not value.strip().isdigit():
        raise ValueError("expected a whole number of GPUs, e.g. 2")
    return int(value.strip())


def _parse_cost(value: str) -> float:
    try:
        cost = float(value.strip().lstrip("$"))
    except ValueError:
        raise ValueError("expected a price in USD per hour, e.g. 4.75") from None
    if not cost > 0 or cost == float("inf"):
        raise ValueError("expected a positive price in USD per hour, e.g. 4.75")
    return cost


def _parse_offerings(value: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(item.lower() for item in _csv(value)))
    if not kinds or any(kind not in ("on-demand", "spot") for kind in kinds):
        raise ValueError("expected on-demand, spot, or spot,on-demand")
    return kinds


def _parse_bool(value: str) -> bool:
    if value.strip().lower() not in ("true", "false"):
        raise ValueError("expected true or false")
    return value.strip().lower() == "true"


_SELECTION_ANNOTATIONS = {
    "instance-type-regexp": ("type_regexp", _parse_regexp),
    "instance-family-inclusions": ("family_inclusions", _parse_families),
    "instance-family-exclusions": ("family_exclusions", _parse_families),
    "instance-gpu-skus": ("gpu_skus", _parse_skus),
    "instance-max-gpus": ("max_gpus", _parse_positive_int),
    "instance-max-cost": ("max_cost", _parse_cost),
    "instance-offerings": ("capacity_types", _parse_offerings),
}


def read_annotations(
    annotations: Mapping[str, str], prefixes: Iterable[str]
) -> tuple[InstanceSelection, bool, tuple[AnnotationProblem, ...]]:
    """(instance selection, do-not-evict, problems) from annotations under any prefix."""
    chosen: dict[str, Any] = {}
    do_not_evict = False
    problems = []
    for prefix in prefixes:
        for suffix, (attribute, parse) in (*_SELECTION_ANNOTATIONS.items(), ("do-not-evict", ("", _parse_bool))):
            name = prefix + suffix
            if name not in annotations:
                continue
            raw = annotations[name]
            try:
                value = parse(str(raw))
            except ValueError as err:
                problems.append(AnnotationProblem(name, str(raw), str(err)))
                continue
            if suffix == "do-not-evict":
                do_not_evict = do_not_evict or value
            else:
                chosen.setdefault(attribute, value)
    selection = InstanceSelection(**chosen) if chosen else NO_SELECTION
    return selection, do_not_evict, tuple(problems)


def _owner(metadata: Mapping[str, Any], namespace: str) -> tuple[str, str]:
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind')}/{namespace}/{ref.get('name')}", str(ref.get("kind") or "")
    refs = metadata.get("ownerReferences") or []
    if refs:
        return f"{refs[0].get('kind')}/{namespace}/{refs[0].get('name')}", str(refs[0].get("kind") or "")
    return "", ""


def parse_timestamp(value: Any) -> float:
    if not value:
        return 0.0
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _scheduled_condition(status: Mapping[str, Any]) -> tuple[bool, str]:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition.get("reason") == "Unschedulable", str(condition.get("message") or "")
    return False, ""


def _pod_key(obj: Any) -> str:
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return f"{metadata.get('namespace') or 'default'}/{metadata.get('name') or ''}"


def pod_from_manifest(
    obj: Mapping[str, Any], prefixes: Iterable[str] = DEFAULT_PREFIXES, *, validated: bool = False
) -> Pod:
    """The planner's Pod for a core/v1 Pod object; PodSpecError when a field is not valid.
    `validated`: the caller already checked the object (the preview checks each workload's pod
    template once, before expanding it into replicas)."""
    problems = [] if validated else pod_problems(obj)
    if problems:
        raise PodSpecError(f"pod {_pod_key(obj)}: {describe(problems)}")
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    namespace = str(metadata.get("namespace") or "default")
    name = str(metadata.get("name") or "")
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    requests, gpu_resource = pod_requests(spec, f"{namespace}/{name}")
    selection, do_not_evict, problems = read_annotations(annotations, prefixes)
    affinity = node_affinity(spec)
    selector = spec.get("nodeSelector") or {}
    time_slices = None
    if selector.get(GKE_SHARING_STRATEGY) == "time-sharing" and str(selector.get(GKE_MAX_SHARED_CLIENTS, "")).isdigit():
        time_slices = int(selector[GKE_MAX_SHARED_CLIENTS])
    constraints = PodConstraints(
        affinity=affinity,
        tolerations=tolerations_of(spec, gpu_resource),
        gpu_resource=gpu_resource,
        host_ports=_host_ports(spec),
        one_per_node=one_per_node(spec, labels),
        selection=selection,
        gpu_time_slices=time_slices,
    )
    owner, owner_kind = _owner(metadata, namespace)
    unschedulable, message = _scheduled_condition(status)
    return Pod(
        namespace=namespace,
        name=name,
        shape=PodShape.of(requests, constraints),
        uid=str(metadata.get("uid") or ""),
        owner=owner,
        owner_kind=owner_kind,
        labels=labels,
        phase=str(status.get("phase") or "Pending"),
        node_name=str(spec.get("nodeName") or ""),
        scheduling_gates=tuple(str(g.get("name")) for g in spec.get("schedulingGates") or []),
        unschedulable=unschedulable,
        unschedulable_message=message,
        do_not_evict=do_not_evict,
        annotation_problems=problems,
        created=parse_timestamp(metadata.get("creationTimestamp")),
        priority=int(spec.get("priority") or 0),
        daemonset=owner_kind == "DaemonSet",
    )
