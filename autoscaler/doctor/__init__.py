"""`smart-autoscaler doctor`: will the daemon work here? Read-only checks of the cluster, the
cloud account and the configuration, one line each (✓ / ✗ / !), with the fix for every ✗.

One module per concern: `report` (a check's outcome and its rendering), `access` (the
Kubernetes access the daemon needs: one table, also the chart's), `kube` (cluster checks),
`settings` (the configuration), `aws` / `gcp` / `azure` / `oci` (one per cloud; their SDKs are
imported only when that cloud is checked), `run` (the command).
"""
