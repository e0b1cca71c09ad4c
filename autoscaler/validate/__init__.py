"""One validation layer for everything the product reads.

Manifests (`preview`), the API server's objects (the daemon), scenario files (`simulate`),
configuration and kubeconfig files are checked here, at the edge, before any parser sees
them: a wrong type or a value outside Kubernetes' own limits becomes a `FieldProblem` naming
the field path and the value. Schemas are pydantic v2 models (strict mode); see
`podschema.py`, `workloads.py`, `scenario.py` and `kubeconfig.py`.
"""

from autoscaler.validate.problems import FieldProblem, InvalidObject, describe, join_path, show_value

__all__ = ["FieldProblem", "InvalidObject", "describe", "join_path", "show_value"]
