"""``python -m tests.controlplane build|up``.

build   build the binaries (control plane, then metrics-server) into the cache (no-op when
        present); print the control plane's bin dir last
up      start the control plane (--metrics-server: with metrics-server), print the
        kubeconfig path, wait for Ctrl-C
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .cluster import BinariesUnavailable, ControlPlane, ControlPlaneError, ensure_binaries
from .metrics_server import MetricsServer, ensure_metrics_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.controlplane", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the binaries (cached outside the repository)")
    up = sub.add_parser("up", help="start the control plane until Ctrl-C")
    up.add_argument("--workdir", type=Path, help="directory for pki, data, kubeconfigs, logs (default: a temp dir)")
    up.add_argument("--keep", action="store_true", help="keep the directory after stopping")
    up.add_argument("--metrics-server", action="store_true", help="also run metrics-server (kubectl top works)")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            bin_dir = ensure_binaries()
            try:
                print(f"metrics-server: {ensure_metrics_server()}", file=sys.stderr)
            except BinariesUnavailable as err:  # the metrics e2e tests skip, the rest run
                print(f"warning: metrics-server unavailable, its e2e tests will be skipped: {err}", file=sys.stderr)
            print(bin_dir)
            return 0
        cp = ControlPlane(workdir=args.workdir, keep=args.keep or args.workdir is not None)
        cp.start()
        if args.metrics_server:
            try:
                MetricsServer(cp).start()
            except BaseException:
                cp.stop()
                raise
    except (BinariesUnavailable, ControlPlaneError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    stop = threading.Event()
    # Handle both: SIGINT is ignored by default when started with `&` from a script.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"control plane up in {cp.startup_seconds:.1f}s at {cp.server}", file=sys.stderr)
    print("  ready after: " + ", ".join(f"{k} {v}s" for k, v in cp.timings.items()), file=sys.stderr)
    print(f"logs: {cp.workdir}/logs", file=sys.stderr)
    print(f"  export KUBECONFIG={cp.kubeconfig}", file=sys.stderr)
    print("Ctrl-C to stop", file=sys.stderr)
    print(cp.kubeconfig, flush=True)
    try:
        while not stop.wait(1.0):
            dead = [c.name for c in cp.components if c.proc and c.proc.poll() is not None]
            if dead:
                print(f"error: {', '.join(dead)} exited\n{cp.log_tail()}", file=sys.stderr)
                return 1
    finally:
        print("stopping", file=sys.stderr)
        cp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
