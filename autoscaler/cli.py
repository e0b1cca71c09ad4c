"""Command line: `smart-autoscaler preview ...` (kubectl habits: -f FILE, -o table|json)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from typing import Sequence

# Before numpy loads (the planner imports it): the planner's numpy work is elementwise, never
# BLAS, so the OpenBLAS thread pool numpy would start only spins on the daemon's or preview's
# CPU. A value the user set stays.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from autoscaler.config import Config, ConfigError, load_config_file  # noqa: E402
from autoscaler.manifests import ManifestError, load_manifest_files  # noqa: E402
from autoscaler.preview import TargetError, format_table, parse_target, run_preview  # noqa: E402
from autoscaler.validate.manifests import MAX_PREVIEW_PODS  # noqa: E402
from autoscaler.validate.scenario_bounds import MAX_SIMULATED_DAYS  # noqa: E402

# The daemon and the simulator are imported only by the commands that use them, so `preview`
# starts fast; their errors are user errors once they are loaded.
_LAZY_ERRORS = (("autoscaler.daemon", "DaemonError"), ("autoscaler.sim.scenario", "ScenarioError"))


def _user_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [ConfigError, ManifestError, TargetError]
    for module, name in _LAZY_ERRORS:
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)

EXIT_USAGE = 2
EXIT_INTERNAL = 1


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("smart-autoscaler")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.1.0 (source tree)"


class _VersionAction(argparse.Action):
    """--version, looked up only when asked: reading the package metadata imports the email
    package, a tenth of a `preview` run's start."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smart-autoscaler",
        description="Kubernetes node autoscaler: the cheapest node that really fits.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    preview = commands.add_parser(
        "preview",
        help="offline: what nodes would these manifests get, and at what $/hour, on each cloud/region",
        description="Plan nodes for the pods in manifest files without a cluster or a cloud account.",
    )
    preview.add_argument("-f", "--filename", action="append", required=True, metavar="FILE",
                         help="manifest file (YAML or JSON, multi-document); '-' reads stdin; repeatable")
    preview.add_argument("--target", action="append", metavar="CLOUD:REGION",
                         help="e.g. aws:us-west-2, gcp:us-central1, azure:eastus, oci:us-ashburn-1; repeatable "
                              "(default: the region of --config, else aws:us-east-1)")
    preview.add_argument("--config", metavar="CONFIG.yaml", help="autoscaler options (SPEC names, camelCase)")
    preview.add_argument("-o", "--output", choices=("table", "json"), default="table")
    preview.add_argument("--max-pods", type=_positive_int, default=MAX_PREVIEW_PODS, metavar="N",
                         help=f"refuse manifests that would create more than N pods in all (default {MAX_PREVIEW_PODS:,})")
    preview.add_argument("--timings", "-v", action="store_true", help="print the time of each phase (read, expand, plan, print) to stderr")
    preview.add_argument("--live-prices", action="store_true",
                         help="ask each target cloud's price list for current prices (AWS bulk price list, OCI price list, "
                              "Azure Retail Prices: no account; GCP Cloud Billing Catalog: needs GOOGLE_API_KEY); "
                              "the embedded catalog answers when one cannot be reached")

    simulate = commands.add_parser(
        "simulate",
        help="run the real reconcile loop against a simulated cluster and cloud, following a scenario",
        description="Workloads arrive and leave, the cloud stocks out, an hour runs in seconds; prints a "
        "timeline and a summary. Uses named simulators (InMemoryCluster, SimulatedProvider): no cluster, no cloud.",
        epilog="Scenario format: README.md, section 'Scenario files' (keys name, cloud, region, duration "
        f"(at most {MAX_SIMULATED_DAYS} days), step (more than 0, at most the duration), config, cloudSimulator "
        "{launchDelay, readyDelay}, events: [{at, apply|file|delete|release|stockout|quota|slowLaunch|neverBoots|"
        "clearFaults, runFor, heldBy}]); examples in examples/scenarios/.",
    )
    simulate.add_argument("scenario", metavar="SCENARIO.yaml", help="e.g. examples/scenarios/gpu-burst.yaml")

    run = commands.add_parser(
        "run",
        help="the daemon: watch a cluster and add and remove nodes",
        description="Watches pods and nodes through the Kubernetes API and scales the cluster's nodes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--config", metavar="CONFIG.yaml", help="options (SPEC names); validated at start")
    run.add_argument("--dry-run", action="store_true", help="decide and report (logs, Normal events DryRun*) but change nothing")
    run.add_argument("--provider", default=None,
                     help="aws, gcp, azure, oci, an entry-point plugin, or simulated (a named simulator; only "
                          "when given); default: the configuration's cloud")
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster config, else ~/.kube/config)")
    run.add_argument("--context", help="kubeconfig context")
    run.add_argument("--metrics-address", default="0.0.0.0:8080", help="where /metrics and /healthz listen (host:port)")
    run.add_argument("--no-leader-elect", action="store_true", help="act without taking the Lease (one replica only)")
    run.add_argument("--lease-namespace", default=None, help="namespace of the leader-election Lease")
    run.add_argument("--lease-name", default="smart-autoscaler", help="name of the leader-election Lease")
    run.add_argument("--simulated-state", metavar="FILE", help="simulated provider: keep its instances in this file")
    run.add_argument("--simulated-launch-delay", default="30s", help="simulated provider: boot time of an instance")
    run.add_argument("--simulated-cloud-init-delay", default="0s",
                     help="simulated provider: how long a new Node keeps the cloud controller's start-up taint "
                          "node.cloudprovider.kubernetes.io/uninitialized (0s: none)")
    run.add_argument("--once", action="store_true", help="run one reconcile loop and exit (for debugging)")
    _doctor_parser(commands)
    return parser


def _doctor_parser(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="read-only: will the daemon work here? Kubernetes access, cloud permissions, discovery, quotas, prices",
        description="Checks the cluster, the cloud account and the configuration without changing anything; "
        "one line per check (✓ ok, ✗ must be fixed, ! warning) with the fix for each ✗. Exit code 0 only "
        "when nothing is ✗.",
    )
    doctor.add_argument("--config", metavar="CONFIG.yaml", help="options (SPEC names), as `run` takes them")
    doctor.add_argument("--provider", default=None, help="aws, gcp, azure, oci or simulated; default: the configuration's cloud")
    doctor.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster config, else ~/.kube/config)")
    doctor.add_argument("--context", help="kubeconfig context")
    doctor.add_argument("--lease-namespace", default=None, help="namespace of the leader-election Lease (as for `run`)")
    doctor.add_argument("--lease-name", default="smart-autoscaler", help="name of the leader-election Lease")
    doctor.add_argument("--no-leader-elect", action="store_true", help="the daemon runs without the Lease")
    doctor.add_argument("--skip-kubernetes", action="store_true", help="check the configuration and the cloud only")
    doctor.add_argument("--skip-cloud", action="store_true", help="check the configuration and Kubernetes only")
    doctor.add_argument("-o", "--output", choices=("table", "json"), default="table")


def _preview(args: argparse.Namespace) -> int:
    # A short batch run that builds many small objects: the cyclic garbage collector would only
    # re-scan them (a quarter of the CPU time for 20,000 pods). Back on when it is done.
    gc.disable()
    try:
        return _run_preview(args)
    finally:
        gc.enable()
        _finished_batch.append(args.command)


# Batch commands that ran to the end in this process (see __main__: their process may skip
# the interpreter's teardown).
_finished_batch: list[str] = []


def batch_finished() -> bool:
    return bool(_finished_batch)


def _run_preview(args: argparse.Namespace) -> int:
    config = load_config_file(args.config) if args.config else Config()
    targets = [parse_target(t) for t in args.target] if args.target else [parse_target(f"{config.cloud}:{config.region}")]
    timings: dict[str, float] = {}
    manifests = load_manifest_files(args.filename, timings, read_only=True, max_pods=args.max_pods)
    if not manifests.pods:
        print(f"error: no pods in {', '.join(args.filename)} (kinds read: Pod, Deployment, StatefulSet, "
              "ReplicaSet, Job, CronJob, RayCluster, RayService, RayJob)", file=sys.stderr)
        for line in manifests.skipped:
            print(f"  skipped {line}", file=sys.stderr)
        return EXIT_USAGE
    result = run_preview(manifests, targets, config, timings, live_prices=args.live_prices)
    started = time.perf_counter()
    if args.output == "json":
        print(json.dumps(result.as_json(), indent=2))
        for problem in result.problems:
            print(f"warning: {problem}", file=sys.stderr)
    else:
        print(format_table(result))
    timings["print"] = time.perf_counter() - started
    if args.timings:
        phases = ", ".join(f"{phase} {timings.get(phase, 0.0) * 1000:.0f} ms" for phase in ("read", "expand", "plan", "print"))
        print(f"timings: {phases}", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from autoscaler.sim.scenario import run_scenario

    _, text = run_scenario(args.scenario)
    print(text)
    return 0


def _run(args: argparse.Namespace) -> int:
    from autoscaler.daemon import DaemonOptions, run_daemon

    config = load_config_file(args.config) if args.config else Config()
    return run_daemon(config, DaemonOptions.from_args(args))


def _doctor(args: argparse.Namespace) -> int:
    from autoscaler.doctor.run import DoctorOptions, run_doctor

    report = run_doctor(DoctorOptions(
        config=args.config, provider=args.provider, kubeconfig=args.kubeconfig, context=args.context,
        lease_namespace=args.lease_namespace, lease_name=args.lease_name, leader_elect=not args.no_leader_elect,
        kubernetes=not args.skip_kubernetes, cloud=not args.skip_cloud,
    ))
    print(report.to_json() if args.output == "json" else report.to_table())
    return report.exit_code()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "preview":
        logging.getLogger().setLevel(logging.WARNING)
    try:
        if args.command == "preview":
            return _preview(args)
        if args.command == "simulate":
            logging.getLogger().setLevel(logging.WARNING)
            return _simulate(args)
        if args.command == "run":
            return _run(args)
        if args.command == "doctor":
            logging.getLogger().setLevel(logging.ERROR)  # the report is the output
            return _doctor(args)
    except _user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - no traceback reaches a user; it is a bug to report
        if os.environ.get("SMART_AUTOSCALER_DEBUG"):
            raise
        print(f"error: internal error ({type(err).__name__}: {err}); this is a bug: please report it with the "
              "input that caused it (SMART_AUTOSCALER_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
