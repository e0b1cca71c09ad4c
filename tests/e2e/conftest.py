"""Fixtures for the e2e tier: one real control plane on loopback per session.

The tier is skipped (with the reason) when the control-plane binaries are not
cached and cannot be built here (no Go toolchain), or when the Python packages
in tests/e2e_requirements.txt are missing. With SMART_AUTOSCALER_E2E=required
those cases fail instead of skipping.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) from anywhere
    sys.path.insert(0, str(_REPO))

from tests.controlplane import (  # noqa: E402
    BinariesUnavailable,
    ControlPlane,
    ensure_binaries,
    kwok_node_manifest,
)
from tests.e2e.daemon_helpers import create_namespace  # noqa: E402

_E2E_DIR = Path(__file__).resolve().parent
_REQUIRED = os.environ.get("SMART_AUTOSCALER_E2E", "").lower() == "required"
_active: ControlPlane | None = None
_autoscaler_envs: list = []  # AutoscalerEnv of the running test (their daemon logs go in failure reports)
_instance_blocks = itertools.count(1)


def _unavailable(reason: str):
    if _REQUIRED:
        pytest.fail(f"SMART_AUTOSCALER_E2E=required but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "e2e: end-to-end tier against a real control plane on loopback (tests/controlplane)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _active is not None and _active.workdir is not None:
        report.sections.append(("control plane log tails", _active.log_tail(lines=60)))
    if report.failed:
        for env in _autoscaler_envs:
            for name, tail in env.logs():
                report.sections.append((f"smart-autoscaler daemon {name} log", tail))


@pytest.fixture(scope="session")
def control_plane():
    global _active
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _unavailable("the 'cryptography' package is missing (pip install -r tests/e2e_requirements.txt)")
    try:
        bin_dir = ensure_binaries()
    except BinariesUnavailable as err:
        _unavailable(f"control-plane binaries unavailable: {err}")
    cp = ControlPlane(bin_dir=bin_dir, keep=os.environ.get("SMART_AUTOSCALER_E2E_KEEP") == "1")
    cp.start()
    _active = cp
    sys.stderr.write(f"\n[e2e] control plane up in {cp.startup_seconds:.1f}s: {cp.kubeconfig}\n")
    try:
        yield cp
    finally:
        _active = None
        cp.stop()


@pytest.fixture(scope="session")
def metrics_server(control_plane):
    """metrics-server (tests/controlplane/metrics_server.py) scraping kwok's emulated kubelet
    metrics, registered as the metrics.k8s.io APIService; started on first use only. Pod usage
    comes from the annotations kwok.x-k8s.io/usage-cpu / -memory; CPU appears after about two
    resolutions (12 s each)."""
    from tests.controlplane.metrics_server import MetricsServer, ensure_metrics_server

    try:
        bin_dir = ensure_metrics_server()
    except BinariesUnavailable as err:
        _unavailable(f"metrics-server unavailable: {err}")
    server = MetricsServer(control_plane, bin_dir=bin_dir).start()
    sys.stderr.write(f"\n[e2e] metrics-server up in {server.startup_seconds:.1f}s\n")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def k8s_client(control_plane):
    """An official ``kubernetes`` ApiClient for the admin kubeconfig."""
    try:
        import kubernetes
    except ImportError:
        _unavailable("the 'kubernetes' package is missing (pip install -r tests/e2e_requirements.txt)")
    client = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield client
    client.close()


def _api_fixture(class_name: str):
    @pytest.fixture(scope="session")
    def fixture(k8s_client):
        import kubernetes

        return getattr(kubernetes.client, class_name)(k8s_client)

    fixture.__doc__ = f"kubernetes.client.{class_name} on the admin client."
    return fixture


core_v1 = _api_fixture("CoreV1Api")
apps_v1 = _api_fixture("AppsV1Api")
policy_v1 = _api_fixture("PolicyV1Api")
coordination_v1 = _api_fixture("CoordinationV1Api")


@pytest.fixture
def namespace(control_plane, core_v1):
    """A fresh namespace whose 'default' ServiceAccount exists (pods can be created)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    create_namespace(control_plane, core_v1, name)
    yield name
    core_v1.delete_namespace(name)


@pytest.fixture
def kwok_nodes(control_plane, core_v1):
    """Factory: ``kwok_nodes(name, cpu, memory, ...)`` registers a kwok Node
    (arguments of ``kwok_node_manifest``), waits until it is Ready, returns it.
    Nodes are deleted at teardown."""
    created: list[str] = []

    def register(name: str, cpu, memory, pods=110, labels=None, provider_id=None, gpus=0, **kw):
        manifest = kwok_node_manifest(name, cpu, memory, pods, labels, provider_id, gpus, **kw)
        core_v1.create_node(manifest)
        created.append(name)
        return control_plane.wait_for(
            lambda: _ready_node(core_v1, name), timeout=30, what=f"node {name} Ready"
        )

    yield register
    for name in created:
        try:
            core_v1.delete_node(name)
        except Exception:  # noqa: BLE001 - already gone
            pass


def _ready_node(core_v1, name):
    node = core_v1.read_node(name)
    for cond in node.status.conditions or []:
        if cond.type == "Ready" and cond.status == "True":
            return node
    return None


@pytest.fixture
def autoscaler(control_plane, k8s_client, namespace, tmp_path):
    """An ``AutoscalerEnv`` (tests/e2e/daemon_helpers.py) for one test: ``start(config, ...)``
    runs ``python -m autoscaler run --provider simulated`` under a ServiceAccount holding the
    chart's least-privilege rules (ClusterRole from helm/smart-autoscaler/files, Lease Role from
    templates/role.yaml), with a TokenRequest token, a state file of its own (instance ids
    unique in the session) and its log in a file (shown when the test fails). At teardown the
    daemons are stopped, the namespace's pods removed, then the Nodes the simulated cloud
    created deleted, the state file removed and the RBAC objects deleted."""
    from tests.e2e.daemon_helpers import AutoscalerEnv

    env = AutoscalerEnv(control_plane, k8s_client, namespace, tmp_path,
                        first_instance=100 * next(_instance_blocks) + 1)
    _autoscaler_envs.append(env)
    try:
        yield env
    finally:
        _autoscaler_envs.remove(env)
        env.cleanup()
