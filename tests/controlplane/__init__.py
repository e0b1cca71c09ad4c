"""A real Kubernetes control plane on loopback (etcd, kube-apiserver,
kube-scheduler, kube-controller-manager, kwok) for the e2e tier.

See README.md in this directory.
"""

from .cluster import (
    BINARIES,
    BinariesUnavailable,
    ControlPlane,
    ControlPlaneError,
    ensure_binaries,
)
from .nodes import KWOK_ANNOTATION, KWOK_ANNOTATION_SELECTOR, kwok_node_manifest

__all__ = [
    "BINARIES",
    "BinariesUnavailable",
    "ControlPlane",
    "ControlPlaneError",
    "ensure_binaries",
    "KWOK_ANNOTATION",
    "KWOK_ANNOTATION_SELECTOR",
    "kwok_node_manifest",
]
