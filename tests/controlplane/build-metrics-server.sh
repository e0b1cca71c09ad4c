#!/usr/bin/env bash
# Build metrics-server (sigs.k8s.io/metrics-server, pinned in ./metrics-server/go.mod)
# for the e2e tier's metrics tests, into the control plane's cache, beside the
# control-plane sets and under a key of its own:
#
#   ${SMART_AUTOSCALER_CP_CACHE:-$HOME/.cache/smart-autoscaler/controlplane}/metrics-server-<key>/bin/metrics-server
#
# <key> is a hash of metrics-server/go.{mod,sum}, this script and the machine arch
# (build.sh's key does not change when this module moves). Nothing is built when
# the binary is present. The last line printed is the bin dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${SMART_AUTOSCALER_CP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smart-autoscaler/controlplane}"

key="$(
    {
        uname -m
        cat "$here/metrics-server/go.mod" "$here/metrics-server/go.sum" "$here/build-metrics-server.sh"
    } | sha256sum | cut -c1-16
)"
dir="$cache_root/metrics-server-$key"
bin="$dir/bin"

if [[ -x "$bin/metrics-server" ]]; then
    echo "$bin"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "build-metrics-server.sh: the Go toolchain ('go', >= 1.26.4) is not on PATH and" \
         "$bin does not hold metrics-server; install Go or point SMART_AUTOSCALER_CP_CACHE" \
         "at a cache that has it (see tests/controlplane/README.md)" >&2
    exit 127
fi

export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [[ -x "$bin/metrics-server" ]]; then
    echo "$bin"
    exit 0
fi

tmp="$(mktemp -d "$dir/bin.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
jobs="${SMART_AUTOSCALER_CP_BUILD_JOBS:-2}"
version="$(cd "$here/metrics-server" && go list -m -f '{{.Version}}' sigs.k8s.io/metrics-server)"
echo "build-metrics-server.sh: building metrics-server $version into $bin (-p $jobs)" >&2
(
    cd "$here/metrics-server"
    go build -p "$jobs" -trimpath \
        -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$version" \
        -o "$tmp/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server
)
go version > "$dir/BUILD-INFO"
mkdir -p "$bin"
mv -f "$tmp/metrics-server" "$bin/metrics-server"
echo "build-metrics-server.sh: built in $(( $(date +%s) - start ))s, $(du -sh "$bin" | cut -f1)" >&2
echo "$bin"
