"""Manifest objects as the preview reads them: where each came from (file, document, object),
typed access to their fields with messages that name the field and the value, and the pods
they expand into."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar





class ManifestError(ValueError):
    """A manifest that cannot be read.

    str(err) names the file, the document (1-based, with kind and name when known), the field
    and the problem, e.g. "x.yaml: document 2 (Deployment web): spec.replicas: expected a
    non-negative integer, got 'three'". YAML syntax errors also carry `line` (1-based).
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        document: int | None = None,
        field: str | None = None,
        what: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file, self.document, self.field, self.line = file, document, field, line
        parts = [file]
        if document is not None:
            parts.append(f"document {document}" + (f" ({what})" if what else ""))
        if line is not None:
            parts.append(f"line {line}")
        if field:
            parts.append(field)
        super().__init__(": ".join([*parts, message]))


@dataclass(frozen=True)
class ExpandedPod:
    """One pod a manifest would create, as a complete core/v1 Pod object in phase Pending."""

    manifest: dict
    source: str  # "file.yaml#2 Deployment/web", for messages
    workload: str  # "Deployment/default/web": all pods of one workload object share it
    group: str  # "" or, for Ray, "head" / the worker group name / "submitter"
    # Read-only expansion (preview): the manifest stands for identical replicas with these
    # names (the manifest's own name first); empty for one pod.
    replica_names: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.replica_names) or 1


@dataclass(frozen=True)
class LoadedManifests:
    """Everything read from a set of manifests."""

    pods: list[ExpandedPod] = field(default_factory=list)
    daemonsets: list[dict] = field(default_factory=list)  # apps/v1 DaemonSet objects, as read
    skipped: list[str] = field(default_factory=list)  # "file.yaml#3 Service/web: no pods"
    runtime_classes: dict[str, dict] = field(default_factory=dict)  # node.k8s.io RuntimeClass by name
    # What decides where pods with volumes can run (autoscaler/volumes.py): PersistentVolumeClaims
    # by (namespace, name), those a StatefulSet's volumeClaimTemplates will create included,
    # PersistentVolumes and storage.k8s.io StorageClasses by name, as read.
    claims: dict[tuple[str, str], dict] = field(default_factory=dict)
    volumes: dict[str, dict] = field(default_factory=dict)
    storage_classes: dict[str, dict] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Where a document came from, and errors about it


@dataclass(frozen=True)
class Where:
    """A document of a file, and the path of an item inside it (for Lists and JSON arrays)."""

    file: str
    document: int | None = None
    path: str = ""

    def __str__(self) -> str:
        where = self.file if self.document is None else f"{self.file}#{self.document}"
        return f"{where}/{self.path}" if self.path else where

    def child(self, step: str) -> Where:
        path = self.path + step if step.startswith("[") or not self.path else f"{self.path}.{step}"
        return Where(self.file, self.document, path)

    def error(self, field_: str, message: str, what: str | None = None) -> ManifestError:
        full = f"{self.path}.{field_}" if self.path and field_ else self.path or field_
        return ManifestError(self.file, message, document=self.document, field=full or None, what=what)

    @staticmethod
    def parse(source: str) -> Where:
        match = re.fullmatch(r"(.*)#(\d+)", source)
        return Where(match[1], int(match[2])) if match else Where(source)


def show_value(value: object) -> str:
    if isinstance(value, (dict, list)) and value:
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem_text(value: object, expected: str) -> str:
    return "missing" if value is None else f"expected {expected}, got {show_value(value)}"


def is_name(value: object) -> bool:
    return isinstance(value, str) and value != ""


@dataclass(frozen=True)
class ManifestObject:
    """A Kubernetes object whose kind, apiVersion and name have been checked."""

    raw: dict
    where: Where
    api_version: str
    kind: str
    name: str
    namespace: str

    @property
    def group(self) -> str:
        group = self.api_version.rpartition("/")[0]
        return "apps" if group == "extensions" else group  # pre-1.16 Deployment/ReplicaSet/DaemonSet

    # Cached in the instance's __dict__ by hand: functools.cached_property takes a lock on
    # every access in Python 3.11, and a Deployment asks once per replica.
    @property
    def source(self) -> str:
        cached = self.__dict__.get("_source")
        if cached is None:
            cached = self.__dict__["_source"] = f"{self.where} {self.kind}/{self.name}"
        return cached

    @property
    def workload(self) -> str:
        cached = self.__dict__.get("_workload")
        if cached is None:
            cached = self.__dict__["_workload"] = f"{self.kind}/{self.namespace}/{self.name}"
        return cached

    def error(self, field_: str, message: str) -> ManifestError:
        return self.where.error(field_, message, what=f"{self.kind} {self.name}")

    def pod(self, manifest: dict, group: str = "", replica_names: tuple[str, ...] = ()) -> ExpandedPod:
        return ExpandedPod(manifest, self.source, self.workload, group, replica_names)


def generated_name(prefix: str, seed: str) -> str:
    """metadata.generateName as the API server fills it (API conventions, "generateName": the
    prefix plus a random suffix of 5 characters), made reproducible from `seed`."""
    from autoscaler.workloads import _token  # the one name generator (it imports this module)

    return prefix + _token(seed, 5)


def read_object(raw: object, where: Where) -> ManifestObject:
    if not isinstance(raw, dict):
        raise where.error("", f"expected a mapping (a Kubernetes object), got {show_value(raw)}")
    kind, api_version = raw.get("kind"), raw.get("apiVersion")
    if not is_name(kind):
        raise where.error("kind", problem_text(kind, "a non-empty string"))
    if not is_name(api_version):
        raise where.error("apiVersion", problem_text(api_version, "a non-empty string"), what=kind)
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        raise where.error("metadata", problem_text(meta, "a mapping"), what=kind)
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    if name is None and is_name(meta.get("generateName")) and isinstance(namespace, str):
        name = generated_name(meta["generateName"], f"{kind}/{namespace}/{meta['generateName']}/{where}")
    if not is_name(name):
        raise where.error("metadata.name", problem_text(name, "a non-empty string"), what=kind)
    obj = ManifestObject(raw, where, api_version, kind, name, namespace)
    if not isinstance(namespace, str):
        raise obj.error("metadata.namespace", f"expected a string, got {show_value(namespace)}")
    return obj


# ---------------------------------------------------------------------------------------------
# Field checks


def mapping_field(obj: ManifestObject, value: object, field_: str) -> dict:
    if not isinstance(value, dict):
        raise obj.error(field_, problem_text(value, "a mapping"))
    return value


_Default = TypeVar("_Default", int, None)


def count_field(obj: ManifestObject, spec: dict, key: str, prefix: str, default: _Default) -> int | _Default:
    """A non-negative integer field of `spec` (field path `prefix.key`); null means unset."""
    value = spec.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise obj.error(f"{prefix}.{key}", f"expected a non-negative integer, got {show_value(value)}")
    return value


def labels_field(obj: ManifestObject, meta: dict, key: str, prefix: str) -> dict:
    value = meta.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise obj.error(f"{prefix}.{key}", f"expected a mapping, got {show_value(value)}")
    return dict(value)


def check_pod_spec(obj: ManifestObject, spec: object, field_: str) -> dict:
    """A pod spec must have a non-empty list of named containers (and well-formed initContainers)."""
    spec = mapping_field(obj, spec, field_)
    for key, required in (("containers", True), ("initContainers", False)):
        containers = spec.get(key)
        if containers is None and not required:
            continue
        if not isinstance(containers, list) or not containers and required:
            raise obj.error(f"{field_}.{key}", problem_text(containers, "a non-empty list" if required else "a list"))
        for i, container in enumerate(containers):
            where = f"{field_}.{key}[{i}]"
            if not isinstance(container, dict):
                raise obj.error(where, f"expected a mapping, got {show_value(container)}")
            if not is_name(container.get("name")):
                raise obj.error(f"{where}.name", problem_text(container.get("name"), "a non-empty string"))
    return spec


# ---------------------------------------------------------------------------------------------
# Deterministic names and uids
