"""Bin-pack or bin-select (SPEC §2)."""

from __future__ import annotations

from autoscaler.config import Config
from autoscaler.model import BIN_PACK, BIN_SELECT, PodShape


def classify(shape: PodShape, config: Config) -> str:
    """Bin-select when any request reaches its threshold or instance selection is asked for."""
    requests = shape.requests
    if shape.constraints.selection.given:
        return BIN_SELECT
    if (
        requests.cpu >= config.bin_select_pod_cpu_threshold
        or requests.memory >= config.bin_select_pod_memory_threshold
        or requests.gpu >= config.bin_select_pod_gpu_threshold
    ):
        return BIN_SELECT
    return BIN_PACK
