"""`smart-autoscaler run`: the daemon around the reconcile loop.

Connects to the API server (in-cluster or kubeconfig), fills the watch caches, serves
/metrics, /healthz (the loop turns) and /readyz (the API server and the cloud answer), takes the leader Lease (so two replicas never act at once) and, while
leading, reconciles every `loopPeriod` or sooner when a watched object changes. A new
leader starts from what the cluster and the cloud say (instances tagged for the cluster are
adopted), never from what a previous leader remembered.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from autoscaler.cluster import ClusterError
from autoscaler.config import Config, parse_duration

log = logging.getLogger("smart_autoscaler.daemon")
NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
MIN_LOOP_INTERVAL = 1.0  # watch events wake the loop early, but not more often than this
SHUTDOWN_GRACE = 15.0  # seconds in-flight cloud calls get to finish on SIGTERM (pods get 30 by default)


class DaemonError(RuntimeError):
    """The daemon cannot start (bad provider, no cluster access): the message says why."""


@dataclass(frozen=True)
class DaemonOptions:
    provider: str = ""  # "" = the configuration's `cloud`; the simulated cloud only when named
    dry_run: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    metrics_address: str = "0.0.0.0:8080"
    leader_elect: bool = True
    lease_namespace: str | None = None
    lease_name: str = "smart-autoscaler"
    simulated_state: str | None = None
    simulated_launch_delay: float = 30.0
    simulated_cloud_init_delay: float = 0.0
    once: bool = False

    @classmethod
    def from_args(cls, args: Any) -> DaemonOptions:
        try:
            delay = parse_duration(args.simulated_launch_delay)
        except ValueError as err:
            raise DaemonError(f"--simulated-launch-delay {args.simulated_launch_delay!r}: {err}") from None
        init_text = getattr(args, "simulated_cloud_init_delay", "0s")
        try:
            init_delay = parse_duration(init_text)
        except ValueError as err:
            raise DaemonError(f"--simulated-cloud-init-delay {init_text!r}: {err}") from None
        return cls(
            provider=args.provider or "",
            dry_run=args.dry_run,
            kubeconfig=args.kubeconfig,
            context=args.context,
            metrics_address=args.metrics_address,
            leader_elect=not args.no_leader_elect,
            lease_namespace=args.lease_namespace,
            lease_name=args.lease_name,
            simulated_state=args.simulated_state,
            simulated_launch_delay=delay,
            simulated_cloud_init_delay=init_delay,
            once=args.once,
        )


def _lease_namespace(options: DaemonOptions) -> str:
    if options.lease_namespace:
        return options.lease_namespace
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(NAMESPACE_FILE, encoding="utf-8") as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "0.0.0.0", int(port)
    except ValueError:
        raise DaemonError(f"--metrics-address {text!r}: expected HOST:PORT, e.g. 0.0.0.0:8080") from None


def _simulated_registrar(cluster: Any, cloud_init_delay: float = 0.0) -> tuple[Any, Any]:
    """on_boot / on_terminate for the simulated cloud against a real API server: register the
    Node a kubelet would (kwok keeps it Ready), and delete it on termination. With
    `cloud_init_delay`, the Node registers with the cloud controller manager's start-up taint
    `node.cloudprovider.kubernetes.io/uninitialized=true:NoSchedule` (as a kubelet run with
    --cloud-provider=external does) and the taint is taken off that many seconds later, as the
    cloud controller manager does once it has initialised the node -- Ready or not by then."""
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException

    from autoscaler.sim.cloud import node_manifest, node_name_for
    from autoscaler.sim.cluster import UNINITIALIZED_TAINT

    core = CoreV1Api(cluster.api_client)

    def initialise(name: str) -> None:
        try:
            cluster.patch_node(name, remove_taint_keys=(UNINITIALIZED_TAINT.key,))
        except ClusterError as err:
            log.error("simulated cloud controller: initialising node %s failed: %s", name, err)

    def on_boot(instance: Any, request: Any) -> None:
        manifest = node_manifest(instance, request, node_name_for(instance))
        if cloud_init_delay > 0:
            taint = {"key": UNINITIALIZED_TAINT.key, "value": UNINITIALIZED_TAINT.value, "effect": UNINITIALIZED_TAINT.effect}
            manifest["spec"]["taints"] = [*manifest["spec"].get("taints", []), taint]
        try:
            core.create_node(body=manifest)
        except ApiException as err:
            if err.status != 409:  # already registered
                raise
            return
        if cloud_init_delay > 0:
            timer = threading.Timer(cloud_init_delay, initialise, (manifest["metadata"]["name"],))
            timer.daemon = True
            timer.start()

    def on_terminate(instance: Any) -> None:
        try:
            core.delete_node(node_name_for(instance))
        except ApiException as err:
            if err.status != 404:
                log.error("deleting node of terminated instance %s failed: %s", instance.instance_id, err.reason)

    return on_boot, on_terminate


def provider_name(config: Config, options: DaemonOptions) -> str:
    """`--provider` when given, else the configuration's `cloud`: pointed at a real cluster
    without the flag, the daemon acts on that cloud, never on the simulated one."""
    return options.provider or config.cloud


def _provider(config: Config, options: DaemonOptions, cluster: Any, clock: Any) -> Any:
    from providers.registry import create_provider

    name = provider_name(config, options)
    try:
        if name == "simulated":
            on_boot, on_terminate = _simulated_registrar(cluster, options.simulated_cloud_init_delay)
            return create_provider(
                "simulated",
                clock=clock,
                cluster_id=config.cluster_name,
                region=config.region,
                launch_delay=options.simulated_launch_delay,
                on_boot=on_boot,
                on_terminate=on_terminate,
                state_file=options.simulated_state,
            )
        return create_provider(name, config=config, clock=clock)
    except (ValueError, TypeError) as err:
        source = "--provider" if options.provider else "configuration key cloud:"
        raise DaemonError(f"{source} {name}: {err}") from None


def _with_identity(config: Config, cluster: Any) -> Config:
    """clusterName, or this cluster's own identity when it is not set (autoscaler/identity.py)."""
    from autoscaler.identity import kube_system_uid, with_cluster_identity

    try:
        config, note = with_cluster_identity(config, lambda: kube_system_uid(cluster.api_client))
    except Exception as err:  # the API's refusal or an unreachable server: say what to do
        cluster.stop()
        reason = getattr(err, "reason", None) or err
        raise DaemonError(
            f"clusterName is not set and the kube-system namespace cannot be read to derive this cluster's identity "
            f"({reason}); set clusterName to a name no other cluster in this account uses"
        ) from None
    if note:
        log.warning("%s", note)
    return config


def run_daemon(config: Config, options: DaemonOptions) -> int:
    from autoscaler.clock import SystemClock
    from autoscaler.kube.client import KubeCluster
    from autoscaler.kube.metrics import MetricsApi
    from autoscaler.kube.leader import LeaderElector
    from autoscaler.health import CLOUD, KUBERNETES, Readiness
    from autoscaler.metrics import Metrics, serve
    from autoscaler.loop.calls import ThreadedCalls
    from autoscaler.loop.contain import fault_from_env
    from autoscaler.loop.freshness import Freshness
    from autoscaler.loop.reconcile import Reconciler
    from pricing.catalog import CatalogError, catalog_settings, region_catalog

    from autoscaler.config import not_acted_on

    for note in not_acted_on(config):
        log.warning("%s", note)
    clock = SystemClock()
    host, port = _address(options.metrics_address)
    try:
        catalog = region_catalog(config.cloud, config.region, catalog_settings(config))
    except CatalogError as err:
        raise DaemonError(f"configuration cloud/region: {err}") from None
    try:
        cluster = KubeCluster.connect(options.kubeconfig, options.context, config.annotation_prefixes)
    except ClusterError as err:
        raise DaemonError(f"cannot reach the Kubernetes API: {err}") from None
    config = _with_identity(config, cluster)
    try:
        _provider(config, options, cluster, clock)  # a provider that cannot be built stops start-up
    except DaemonError:
        cluster.stop()
        raise
    metrics = Metrics()
    state: dict[str, Any] = {"reconciler": None, "last_loop": time.monotonic()}
    leading = threading.Event()
    stop = threading.Event()

    def start_leading() -> None:
        # A fresh memory each term: the cluster and the cloud are the truth. A new provider too,
        # so a simulated cloud re-reads the state file the previous leader wrote.
        try:
            provider = _provider(config, options, cluster, clock)
        except DaemonError as err:
            log.error("cannot lead: %s", err)
            return
        if state["reconciler"] is not None:
            state["reconciler"].shutdown(0.0)
        previous = state.get("provider")
        if previous is not None and hasattr(previous, "close"):
            previous.close()  # e.g. the AWS provider's price refresher thread
        state["provider"] = provider
        calls = ThreadedCalls(clock, config.max_concurrent_launches, config.cloud_call_timeout, on_answer=cluster.wake)
        state["reconciler"] = Reconciler(
            cluster, provider, catalog, config, clock, metrics, dry_run=options.dry_run, calls=calls,
            usage=MetricsApi(cluster.api_client, clock), freshness=freshness,
        )
        state["reconciler"].scale_up.guard.fault = fault_from_env()  # a test hook; off unless its variable is set
        metrics.is_leader.set(1)
        leading.set()

    def stop_leading() -> None:
        leading.clear()
        provider = state.pop("provider", None)
        if provider is not None and hasattr(provider, "close"):
            provider.close()  # a follower fetches no prices; the next term builds a new provider
        metrics.is_leader.set(0)
        metrics.forget_leader_state()
        if state["reconciler"] is not None:  # calls in flight are abandoned: the next leader adopts
            state["reconciler"].shutdown(0.0)

    readiness = Readiness()
    freshness = Freshness.for_loop_period(config.loop_period)  # shared by every leadership term
    cluster.on_api_error = lambda verb, resource, code: metrics.kube_api_request_errors.labels(verb, resource, code).inc()

    def healthy() -> bool:  # liveness: the loop turns
        return time.monotonic() - state["last_loop"] < max(60.0, 6 * config.loop_period)

    def observe_apis() -> None:
        readiness.observe(KUBERNETES, cluster.api_error())
        reconciler = state["reconciler"]
        # Only the leader calls the cloud; a follower has nothing to say about it.
        readiness.observe(CLOUD, reconciler.cloud_error if leading.is_set() and reconciler is not None else "")
        for api in (KUBERNETES, CLOUD):
            metrics.api_reachable.labels(api).set(1 if readiness.reachable(api) else 0)

    try:
        server = serve(metrics, host, port, healthy, readiness.check)
    except OSError as err:
        raise DaemonError(f"cannot serve metrics on --metrics-address {host}:{port}: {err.strerror or err}") from None
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    elector = None
    if options.leader_elect and not options.once:
        identity = f"{socket.gethostname()}-{os.getpid()}"
        elector = LeaderElector(cluster.api_client, _lease_namespace(options), options.lease_name, identity)
        elector.run_in_background(start_leading, stop_leading)
    else:
        start_leading()
    log.info(
        "running: cloud=%s region=%s provider=%s dry-run=%s leader-election=%s metrics=%s:%d",
        config.cloud, config.region, provider_name(config, options), options.dry_run, elector is not None, host, port,
    )
    try:
        while not stop.is_set():
            state["last_loop"] = time.monotonic()
            if leading.is_set() and state["reconciler"] is not None:
                try:
                    state["reconciler"].reconcile_once()
                except Exception:  # one bad loop must not kill the daemon
                    metrics.reconcile_errors.inc()
                    log.exception("reconcile loop failed; trying again next loop")
            observe_apis()
            if options.once:
                break
            stop.wait(MIN_LOOP_INTERVAL)
            cluster.wait_for_change(max(0.0, config.loop_period - MIN_LOOP_INTERVAL))
    finally:
        if state["reconciler"] is not None:
            state["reconciler"].shutdown(SHUTDOWN_GRACE)
        if elector is not None:
            elector.stop()
        cluster.stop()
        server.shutdown()
        log.info("smart-autoscaler stopped")
    return 0
