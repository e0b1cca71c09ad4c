#!/usr/bin/env bash
# Build the loopback control plane used by the e2e tier: kube-apiserver,
# kube-scheduler, kube-controller-manager and etcd (from ./go.mod) and kwok
# (from ./kwok/go.mod), from their Go modules, into a cache outside the repo:
#
#   ${SMART_AUTOSCALER_CP_CACHE:-$HOME/.cache/smart-autoscaler/controlplane}/<key>/bin/
#
# <key> is a hash of the pinned module files, this script and the machine arch,
# so bumping a version builds a new set beside the old one. When all binaries
# are already present nothing is built. The last line printed is the bin dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${SMART_AUTOSCALER_CP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smart-autoscaler/controlplane}"
binaries=(etcd kube-apiserver kube-scheduler kube-controller-manager kwok)

# The key needs no Go toolchain, so cached binaries are found without one.
key="$(
    {
        uname -m
        cat "$here/go.mod" "$here/go.sum" "$here/cmd/etcd/main.go" \
            "$here/kwok/go.mod" "$here/kwok/go.sum" "$here/build.sh"
    } | sha256sum | cut -c1-16
)"
bin="$cache_root/$key/bin"

have_all() {
    local b
    for b in "${binaries[@]}"; do
        [[ -x "$bin/$b" ]] || return 1
    done
}

if have_all; then
    echo "$bin"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: the Go toolchain ('go', >= 1.26) is not on PATH and $bin" \
         "does not hold ${binaries[*]}; install Go or point SMART_AUTOSCALER_CP_CACHE" \
         "at a cache that has them (see tests/controlplane/README.md)" >&2
    exit 127
fi

export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

mkdir -p "$cache_root/$key"
# One build at a time per key (two pytest sessions may start together).
exec 9>"$cache_root/$key/.lock"
flock 9
if have_all; then
    echo "$bin"
    exit 0
fi

tmp="$(mktemp -d "$cache_root/$key/bin.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s)
jobs="${SMART_AUTOSCALER_CP_BUILD_JOBS:-2}"

k8s_version="$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

echo "build.sh: building Kubernetes $k8s_version control plane + etcd into $bin (-p $jobs)" >&2
(
    cd "$here"
    go build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver \
        k8s.io/kubernetes/cmd/kube-scheduler \
        k8s.io/kubernetes/cmd/kube-controller-manager \
        ./cmd/etcd
)
echo "build.sh: building kwok" >&2
(
    cd "$here/kwok"
    go build -p "$jobs" -trimpath -ldflags "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok
)

go version > "$tmp/BUILD-INFO"
mkdir -p "$bin"
mv -f "$tmp/BUILD-INFO" "$cache_root/$key/BUILD-INFO"
for b in "${binaries[@]}"; do
    mv -f "$tmp/$b" "$bin/$b"
done
echo "build.sh: built in $(( $(date +%s) - start ))s, $(du -sh "$bin" | cut -f1) total" >&2
echo "$bin"
