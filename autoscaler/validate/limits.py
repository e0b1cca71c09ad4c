"""Kubernetes' own numeric limits, as the API server and the controllers apply them."""

from __future__ import annotations

INT32_MAX = 2**31 - 1  # replicas, parallelism, completions, ports, priority: int32 in the API
INT64_MAX = 2**63 - 1  # a resource.Quantity's value (milli-value for CPU) must fit an int64
MAX_PORT = 65535
# Extended resources are whole numbers; a bigger GPU or device count is rejected as well, far
# before it could overflow anything in the planner.
MAX_PRIORITY = 1_000_000_000  # user-defined priority classes; system ones go up to 2,000,001,000
SYSTEM_PRIORITY_MAX = 2_000_001_000
