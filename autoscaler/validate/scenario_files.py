"""Reading a scenario file and the manifest files its events name: bounded in size, UTF-8
text, YAML without alias bombs; references to workloads checked before the run starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from autoscaler.validate.files import UnreadableFile, read_text, read_yaml

DEFAULT_REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus", "oci": "us-ashburn-1"}


class ScenarioError(ValueError):
    pass


def read_scenario_file(path: str) -> Any:
    try:
        raw = read_yaml(path, f"scenario {path}")
    except UnreadableFile as err:
        raise ScenarioError(str(err)) from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"scenario {path}: expected a mapping with name, duration and events")
    return raw


def read_event_file(path: Path, where: str) -> str:
    try:
        return read_text(str(path), f"{where} {str(path)!r}")
    except UnreadableFile as err:
        raise ScenarioError(str(err)) from None


def check_event_references(path: str, events: Sequence[tuple[int, Any, set[str]]]) -> None:
    """Every `delete`/`release`/`usage` names a workload that an `apply` at or before its time created."""
    applied: set[str] = set()
    for index, event, workloads in sorted(events, key=lambda item: (item[1].at, item[0])):
        applied |= workloads
        named = event.spec.get("workload") if event.action == "usage" else event.spec
        if event.action in ("delete", "release", "usage") and named not in applied:
            known = ", ".join(sorted(applied)) or "none"
            raise ScenarioError(f"scenario {path}: events[{index}].{event.action}: no workload {named!r} "
                                f"is applied at or before {event.at:g}s (applied by then: {known})")
