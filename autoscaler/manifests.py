"""Read Kubernetes manifests and expand workloads into the pods they would create.

Used by `preview` (SPEC §7): Pods, Deployments, ReplicaSets, StatefulSets, Jobs, CronJobs and
KubeRay RayCluster/RayService/RayJob objects become the Pending pods their controllers would
create, with deterministic names and uids so that two runs over the same files agree.
DaemonSets are returned apart (their pods run on every matching node); other kinds are skipped.
Resource quantities are not parsed here: pod specs are copied verbatim.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from autoscaler.validate.manifests import (
    MAX_MANIFEST_CHARS,
    PodBudget,
    check_document,
    check_workload,
    read_stdin,
    skip_reason,
)
from autoscaler.validate.yamlbounds import MAX_DEPTH, json_tree
from autoscaler.manifest_objects import (
    ExpandedPod,
    LoadedManifests,
    ManifestError,
    Where,
    mapping_field,
    read_object,
    show_value,
)
from autoscaler.workloads import (
    EXPANDERS,
    SHARED_SPECS,
    expand_object,
    is_daemonset,
    pod_template,
    statefulset_claims,
)

__all__ = [
    "ExpandedPod", "LoadedManifests", "ManifestError", "expand_object", "load_manifest_files", "load_manifest_text",
]

_STDIN = "<stdin>"


def _documents(text: str, file: str) -> Iterator[tuple[int, object]]:
    """(1-based index, content) of each non-empty YAML/JSON document. JSON is read with the json
    module (many times faster than any YAML loader); plain block YAML with autoscaler/block_yaml.py;
    other YAML with LibYAML when it is installed."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            document, shallow = json_tree(text)
        except ValueError:
            pass  # not one JSON document (e.g. YAML flow style or several): YAML says what is wrong
        except RecursionError:
            raise ManifestError(file, "nested too deeply to read; refused", document=1) from None
        else:
            problem = None if shallow else check_document(document, may_share=False)  # json.loads builds a tree
            if problem:
                raise ManifestError(file, problem, document=1)
            if document is not None:
                yield 1, document
            return
    from autoscaler.block_yaml import read_block_yaml

    fast = read_block_yaml(text, MAX_DEPTH)
    if fast is not None:  # plain block YAML, read as PyYAML reads it: a tree, at most MAX_DEPTH deep
        for index, document in enumerate(fast, 1):
            if document is not None:
                yield index, document
        return
    import yaml  # loaded for YAML only: a JSON file is read without it

    from autoscaler.manifest_yaml import ManifestLoader

    documents = yaml.load_all(text, Loader=ManifestLoader)
    may_share = "*" in text  # only an alias (`*name`) makes two places one object
    index = 0
    while True:
        try:
            document = next(documents)
        except StopIteration:
            return
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
            problem = getattr(err, "problem", None) or str(err)
            line = mark.line + 1 if mark is not None else None
            message = f"YAML syntax error: {problem}"
            raise ManifestError(file, message, document=index + 1, line=line) from None
        except RecursionError:
            raise ManifestError(file, "nested too deeply to read; refused", document=index + 1) from None
        except (ValueError, TypeError, OverflowError) as err:  # a value PyYAML cannot build, e.g. a 5000-digit int
            raise ManifestError(file, f"YAML value cannot be read: {err}", document=index + 1) from None
        index += 1
        problem = check_document(document, may_share=may_share)
        if problem:
            raise ManifestError(file, problem, document=index)
        if document is not None:
            yield index, document


def _objects(value: object, where: Where) -> Iterator[tuple[Where, object]]:
    """Flatten JSON arrays and `kind: List` / `*List` objects into their items."""
    if isinstance(value, list):
        items = value
        step = ""
    elif isinstance(value, dict) and isinstance(value.get("kind"), str) and value["kind"].endswith("List"):
        items = value.get("items") or []
        if not isinstance(items, list):
            raise where.error("items", f"expected a list, got {show_value(items)}", what=value["kind"])
        step = "items"
    else:
        yield where, value
        return
    for i, item in enumerate(items):
        if isinstance(item, dict) and not (isinstance(item.get("kind"), str) and item["kind"].endswith("List")):
            yield where.child(f"{step}[{i}]"), item  # an object, not a nested list: no generator
        else:
            yield from _objects(item, where.child(f"{step}[{i}]"))


class _Collector:
    """Accumulates objects from documents, checking that no two pods share a namespace and name."""

    def __init__(self, timings: dict[str, float] | None = None, max_pods: int | None = None) -> None:
        self.result = LoadedManifests()
        self._pod_sources: dict[tuple[str, str], str] = {}
        self.timings = timings if timings is not None else {}
        self._budget = PodBudget(max_pods)

    def add_text(self, text: str, file: str) -> None:
        started = time.perf_counter()
        documents = list(_documents(text, file))
        expanding = time.perf_counter()
        self.timings["read"] = self.timings.get("read", 0.0) + expanding - started
        for index, document in documents:
            for where, raw in _objects(document, Where(file, index)):
                self.add_object(raw, where)
        self.timings["expand"] = self.timings.get("expand", 0.0) + time.perf_counter() - expanding

    def add_object(self, raw: object, where: Where) -> None:
        obj = read_object(raw, where)
        expander = EXPANDERS.get((obj.group, obj.kind))
        check_workload(obj.group, obj.kind, obj.raw, obj.error)
        if expander is not None:
            self._budget.take(obj.group, obj.kind, obj.raw, obj.error)
        if is_daemonset(obj):
            pod_template(obj, mapping_field(obj, obj.raw.get("spec"), "spec").get("template"), "spec.template")
            self.result.daemonsets.append(obj.raw)
        elif (obj.group, obj.kind) == ("node.k8s.io", "RuntimeClass"):
            self.result.runtime_classes[obj.name] = obj.raw  # admission applies it to the pods naming it
        elif (obj.group, obj.kind) == ("", "PersistentVolumeClaim"):
            self.result.claims[(obj.namespace, obj.name)] = obj.raw  # where its pods' volume is
        elif (obj.group, obj.kind) == ("", "PersistentVolume"):
            self.result.volumes[obj.name] = obj.raw
        elif (obj.group, obj.kind) == ("storage.k8s.io", "StorageClass"):
            self.result.storage_classes[obj.name] = obj.raw
        elif expander is None:
            self.result.skipped.append(f"{obj.source}: {skip_reason(obj.api_version, obj.kind)}")
        else:
            pods = expander(obj)
            for key, claim in statefulset_claims(obj, pods).items():
                self.result.claims.setdefault(key, claim)  # a claim given in the files is the one adopted
            if not pods:
                self.result.skipped.append(f"{obj.source}: {_why_no_pods(obj)}")
            for pod in pods:
                meta = pod.manifest["metadata"]
                key = (meta["namespace"], meta["name"])
                if key in self._pod_sources:
                    message = f"pod {key[0]}/{key[1]} is also created by {self._pod_sources[key]}"
                    raise obj.error("metadata.name", message)
                self._pod_sources[key] = obj.source
                self.result.pods.append(pod)


def _why_no_pods(obj) -> str:
    spec = obj.raw.get("spec") if isinstance(obj.raw.get("spec"), dict) else {}
    if spec.get("suspend") is True:
        return f"no pods: the {obj.kind} is suspended (spec.suspend: true) and creates none until it is resumed"
    return f"no pods: the {obj.kind} asks for none (0 replicas or completions)"


def load_manifest_text(text: str, source: str, max_pods: int | None = None) -> LoadedManifests:
    """Read one file's text; `source` names it in messages."""
    collector = _Collector(max_pods=max_pods)
    collector.add_text(text, source)
    return collector.result


def load_manifest_files(
    paths: list[str], timings: dict[str, float] | None = None, read_only: bool = False, max_pods: int | None = None
) -> LoadedManifests:
    """Read manifest files ("-" is stdin) as one set: pod names must be unique across all of them.
    `timings` (phase -> seconds) gets the time spent reading and expanding; with `read_only` the
    pods of one template share their spec object (the caller promises not to change it). More
    than `max_pods` pods in all (default `autoscaler.validate.manifests.MAX_PREVIEW_PODS`) is
    refused before any is expanded."""
    token = SHARED_SPECS.set(read_only)
    try:
        return _load_files(paths, _Collector(timings, max_pods))
    finally:
        SHARED_SPECS.reset(token)


def _load_files(paths: list[str], collector: _Collector) -> LoadedManifests:
    for path in paths:
        if path == "-":
            collector.add_text(read_stdin(_STDIN, ManifestError), _STDIN)
            continue
        try:
            started = time.perf_counter()
            with open(path, encoding="utf-8-sig") as handle:
                text = handle.read(MAX_MANIFEST_CHARS + 1)
            if len(text) > MAX_MANIFEST_CHARS:
                raise ManifestError(path, f"larger than {MAX_MANIFEST_CHARS // 2**20} Mi characters; refused")
            collector.timings["read"] = collector.timings.get("read", 0.0) + time.perf_counter() - started
        except OSError as err:
            raise ManifestError(path, f"cannot read: {err.strerror or err}") from None
        except UnicodeDecodeError as err:
            message = f"cannot read: not UTF-8 text ({err.reason} at byte {err.start})"
            raise ManifestError(path, message) from None
        collector.add_text(text, path)
    return collector.result
