"""Turn a core/v1 Pod (API JSON as a dict) into the planner's Pod.

Requests follow the scheduler's arithmetic: the larger of (sum of app containers plus
sidecar init containers) and (each regular init container plus the sidecars started before
it), plus the pod overhead. A resource given only as a limit is requested at the limit, as
the API server defaults it. Malformed annotations are recorded as problems and otherwise
ignored, so one bad pod never stops planning for the others.
"""

from __future__ import annotations

from datetime import datetime
from collections.abc import Mapping
from typing import Any, Iterable

from autoscaler.content import EqualValues, content_key
from autoscaler.model import (
    NO_CONSTRAINTS,
    NO_SELECTION,
    AnnotationProblem,
    MATCHES_NO_NODE,
    InstanceSelection,
    NodeAffinity,
    Pod,
    PodConstraints,
    PodShape,
    Requirement,
    Toleration,
)
from autoscaler.podresources import PodSpecError, _primary_device, pod_devices, pod_requests, unplannable_requests  # noqa: F401
from autoscaler.podterms import affinity_terms, host_ports, spread_constraints
from autoscaler.regex import RegexError, compile_user_regex
from autoscaler.resources import Resources
from pricing.types import Taint
from autoscaler.validate.fastpod import pod_certainly_valid
from autoscaler.validate.problems import describe
from autoscaler.volumes import pod_claims

GKE_SHARING_STRATEGY = "cloud.google.com/gke-gpu-sharing-strategy"
GKE_MAX_SHARED_CLIENTS = "cloud.google.com/gke-max-shared-clients-per-gpu"
DEFAULT_PREFIXES = ("smart-autoscaler.io/",)


def _requirement(expr: Mapping[str, Any], field: bool = False) -> Requirement:
    return Requirement(
        str(expr.get("key", "")),
        str(expr.get("operator", "In")),
        tuple(str(v) for v in expr.get("values") or ()),
        field,
    )


def node_affinity(spec: Mapping[str, Any]) -> NodeAffinity:
    """nodeSelector and the required nodeSelectorTerms (API reference, NodeSelector: the terms
    are ORed; NodeSelectorTerm: its matchExpressions and matchFields are ANDed, and "a null or
    empty node selector term matches no objects"). nodeSelector is ANDed into every term."""
    selector = tuple(Requirement(str(k), "In", (str(v),)) for k, v in sorted((spec.get("nodeSelector") or {}).items()))
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if required is None:
        return NodeAffinity((selector,) if selector else ())
    terms = []
    for term in required.get("nodeSelectorTerms") or []:
        expressions = tuple(_requirement(expr) for expr in (term or {}).get("matchExpressions") or [])
        fields = tuple(_requirement(expr, True) for expr in (term or {}).get("matchFields") or [])
        terms.append(selector + (expressions + fields or (MATCHES_NO_NODE,)))
    return NodeAffinity(tuple(terms) or ((selector + (MATCHES_NO_NODE,)),))


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


def tolerates_device_taint(spec: Mapping[str, Any], resource: str) -> bool:
    """Whether the pod's own spec (not the planner's assumption) tolerates `<resource>=present:NoSchedule`,
    as kube-apiserver's ExtendedResourceToleration admission plugin writes it into pods requesting it."""
    taint = Taint(resource, "present", "NoSchedule")
    return any(toleration.tolerates(taint) for toleration in tolerations_of(spec, None))


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
    if not annotations:
        return NO_SELECTION, False, ()
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
    obj: Mapping[str, Any],
    prefixes: Iterable[str] = DEFAULT_PREFIXES,
    memo: dict | None = None,
    *,
    validated: bool = False,
) -> Pod:
    """The planner's Pod for a core/v1 Pod object; PodSpecError when a field is not valid
    (`autoscaler.validate` checks it first, unless `validated`: the caller already did, as the
    preview does once per workload template before expanding it into replicas).

    With `memo` (a dict the caller keeps for one batch), pods whose spec, namespace, labels and
    annotations equal an earlier pod's (the replicas of one template) reuse its parsed shape."""
    problems = [] if validated or pod_certainly_valid(obj) else _full_problems(obj)
    if problems:
        raise PodSpecError(f"pod {_pod_key(obj)}: {describe(problems)}")
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    namespace = str(metadata.get("namespace") or "default")
    name = str(metadata.get("name") or "")
    key = None
    if memo is not None and isinstance(spec, dict):
        # Replicas read with shared specs (manifests read_only) hold the very same spec, labels
        # and annotations objects; pods listed one by one may hold equal ones. Either way the
        # shape is parsed once, keyed on the content (autoscaler/content.py).
        labels = _strings(memo, metadata.get("labels"))
        annotations = _strings(memo, metadata.get("annotations"))
        equal = memo.get("equal") or memo.setdefault("equal", EqualValues())
        by_content = equal.looking()
        spec_key = _content_of(memo, spec, by_content)
        # The pod's labels shape it only through matchLabelKeys and mismatchLabelKeys.
        reads_labels = type(spec_key) is not bytes or b"LabelKeys" in spec_key
        key = (spec_key, namespace, _content_of(memo, labels, by_content) if reads_labels else None,
               _content_of(memo, annotations, by_content))
    else:
        labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
        annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    parsed = memo.get(key) if key is not None else None
    if key is not None and by_content:
        equal.record(parsed is not None)
    if parsed is None:
        parsed = _parse_shape(spec, namespace, name, labels, annotations, prefixes)
        if key is not None:
            memo[key] = parsed
    shape, do_not_evict, problems = parsed
    owner, owner_kind = _owner(metadata, namespace)
    devices = shape.constraints.gpu_resource, *(name for name, _ in shape.constraints.extra_devices)
    unschedulable, message = _scheduled_condition(status)
    claims, ephemeral_claims = pod_claims(spec, name) if spec.get("volumes") else ((), ())
    return Pod(
        namespace=namespace,
        name=name,
        shape=shape,
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
        device_tolerated=devices[0] is not None and all(tolerates_device_taint(spec, name) for name in devices),
        claims=claims,
        ephemeral_claims=ephemeral_claims,
    )


def _read(parse: Any, spec: Mapping[str, Any], namespace: str, name: str, where: str, *args: Any) -> Any:
    """Run one term parser; malformed input (a maxSkew that is not a number, a selector that
    is not a mapping) becomes a PodSpecError naming the pod and the field."""
    try:
        return parse(spec, *args)
    except (AttributeError, TypeError, ValueError) as err:
        raise PodSpecError(f"pod {namespace}/{name}: {where}: cannot be read ({err})") from None


_EMPTY: dict[str, str] = {}


def _strings(memo: dict, raw: Any) -> dict[str, str]:
    """A str -> str copy of a labels/annotations map, one per raw object of the batch."""
    if not raw:
        return _EMPTY
    known = memo.get(("map", id(raw)))
    if known is None or known[0] is not raw:
        known = memo[("map", id(raw))] = (raw, {str(k): str(v) for k, v in raw.items()})
    return known[1]


def _full_problems(obj: Mapping[str, Any]) -> list:
    from autoscaler.validate.pods import pod_problems  # pydantic: only for pods in doubt

    return pod_problems(obj)


def _content_of(memo: dict, value: Any, by_content: bool) -> object:
    """The content key of `value` (`by_content`), made once per object of the batch; else, or
    when it has none, the object's identity (the object is kept alive in the memo)."""
    known = memo.get(("content", id(value)))
    if known is None or known[0] is not value:
        key = content_key(value) if by_content else None
        known = memo[("content", id(value))] = (value, ("id", id(value)) if key is None else key)
    return known[1]


def _parse_shape(
    spec: Mapping[str, Any],
    namespace: str,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    prefixes: Iterable[str],
) -> tuple[PodShape, bool, tuple[AnnotationProblem, ...]]:
    base, devices = pod_devices(spec, f"{namespace}/{name}")
    gpu_resource = _primary_device(devices)
    requests = base if gpu_resource is None else Resources(base.cpu, base.memory, devices[gpu_resource], 1, base.ephemeral)
    selection, do_not_evict, problems = read_annotations(annotations, prefixes)
    affinity = node_affinity(spec)
    selector = spec.get("nodeSelector") or {}
    time_slices = None
    if selector.get(GKE_SHARING_STRATEGY) == "time-sharing" and str(selector.get(GKE_MAX_SHARED_CLIENTS, "")).isdigit():
        time_slices = int(selector[GKE_MAX_SHARED_CLIENTS])
    tolerations = tolerations_of(spec, gpu_resource)
    ports = _read(host_ports, spec, namespace, name, "spec.containers[].ports")
    terms = spec.get("affinity") or spec.get("topologySpreadConstraints")
    unplannable = unplannable_requests(spec)
    if not (affinity.terms or tolerations or gpu_resource or devices or ports or terms or selection.given or time_slices
            or unplannable):
        return PodShape.of(requests, NO_CONSTRAINTS), do_not_evict, problems
    constraints = PodConstraints(
        affinity=affinity,
        tolerations=tolerations,
        gpu_resource=gpu_resource,
        extra_devices=tuple(sorted((k, v) for k, v in devices.items() if k != gpu_resource)),
        host_ports=ports,
        pod_affinity=_read(affinity_terms, spec, namespace, name, "spec.affinity.podAffinity", "podAffinity", namespace, labels),
        pod_anti_affinity=_read(
            affinity_terms, spec, namespace, name, "spec.affinity.podAntiAffinity", "podAntiAffinity", namespace, labels
        ),
        spread=_read(spread_constraints, spec, namespace, name, "spec.topologySpreadConstraints", namespace, labels),
        selection=selection,
        gpu_time_slices=time_slices,
        unplannable=unplannable,
    )
    return PodShape.of(requests, constraints), do_not_evict, problems
