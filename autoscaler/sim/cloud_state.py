"""The simulated cloud's state file: instances, request ids and faults as JSON, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from typing import Any

from autoscaler.resources import Resources
from pricing.types import Accelerator, InstanceType, Taint
from providers.base import LaunchRequest

STATE_VERSION = 1


def write_state(path: str, state: dict[str, Any]) -> None:
    """Replace the file at once (a reader sees the old state or the new one, never half)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".simulated-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": STATE_VERSION, **state}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def read_state(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        state = json.load(handle)
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"simulated cloud state file {path}: unsupported version {state.get('version')!r}")
    return state


def request_to_json(request: LaunchRequest | None) -> dict[str, Any] | None:
    if request is None:
        return None
    data = asdict(request)
    data["labels"], data["tags"] = dict(request.labels), dict(request.tags)
    return data


def request_from_json(data: dict[str, Any] | None) -> LaunchRequest | None:
    if data is None:
        return None
    itype = dict(data["instance_type"])
    itype["capacity"] = Resources(**itype["capacity"])
    itype["allocatable"] = Resources(**itype["allocatable"])
    itype["accelerator"] = Accelerator(**itype["accelerator"]) if itype.get("accelerator") else None
    return LaunchRequest(
        request_id=data["request_id"],
        instance_type=InstanceType(**itype),
        capacity_type=data["capacity_type"],
        zones=tuple(data["zones"]),
        labels=data["labels"],
        taints=tuple(Taint(**t) for t in data["taints"]),
        tags=data["tags"],
    )
