"""The controller's parts, each small; `reconcile` only orchestrates them."""
