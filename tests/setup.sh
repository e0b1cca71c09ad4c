#!/usr/bin/env bash
# Test set-up that pip cannot do: promtool (Debian's `prometheus` package) for the metrics and
# alert-rule checks, and the real Kubernetes control plane built from Go modules (cached
# outside the repository; reused when present). Each step says what it did or why it did not.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing promtool (Debian package prometheus)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
      || echo "setup: promtool could not be installed; its checks will be skipped"
  else
    echo "setup: promtool not found and apt-get not usable here; its checks will be skipped"
  fi
fi

if command -v go >/dev/null 2>&1 || [ -n "${SMART_AUTOSCALER_CP_BIN:-}" ]; then
  python3 -m tests.controlplane build
else
  echo "setup: no Go toolchain; the end-to-end tier will be skipped (it needs the control plane built from Go modules)"
fi
