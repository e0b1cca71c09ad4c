"""What the RuntimeClass admission controller does to a pod that names a RuntimeClass, for pods
read from manifests (in a cluster the API server has already done it).

Kubernetes documentation, "Pod Overhead": at admission the RuntimeClass admission controller
sets the pod's spec.overhead to the class's overhead.podFixed (a pod that already gives a
different overhead is rejected). "Runtime Class", Scheduling: the class's
scheduling.nodeSelector is merged into the pod's nodeSelector (a conflicting key is rejected)
and its scheduling.tolerations are added to the pod's.
"""

from __future__ import annotations

from typing import Any, Mapping


class RuntimeClassError(ValueError):
    """A pod the RuntimeClass admission controller would reject."""


def admitted_spec(spec: Mapping[str, Any], runtime_class: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `spec` as admission leaves it for `runtime_class` (a node.k8s.io/v1 object)."""
    name = spec.get("runtimeClassName")
    out = dict(spec)
    overhead = (runtime_class.get("overhead") or {}).get("podFixed")
    if overhead:
        if spec.get("overhead") and spec["overhead"] != overhead:
            raise RuntimeClassError(
                f"spec.overhead {spec['overhead']} differs from RuntimeClass {name}'s overhead.podFixed {overhead}; "
                "the API server rejects such a pod"
            )
        out["overhead"] = dict(overhead)
    scheduling = runtime_class.get("scheduling") or {}
    selector = scheduling.get("nodeSelector") or {}
    if selector:
        merged = dict(spec.get("nodeSelector") or {})
        for key, value in selector.items():
            if key in merged and merged[key] != value:
                raise RuntimeClassError(
                    f"nodeSelector {key}={merged[key]} conflicts with RuntimeClass {name}'s {key}={value}; "
                    "the API server rejects such a pod"
                )
            merged[key] = value
        out["nodeSelector"] = merged
    tolerations = scheduling.get("tolerations") or []
    if tolerations:
        out["tolerations"] = list(spec.get("tolerations") or []) + [t for t in tolerations if t not in (spec.get("tolerations") or [])]
    return out
