#!/usr/bin/env bash
# Test set-up that pip cannot do: promtool (Debian's `prometheus` package) for the metrics and
# alert-rule checks, the container image (buildah, mmdebstrap), and the real Kubernetes control
# plane built from Go modules (both cached outside the repository; reused when present). Each
# step says what it did or why it did not.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: promtool (prometheus) for the metrics and alert-rule checks; buildah and
# mmdebstrap to build the container image from Debian's archive (no registry).
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} (Debian packages)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "setup: ${missing[*]} could not be installed; the checks that need them will be skipped"
  else
    echo "setup: ${missing[*]} not found and apt-get not usable here; the checks that need them will be skipped"
  fi
fi

# The container image (tests/image.py; cached by source hash outside the repository), built in
# the background while the control plane builds and the fast tier runs (the end-to-end tests
# that run it wait for it): ~10 min cold under load, ~5 min when only the source changed.
if [ "$(id -u)" = 0 ] && command -v buildah >/dev/null 2>&1 && command -v mmdebstrap >/dev/null 2>&1; then
  python3 -m tests.image start || echo "setup: the image could not be started; its tests will be skipped"
else
  echo "setup: the image is not built here (needs root, buildah and mmdebstrap); its tests will be skipped"
fi

if command -v go >/dev/null 2>&1 || [ -n "${SMART_AUTOSCALER_CP_BIN:-}" ]; then
  python3 -m tests.controlplane build
else
  echo "setup: no Go toolchain; the end-to-end tier will be skipped (it needs the control plane built from Go modules)"
fi

