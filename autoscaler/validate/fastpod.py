"""Pods that are certainly valid, told without pydantic.

Most pods in a manifest file or a cluster are plain: named containers with an image and
resource requests, labels, perhaps ports, tolerations, a node selector, affinity and topology
spread. For those this module answers True when `autoscaler.validate.pods.pod_problems` would
find nothing, checking the same rules (autoscaler/validate/podschema.py's strict models, the
names and quantities they use) by hand; anything it does not cover (scheduling gates, pod-level
resources or overhead, a field of the wrong type...) answers False, "in doubt", and the pod is
checked by the full validation, which says what is wrong. So `preview` of plain pods neither
imports pydantic nor pays for it per pod. tests/test_fast_pod_check.py holds the rule: True
here implies no problems there, on generated and mutated pods.
"""

from __future__ import annotations

from typing import Any, Mapping

from autoscaler.validate.limits import INT32_MAX, INT64_MAX, MAX_PORT
from autoscaler.validate.names import _annotations, _dns_label, _dns_subdomain, _labels, is_resource_name
from autoscaler.validate.quantities import is_extended, quantity_problem, quantity_value

_PHASES = frozenset({"Pending", "Running", "Succeeded", "Failed", "Unknown"})
_RESTART_POLICIES = frozenset({"Always", "OnFailure", "Never"})
_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
_OPERATORS = frozenset({"Exists", "Equal", "Lt", "Gt"})
_EFFECTS = frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute", ""})
_IN_DOUBT = ("schedulingGates", "overhead", "resources")
_NODE_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})
_LABEL_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
_WHEN_UNSATISFIABLE = frozenset({"DoNotSchedule", "ScheduleAnyway"})
_POLICIES = frozenset({"Honor", "Ignore"})
_OPTIONAL_STRINGS = ("nodeName", "priorityClassName", "schedulerName", "runtimeClassName")
_FINE: dict[tuple[str, str], Any] = {}  # (resource, quantity string) found valid -> its number


def pod_certainly_valid(obj: Any) -> bool:
    """True only when the full validation would find nothing wrong with this Pod; False when in doubt."""
    if type(obj) is not dict:
        return False
    metadata, spec, status = obj.get("metadata"), obj.get("spec"), obj.get("status")
    return (
        (metadata is None or _metadata_fine(metadata))
        and (status is None or _status_fine(status))
        and type(spec) is dict
        and _spec_fine(spec)
        and resources_fine(spec)
    )


def _optional_string(value: Any) -> bool:
    return value is None or type(value) is str


def _known(value: Any, found: set[str] | frozenset[str]) -> bool:
    return type(value) is str and value in found


def _passes(check: Any, value: Any) -> bool:
    try:
        check(value)
    except (ValueError, TypeError):
        return False
    return True


def _metadata_fine(metadata: Any) -> bool:
    if type(metadata) is not dict:
        return False
    get = metadata.get
    name, namespace, labels, annotations, owners = (
        get("name"), get("namespace"), get("labels"), get("annotations"), get("ownerReferences"))
    if name is not None and not _passes(_dns_subdomain, name):
        return False
    if namespace is not None and not _passes(_dns_label, namespace):
        return False
    if labels is not None and not _passes(_labels, labels):
        return False
    return (
        _optional_string(get("generateName"))
        and _optional_string(get("uid"))
        and (annotations is None or _passes(_annotations, annotations))
        and (owners is None or (type(owners) is list and all(_owner_fine(o) for o in owners)))
    )


def _owner_fine(owner: Any) -> bool:
    return (
        type(owner) is dict
        and _optional_string(owner.get("apiVersion"))
        and type(owner.get("kind")) is str and owner["kind"] != ""
        and type(owner.get("name")) is str and owner["name"] != ""
        and _optional_string(owner.get("uid"))
        and (owner.get("controller") is None or type(owner.get("controller")) is bool)
    )


def _status_fine(status: Any) -> bool:
    if type(status) is not dict:
        return False
    phase, conditions = status.get("phase"), status.get("conditions")
    if phase is not None and (type(phase) is not str or phase not in _PHASES):
        return False
    if conditions is None:
        return True
    return type(conditions) is list and all(
        type(c) is dict and type(c.get("type")) is str and type(c.get("status")) is str
        and _optional_string(c.get("reason")) and _optional_string(c.get("message"))
        for c in conditions
    )


def _spec_fine(spec: dict) -> bool:
    get = spec.get
    if any(get(key) is not None for key in _IN_DOUBT):
        return False
    containers, init = get("containers"), get("initContainers")
    if type(containers) is not list or not containers or not all(_container_fine(c) for c in containers):
        return False
    if init is not None and (type(init) is not list or not all(_container_fine(c) for c in init)):
        return False
    if not all(_optional_string(get(key)) for key in _OPTIONAL_STRINGS):
        return False
    selector, tolerations, priority = get("nodeSelector"), get("tolerations"), get("priority")
    if selector is not None and not _string_map(selector):
        return False
    if tolerations is not None and (type(tolerations) is not list or not all(_toleration_fine(t) for t in tolerations)):
        return False
    if priority is not None and (type(priority) is not int or not -(2**31) <= priority <= INT32_MAX):
        return False
    affinity, spread = get("affinity"), get("topologySpreadConstraints")
    if affinity is not None and not _affinity_fine(affinity):
        return False
    if spread is not None and (type(spread) is not list or not all(_spread_fine(c) for c in spread)):
        return False
    network, restart = get("hostNetwork"), get("restartPolicy")
    return (network is None or type(network) is bool) and (restart is None or _known(restart, _RESTART_POLICIES))


def _affinity_fine(affinity: Any) -> bool:
    if type(affinity) is not dict:
        return False
    node, pods, apart = affinity.get("nodeAffinity"), affinity.get("podAffinity"), affinity.get("podAntiAffinity")
    return (
        (node is None or _node_affinity_fine(node))
        and (pods is None or _pod_affinity_fine(pods))
        and (apart is None or _pod_affinity_fine(apart))
    )


def _node_affinity_fine(node: Any) -> bool:
    if type(node) is not dict:
        return False
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    preferred = node.get("preferredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        terms = required.get("nodeSelectorTerms") if type(required) is dict else None
        if type(terms) is not list or not all(_node_term_fine(t) for t in terms):
            return False
    return preferred is None or (type(preferred) is list and all(
        type(p) is dict and _weight_fine(p.get("weight")) and _node_term_fine(p.get("preference")) for p in preferred))


def _node_term_fine(term: Any) -> bool:
    return type(term) is dict and all(
        requirements is None or (type(requirements) is list and all(_requirement_fine(r, _NODE_OPERATORS)
                                                                    for r in requirements))
        for requirements in (term.get("matchExpressions"), term.get("matchFields"))
    )


def _requirement_fine(requirement: Any, operators: frozenset[str]) -> bool:
    """A selector requirement whose values fit its operator (podschema._check_values)."""
    if type(requirement) is not dict or not _name(requirement.get("key")):
        return False
    operator, values = requirement.get("operator"), requirement.get("values")
    if not _known(operator, operators) or not (values is None or _strings(values)):
        return False
    if operator in ("In", "NotIn"):
        return bool(values)
    if operator in ("Exists", "DoesNotExist"):
        return not values
    return values is not None and len(values) == 1 and values[0].lstrip("-").isdigit()


def _pod_affinity_fine(affinity: Any) -> bool:
    if type(affinity) is not dict:
        return False
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    preferred = affinity.get("preferredDuringSchedulingIgnoredDuringExecution")
    return (
        (required is None or (type(required) is list and all(_pod_term_fine(t) for t in required)))
        and (preferred is None or (type(preferred) is list and all(
            type(p) is dict and _weight_fine(p.get("weight")) and _pod_term_fine(p.get("podAffinityTerm"))
            for p in preferred)))
    )


def _pod_term_fine(term: Any) -> bool:
    if type(term) is not dict or not _name(term.get("topologyKey")):
        return False
    selector, namespaces = term.get("labelSelector"), term.get("namespaceSelector")
    return (
        (selector is None or _selector_fine(selector))
        and (namespaces is None or _selector_fine(namespaces))
        and all(term.get(key) is None or _strings(term[key])
                for key in ("namespaces", "matchLabelKeys", "mismatchLabelKeys"))
    )


def _selector_fine(selector: Any) -> bool:
    if type(selector) is not dict:
        return False
    labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    return (labels is None or _string_map(labels)) and (expressions is None or (
        type(expressions) is list and all(_requirement_fine(r, _LABEL_OPERATORS) for r in expressions)))


def _spread_fine(constraint: Any) -> bool:
    if type(constraint) is not dict:
        return False
    get = constraint.get
    selector, keys = get("labelSelector"), get("matchLabelKeys")
    return (
        _int32_at_least_one(get("maxSkew"))
        and _name(get("topologyKey"))
        and _known(get("whenUnsatisfiable"), _WHEN_UNSATISFIABLE)
        and (selector is None or _selector_fine(selector))
        and (get("minDomains") is None or _int32_at_least_one(get("minDomains")))
        and (get("nodeAffinityPolicy") is None or _known(get("nodeAffinityPolicy"), _POLICIES))
        and (get("nodeTaintsPolicy") is None or _known(get("nodeTaintsPolicy"), _POLICIES))
        and (keys is None or _strings(keys))
    )


def _name(value: Any) -> bool:
    return type(value) is str and value != ""


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def _weight_fine(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 100


def _int32_at_least_one(value: Any) -> bool:
    return type(value) is int and 1 <= value <= INT32_MAX


def _string_map(value: Any) -> bool:
    return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())


def _container_fine(container: Any) -> bool:
    if type(container) is not dict:
        return False
    name = container.get("name")
    if not _passes(_dns_label, name):
        return False
    resources, ports, restart = container.get("resources"), container.get("ports"), container.get("restartPolicy")
    return (
        _optional_string(container.get("image"))
        and (resources is None or _requirements_fine(resources))
        and (ports is None or (type(ports) is list and all(_port_fine(p) for p in ports)))
        and (restart is None or (type(restart) is str and restart in _RESTART_POLICIES))
    )


def _requirements_fine(resources: Any) -> bool:
    if type(resources) is not dict:
        return False
    for values in (resources.get("requests"), resources.get("limits")):
        if values is None:
            continue
        if type(values) is not dict:
            return False
        for name, value in values.items():
            if type(name) is not str or type(value) not in (str, int, float):
                return False
            if not is_resource_name(name):
                return False
    return True


def _port_fine(port: Any) -> bool:
    if type(port) is not dict:
        return False
    number, host, protocol = port.get("containerPort"), port.get("hostPort"), port.get("protocol")
    return (
        type(number) is int and 1 <= number <= MAX_PORT
        and (host is None or (type(host) is int and 0 <= host <= MAX_PORT))
        and (protocol is None or (type(protocol) is str and protocol in _PROTOCOLS))
        and _optional_string(port.get("name"))
        and _optional_string(port.get("hostIP"))
    )


def _toleration_fine(toleration: Any) -> bool:
    if type(toleration) is not dict:
        return False
    operator, effect, seconds = toleration.get("operator"), toleration.get("effect"), toleration.get("tolerationSeconds")
    return (
        _optional_string(toleration.get("key"))
        and (operator is None or (type(operator) is str and operator in _OPERATORS))
        and _optional_string(toleration.get("value"))
        and (effect is None or (type(effect) is str and effect in _EFFECTS))
        and (seconds is None or (type(seconds) is int and -INT64_MAX - 1 <= seconds <= INT64_MAX))
    )


def resources_fine(spec: Mapping[str, Any]) -> bool:
    """True only when the quantity checks (autoscaler/validate/pods.py `_resource_problems`)
    would find nothing; False when in doubt. Checks the same rules without building a field
    path per container, which costs more than the checks."""
    containers = spec.get("containers")
    if type(containers) is list and len(containers) == 1 and type(containers[0]) is dict and not (
        spec.get("initContainers") or spec.get("overhead") or spec.get("resources")
    ):
        resources = containers[0].get("resources")
        if not resources:
            return True
        if type(resources) is dict and not resources.get("limits"):
            # One list of requests: each valid quantity is within an int64 on its own, and
            # nothing else adds to it.
            requests = resources.get("requests") or {}
            return type(requests) is dict and all(_quantity_fine(name, value) for name, value in requests.items())
    totals: dict[str, Any] = {}
    lists = [c.get("resources") for key in ("containers", "initContainers") for c in spec.get(key) or ()]
    lists.append({"requests": spec.get("overhead")})
    lists.append(spec.get("resources"))
    for resources in lists:
        if not resources:
            continue
        if type(resources) is not dict:
            return False
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if type(requests) is not dict or type(limits) is not dict:
            return False
        for values in (requests, limits):
            for name, value in values.items():
                if not _quantity_fine(name, value):
                    return False
                number = _FINE.get((name, value)) if type(value) is str else quantity_value(value)
                totals[name] = totals[name] + number if name in totals else number
        for name, request in requests.items():
            if name in limits:
                wanted, limit = quantity_value(request), quantity_value(limits[name])
                if wanted > limit or (wanted != limit and is_extended(name)):
                    return False
    return all((total * 1000 if name == "cpu" else total) <= INT64_MAX for name, total in totals.items())


def _quantity_fine(name: Any, value: Any) -> bool:
    """A valid amount of resource `name` (remembered with its number when it is a string)."""
    if type(value) is str and (name, value) in _FINE:
        return True
    if type(name) is not str or quantity_problem(name, value) is not None:
        return False
    if type(value) is str and len(_FINE) < 65_536:
        _FINE[(name, value)] = quantity_value(value)
    return True
