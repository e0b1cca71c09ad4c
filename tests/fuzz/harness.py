"""The fuzz harness shared by the CI tier (tests/fuzz/test_fuzz.py, a bounded number of
examples) and benchmarks/fuzz_inputs.py (many more, with counts printed).

Inputs are generated from the validation schemas (valid documents of every shape they allow)
and then mutated: a value replaced by a wrong type, a huge or negative number, a non-finite
float, unicode text, a deep nesting, or a key removed. Each input goes through the product's
own entry points (manifests -> preview pods -> planner; configuration; scenario file;
kubeconfig file). Outcomes: accepted, rejected with a message naming a field, or a traceback
(any other exception), which is what must never happen."""

from __future__ import annotations

import json
import re
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.kube.convert import daemonset_from_api
from autoscaler.config import Config, ConfigError, config_from_mapping, option_names
from autoscaler.manifests import ManifestError, load_manifest_text
from autoscaler.planner import plan
from autoscaler.podspec import PodSpecError, pod_from_manifest
from autoscaler.sim.scenario import ScenarioError, load_scenario
from autoscaler.validate import podschema
from autoscaler.validate.kubeconfig import Kubeconfig, KubeconfigError, check_kubeconfig
from autoscaler.validate.scenario import ScenarioFile
from pricing.catalog import region_catalog
from tests.fuzz.schema_strategies import from_schema

FIELD_NAMED = re.compile(r"(spec|metadata|kind|apiVersion|items|status|template|events|config|cloudSimulator|metricsServer|duration|"
                         r"step|name|description|cloud|region|clusters|users|contexts|current-context|configuration key|"
                         r"document \d+|YAML|nested|object)")


@dataclass
class Counts:
    examples: int = 0
    accepted: int = 0
    rejected: int = 0
    unnamed: list[str] = field(default_factory=list)  # rejections that name no field
    tracebacks: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.examples += other.examples
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.unnamed += other.unnamed
        self.tracebacks += other.tracebacks


# ---- mutations


def _deep(depth: int) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.sampled_from([2**63, 2**63 - 1, 2**31, 2**31 - 1, -1, 10**30, 1e308, -0.5, 1.5, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["1e400", "8Ei", "-1", "1.5", "lots", "", "NaN", "∞", "9" * 60, "1e99999999", "0x1F", "1_000", "  "]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(20, 260).map(_deep),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, prefix + (index,))
    return found


def _set(root: Any, path: tuple, value: Any, delete: bool) -> None:
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> Any:
    value = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(value)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        _set(value, path, draw(NASTY), delete=draw(st.integers(0, 5)) == 0)
    return value


# ---- generated documents


_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
_META = from_schema(podschema.ObjectMeta.model_json_schema())
_POD_SPEC = from_schema(podschema.PodSpec.model_json_schema())
_TEMPLATE = st.fixed_dictionaries({"metadata": _META, "spec": _POD_SPEC})


def _object(api_version: str, kind: str, spec: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"apiVersion": st.just(api_version), "kind": st.just(kind), "metadata": st.fixed_dictionaries({"name": _NAME}),
         "spec": spec}
    )


_COUNT = st.integers(0, 4)
WORKLOADS = st.one_of(
    _object("v1", "Pod", _POD_SPEC),
    _object("apps/v1", "Deployment", st.fixed_dictionaries({"replicas": _COUNT, "template": _TEMPLATE})),
    _object("apps/v1", "StatefulSet", st.fixed_dictionaries({"replicas": _COUNT, "template": _TEMPLATE})),
    _object("batch/v1", "Job", st.fixed_dictionaries({"parallelism": _COUNT, "completions": _COUNT, "template": _TEMPLATE})),
    _object("apps/v1", "DaemonSet", st.fixed_dictionaries({"template": _TEMPLATE})),
    _object("ray.io/v1", "RayCluster", st.fixed_dictionaries({
        "headGroupSpec": st.fixed_dictionaries({"template": _TEMPLATE}),
        "workerGroupSpecs": st.lists(st.fixed_dictionaries({"groupName": _NAME, "replicas": _COUNT, "template": _TEMPLATE}),
                                     max_size=2, unique_by=lambda g: g["groupName"]),
    })),
)
MANIFESTS = mutated(WORKLOADS)

_OPTION_VALUES = st.one_of(NASTY, st.sampled_from(["1", "10m", "true", "false", "spot", "spot,on-demand", "4Gi", "500m",
                                                    "us-east-1", "gcp", "^m5\\.", "(", 3, 0.5, 100]))
CONFIGS = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(option_names() + ["scaleDown", "bogus", "ünïcødé"]), st.text(max_size=8)),
                    _OPTION_VALUES, max_size=6),
    NASTY,
)
SCENARIOS = mutated(from_schema(ScenarioFile.model_json_schema()))
_URL = st.sampled_from(["https://127.0.0.1:6443", "https://api.example.com", "http://localhost:8080"])


@st.composite
def _consistent_kubeconfig(draw: st.DrawFn) -> dict:
    """A kubeconfig whose context names its cluster and user, as kubectl writes them."""
    cluster, user, context = draw(_NAME), draw(_NAME), draw(_NAME)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": draw(_URL), "insecure-skip-tls-verify": draw(st.booleans())}}],
        "users": [{"name": user, "user": {"token": draw(_NAME)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user, "namespace": draw(_NAME)}}],
        "current-context": context,
    }


KUBECONFIGS = mutated(st.one_of(_consistent_kubeconfig(), from_schema(Kubeconfig.model_json_schema(by_alias=True))))
API_POD = from_schema(podschema.Pod.model_json_schema())
API_OBJECTS = mutated(st.one_of(
    st.tuples(st.just("Pod"), API_POD),
    st.tuples(st.just("DaemonSet"), st.fixed_dictionaries({
        "metadata": st.fixed_dictionaries({"name": _NAME, "namespace": _NAME}),
        "spec": st.fixed_dictionaries({"template": _TEMPLATE})})),
).map(list))


# ---- entry points


class Rejected(Exception):
    pass


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True)


def run_manifest(obj: Any) -> None:
    text = _dump(obj) if not isinstance(obj, dict) or obj.get("kind") != "Pod" else json.dumps(obj, default=str)
    try:
        loaded = load_manifest_text(text, "fuzz.yaml", max_pods=200)
        pods = [pod_from_manifest(p.manifest) for p in loaded.pods]
    except (ManifestError, PodSpecError) as err:
        raise Rejected(str(err)) from None
    if pods:
        plan(pods, region_catalog("aws", "us-east-1"), Config())


def run_api_object(item: Any) -> None:
    """What the daemon's watch caches do with an object of the API server (convert it; a refused
    one is left out and reported); a pod that is accepted is planned."""
    kind, obj = item if isinstance(item, list) and len(item) == 2 else ("Pod", item)
    if not isinstance(obj, dict):
        raise Rejected("object: expected a mapping")  # the API server's JSON is always an object
    try:
        if kind == "DaemonSet":
            daemonset_from_api(obj)
            return
        pod = pod_from_manifest(obj)
    except PodSpecError as err:
        raise Rejected(str(err)) from None
    plan([pod], region_catalog("aws", "us-east-1"), Config())


def run_config(values: Any) -> None:
    try:
        config_from_mapping(values)
    except ConfigError as err:
        raise Rejected(str(err)) from None


def _with_file(text: str, check: Callable[[str], None]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        check(str(path))


def run_scenario_file(raw: Any) -> None:
    def check(path: str) -> None:
        try:
            load_scenario(path)
        except ScenarioError as err:
            raise Rejected(str(err)) from None

    _with_file(_dump(raw), check)


def run_kubeconfig_file(raw: Any) -> None:
    def check(path: str) -> None:
        try:
            check_kubeconfig(path)
        except KubeconfigError as err:
            raise Rejected(str(err)) from None

    _with_file(_dump(raw), check)


TARGETS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], None]]] = {
    "manifests": (MANIFESTS, run_manifest),
    "configuration": (CONFIGS, run_config),
    "scenario": (SCENARIOS, run_scenario_file),
    "kubeconfig": (KUBECONFIGS, run_kubeconfig_file),
    "api-objects": (API_OBJECTS, run_api_object),
}


def run_target(name: str, max_examples: int, derandomize: bool = True) -> Counts:
    strategy, entry = TARGETS[name]
    counts = Counts()

    @settings(max_examples=max_examples, deadline=None, derandomize=derandomize, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def property_(value: Any) -> None:
        counts.examples += 1
        try:
            entry(value)
        except Rejected as err:
            counts.rejected += 1
            if not FIELD_NAMED.search(str(err)):
                counts.unnamed.append(str(err))
        except Exception:  # noqa: BLE001 - this is what the fuzz tier looks for
            counts.tracebacks.append(f"{name}: {value!r:.300}\n{traceback.format_exc()}")
        else:
            counts.accepted += 1

    property_()
    return counts
