"""Reading a scenario file and the manifest files its events name: bounded in size, UTF-8
text, YAML without alias bombs; references to workloads checked before the run starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import yaml

from autoscaler.validate.yamlbounds import expansion_problem

MAX_FILE_BYTES = 16 * 2**20
DEFAULT_REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus", "oci": "us-ashburn-1"}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ScenarioError(ValueError):
    pass


def _read_text(path: Path, what: str) -> str:
    try:
        with open(path, "rb") as handle:
            blob = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ScenarioError(f"cannot read {what}: {err.strerror or err}") from None
    if len(blob) > MAX_FILE_BYTES:
        raise ScenarioError(f"{what}: larger than {MAX_FILE_BYTES // 2**20} MiB; refused")
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{what}: not UTF-8 text ({err.reason} at byte {err.start}); is it a binary file?") from None


def read_scenario_file(path: str) -> Any:
    text = _read_text(Path(path), f"scenario {path}")
    try:
        raw = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise ScenarioError(f"scenario {path} is not valid YAML: {err}") from None
    except RecursionError:
        raise ScenarioError(f"scenario {path}: nested too deeply to read; refused") from None
    problem = expansion_problem(raw)
    if problem:
        raise ScenarioError(f"scenario {path}: {problem}")
    if not isinstance(raw, dict):
        raise ScenarioError(f"scenario {path}: expected a mapping with name, duration and events")
    return raw


def read_event_file(path: Path, where: str) -> str:
    return _read_text(path, f"{where} {str(path)!r}")


def check_event_references(path: str, events: Sequence[tuple[int, Any, set[str]]]) -> None:
    """Every `delete`/`release` names a workload that an `apply` at or before its time created."""
    applied: set[str] = set()
    for index, event, workloads in sorted(events, key=lambda item: (item[1].at, item[0])):
        applied |= workloads
        if event.action in ("delete", "release") and event.spec not in applied:
            known = ", ".join(sorted(applied)) or "none"
            raise ScenarioError(f"scenario {path}: events[{index}].{event.action}: no workload {event.spec!r} "
                                f"is applied at or before {event.at:g}s (applied by then: {known})")
