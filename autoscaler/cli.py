"""Command line: `smart-autoscaler preview ...` (kubectl habits: -f FILE, -o table|json)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from autoscaler.config import Config, ConfigError, load_config_file
from autoscaler.manifests import ManifestError, load_manifest_files
from autoscaler.preview import TargetError, format_table, parse_target, run_preview

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smart-autoscaler",
        description="Kubernetes node autoscaler: the cheapest node that really fits.",
    )
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
    return parser


def _preview(args: argparse.Namespace) -> int:
    config = load_config_file(args.config) if args.config else Config()
    targets = [parse_target(t) for t in args.target] if args.target else [parse_target(f"{config.cloud}:{config.region}")]
    manifests = load_manifest_files(args.filename)
    if not manifests.pods:
        print(f"error: no pods in {', '.join(args.filename)} (kinds read: Pod, Deployment, StatefulSet, "
              "ReplicaSet, Job, CronJob, RayCluster, RayService, RayJob)", file=sys.stderr)
        return EXIT_USAGE
    result = run_preview(manifests, targets, config)
    if args.output == "json":
        print(json.dumps(result.as_json(), indent=2))
        for problem in result.problems:
            print(f"warning: {problem}", file=sys.stderr)
    else:
        print(format_table(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "preview":
            return _preview(args)
    except (ConfigError, ManifestError, TargetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
