"""Kubernetes' own numeric limits, as the API server and the controllers apply them."""

from __future__ import annotations

INT32_MAX = 2**31 - 1  # replicas, parallelism, completions, ports, priority: int32 in the API
INT64_MAX = 2**63 - 1  # a resource.Quantity's value (milli-value for CPU) must fit an int64
MAX_PORT = 65535
