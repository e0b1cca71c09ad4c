"""metrics-server beside the loopback control plane, scraping kwok's emulated kubelets.

    ms = MetricsServer(cp)    # cp: a started ControlPlane
    ms.start()                # process + Service + APIService; waits until NodeMetrics answer
    ...
    ms.stop()

How it is wired (no containers, no kube-proxy):
* kwok (started by ``ControlPlane`` with ``--node-ip=127.0.0.1`` and the configs in
  ``metrics/``) serves each node's kubelet ``/metrics/resource`` at
  ``http://127.0.0.1:<kwok port>/metrics/nodes/<node>/metrics/resource``; nodes carry that
  path in the annotation ``metrics.k8s.io/resource-metrics-path``. Pod usage comes from
  the pod annotations ``kwok.x-k8s.io/usage-cpu`` / ``kwok.x-k8s.io/usage-memory``.
* metrics-server scrapes it over plain HTTP (``--deprecated-kubelet-completely-insecure``,
  ``--kubelet-port=<kwok port>``, InternalIP) every ``resolution`` (at least 10 s; CPU
  needs two scrapes, so the first pod CPU figures come after about two resolutions).
* It serves ``metrics.k8s.io`` on a loopback port with a self-signed certificate. The API
  server's aggregator reaches it through the APIService ``v1beta1.metrics.k8s.io`` and the
  Service ``kube-system/metrics-server`` of type ExternalName ``localhost`` (the aggregator
  dials ``https://<externalName>:<APIService port>``; Endpoints may not hold loopback
  addresses, and there is no kube-proxy for a ClusterIP).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .cluster import HERE, BinariesUnavailable, ControlPlane, ControlPlaneError, _Component, free_port, run_build_script

BUILD_SCRIPT = HERE / "build-metrics-server.sh"
APISERVICE = "v1beta1.metrics.k8s.io"
NAMESPACE, SERVICE = "kube-system", "metrics-server"


def ensure_metrics_server(*, quiet: bool = False) -> Path:
    """Build once (cached beside the control plane) and return the directory holding
    ``metrics-server``; ``SMART_AUTOSCALER_METRICS_SERVER_BIN`` may name a prebuilt one's directory."""
    override = os.environ.get("SMART_AUTOSCALER_METRICS_SERVER_BIN")
    if override:
        if not os.access(Path(override) / "metrics-server", os.X_OK):
            raise BinariesUnavailable(f"SMART_AUTOSCALER_METRICS_SERVER_BIN={override} lacks metrics-server")
        return Path(override)
    return run_build_script(BUILD_SCRIPT, quiet=quiet)


class MetricsServer:
    def __init__(self, cp: ControlPlane, bin_dir: Path | None = None, resolution: str = "12s", start_timeout: float = 60.0) -> None:
        self.cp = cp
        self.bin_dir = bin_dir
        self.resolution = resolution
        self.start_timeout = start_timeout
        self.port = 0
        self.startup_seconds: float | None = None
        self._component: _Component | None = None

    def start(self) -> "MetricsServer":
        t0 = time.monotonic()
        bin_dir = self.bin_dir or ensure_metrics_server()
        self.port = free_port()
        workdir = self.cp.workdir
        kubeconfig = str(self.cp.kubeconfig)
        args = [
            str(Path(bin_dir) / "metrics-server"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={workdir / 'metrics-server-certs'}",
            f"--kubelet-port={self.cp.ports['kwok']}",
            "--kubelet-preferred-address-types=InternalIP",
            "--deprecated-kubelet-completely-insecure",
            f"--metric-resolution={self.resolution}",
            "--v=1",
        ]
        self._component = _Component("metrics-server", args, workdir / "logs" / "metrics-server.log")
        self.cp._launch(self._component)
        try:
            self._register()
            self._wait_available(t0 + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _register(self) -> None:
        import kubernetes

        with kubernetes.config.new_client_from_config(config_file=str(self.cp.kubeconfig)) as client:
            core = kubernetes.client.CoreV1Api(client)
            registration = kubernetes.client.ApiregistrationV1Api(client)
            service = {
                "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                "spec": {"type": "ExternalName", "externalName": "localhost"},
            }
            apiservice = {
                "metadata": {"name": APISERVICE},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "service": {"name": SERVICE, "namespace": NAMESPACE, "port": self.port},
                    "insecureSkipTLSVerify": True,  # metrics-server's self-signed cert, as its own manifest does
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            }
            _replace(lambda: core.delete_namespaced_service(SERVICE, NAMESPACE), lambda: core.create_namespaced_service(NAMESPACE, service))
            _replace(lambda: registration.delete_api_service(APISERVICE), lambda: registration.create_api_service(apiservice))

    def _wait_available(self, deadline: float) -> None:
        """Until the APIService is Available and NodeMetrics can be listed."""
        while True:
            self.cp._check_alive()
            try:
                if self.cp._api_get("/apis/metrics.k8s.io/v1beta1/nodes") is not None:
                    return
            except Exception:  # noqa: BLE001 - 503 until the aggregator sees it available
                pass
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"metrics-server not available within {self.start_timeout:.0f}s\n{self.cp.log_tail()}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self._component is None:
            return
        comp, self._component = self._component, None
        if comp in self.cp.components:
            self.cp.components.remove(comp)
        self.cp._terminate([comp], grace=5.0)


def _replace(delete, create) -> None:
    import kubernetes

    try:
        delete()
    except kubernetes.client.exceptions.ApiException as err:
        if err.status != 404:
            raise
    create()
