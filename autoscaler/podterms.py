"""Parse the inter-pod scheduling rules of a pod spec: required pod (anti-)affinity terms,
topology spread constraints and host ports, into the planner's terms.

Label selectors are resolved here, once: `matchLabelKeys` are folded into the selector with
the pod's own label values, and a term's namespaces default to the pod's own namespace as
kube-scheduler does. Preferred (soft) affinity terms and ScheduleAnyway spread constraints
are not planned for.
"""

from __future__ import annotations

from typing import Any, Mapping

from autoscaler.model import HostPort, PodAffinityTerm, PodSelector, Requirement, SpreadConstraint



def _requirement(expr: Mapping[str, Any]) -> Requirement:
    return Requirement(
        str(expr.get("key", "")),
        str(expr.get("operator", "In")),
        tuple(str(v) for v in expr.get("values") or ()),
    )


def pod_selector(
    selector: Mapping[str, Any] | None,
    namespaces: frozenset[str] | None,
    labels: Mapping[str, str],
    match_label_keys: list[Any] | None = None,
    mismatch_label_keys: list[Any] | None = None,
) -> PodSelector | None:
    """None when the selector is missing (a missing selector matches no pod). matchLabelKeys
    add `key In (the pod's value)`, mismatchLabelKeys (pod affinity terms only) `key NotIn (the
    pod's value)`; a key the pod does not carry is ignored (core/v1 PodAffinityTerm)."""
    if selector is None:
        return None
    match = {str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()}
    expressions = [_requirement(expr) for expr in selector.get("matchExpressions") or []]
    for keys, operator in ((match_label_keys, "In"), (mismatch_label_keys, "NotIn")):
        for key in keys or ():
            key = str(key)
            if key in labels:
                expressions.append(Requirement(key, operator, (labels[key],)))
    return PodSelector(tuple(sorted(match.items())), tuple(expressions), namespaces)


def _term_namespaces(term: Mapping[str, Any], own: str) -> frozenset[str] | None:
    listed = frozenset(str(n) for n in term.get("namespaces") or ())
    selector = term.get("namespaceSelector")
    if selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return None  # an empty namespaceSelector selects every namespace
    return listed or frozenset({own})


def affinity_terms(spec: Mapping[str, Any], kind: str, namespace: str, labels: Mapping[str, str]) -> tuple[PodAffinityTerm, ...]:
    """Required terms of podAffinity or podAntiAffinity (`kind`)."""
    terms = ((spec.get("affinity") or {}).get(kind) or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
    parsed = []
    for term in terms:
        selector = pod_selector(
            term.get("labelSelector"), _term_namespaces(term, namespace), labels, term.get("matchLabelKeys"),
            term.get("mismatchLabelKeys"),
        )
        key = str(term.get("topologyKey") or "")
        if selector is not None and key:
            parsed.append(PodAffinityTerm(selector, key))
    return tuple(parsed)


def spread_constraints(spec: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> tuple[SpreadConstraint, ...]:
    """The DoNotSchedule constraints; those without a selector count nothing and are skipped."""
    parsed = []
    for item in spec.get("topologySpreadConstraints") or []:
        if item.get("whenUnsatisfiable", "DoNotSchedule") != "DoNotSchedule":
            continue
        selector = pod_selector(item.get("labelSelector"), frozenset({namespace}), labels, item.get("matchLabelKeys"))
        key = str(item.get("topologyKey") or "")
        if selector is None or not key:
            continue
        parsed.append(
            SpreadConstraint(
                selector,
                key,
                max(1, int(item.get("maxSkew") or 1)),
                max(1, int(item.get("minDomains") or 1)),
                str(item.get("nodeAffinityPolicy") or "Honor") == "Honor",
                str(item.get("nodeTaintsPolicy") or "Ignore") == "Honor",
            )
        )
    return tuple(parsed)


def host_ports(spec: Mapping[str, Any]) -> frozenset[HostPort]:
    ports = set()
    for container in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                ip = str(port.get("hostIP") or "")
                ports.add((int(port["hostPort"]), str(port.get("protocol") or "TCP"), "" if ip == "0.0.0.0" else ip))
    return frozenset(ports)
