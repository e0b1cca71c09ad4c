#!/usr/bin/env bash
# peer_benchmarks.sh -- re-measure the two peer scheduling benchmarks that the
# smart-autoscaler planner is compared against:
#
#   1. Karpenter  sigs.k8s.io/karpenter v1.14.1
#        pkg/controllers/provisioning/scheduling, build tag test_performance,
#        BenchmarkScheduling1000 / BenchmarkScheduling5000
#        (makeDiversePods(N): 1/5 each generic, zone topology-spread,
#        hostname topology-spread, zone pod-affinity, hostname anti-affinity;
#        fake.InstanceTypes(400) = 400 instance types, 1..400 vCPU;
#        ns/op = one Scheduler.Solve over all N pods).
#   2. Cluster Autoscaler  k8s.io/autoscaler/cluster-autoscaler at git tag
#        cluster-autoscaler-1.36.1 (commit 35e8a280425c76a4040f57ae0fa232a952c02024),
#        package estimator, BenchmarkBinpackingEstimate
#        (50,000 pods of 50m/100B + 1,000 pods of 95m/190B onto 1000m/5000B,
#        100-pod template nodes; expects 2595 nodes; ns/op = one Estimate).
#        Upstream has no fastpath benchmark, so this script adds one file,
#        zz_peer_fastpath_bench_test.go, to the scratch copy:
#        BenchmarkBinpackingEstimatePeerFastpath = the same benchmark with
#        fastpathBinpackingEnabled=true (the --fastpath-binpacking-enabled flag).
#
# NOT run by CI (manual only). Needs: Go >= 1.26.6 (GOTOOLCHAIN=local is fine),
# the Go module proxy (for Karpenter and all dependencies), and for CA either
# git access to github.com/kubernetes/autoscaler or a local clone/mirror given
# as CA_GIT_DIR=/path/to/autoscaler.git. (The CA "cluster-autoscaler-1.x.y" tags
# are not Go-module tags, and a module zip would lack the nested ./apis module
# that go.mod replaces locally, so CA source comes from git, not the proxy.)
#
# Cold cost (measured on a busy 2-core machine, empty module cache): Karpenter
# download+test build ~3 min, CA dependency download ~1 min + test build ~4 min,
# benchmark runs ~7-9 min (Karpenter) + ~1.5 min (CA) => roughly 15-20 min total
# (~7 min when the Go build cache is warm). Timings are noisy on a shared box.
# All work happens in ${TMPDIR:-/tmp}/peers; nothing in this repository is touched.
#
# Usage: benchmarks/peer_benchmarks.sh [karpenter|ca|all]   (default: all)
# Env:   BENCH_COUNT (default 3)  K_BENCHTIME (default 3x)  CA_BENCHTIME (default 3x)

set -euo pipefail

KARPENTER_MODULE=sigs.k8s.io/karpenter
KARPENTER_VERSION=v1.14.1          # v1.14.3 / v1.15.0 need go >= 1.26.9/1.26.10
CA_TAG=cluster-autoscaler-1.36.1
CA_COMMIT=35e8a280425c76a4040f57ae0fa232a952c02024
CA_REPO_URL=${CA_REPO_URL:-https://github.com/kubernetes/autoscaler.git}

WHAT=${1:-all}
COUNT=${BENCH_COUNT:-3}
K_BENCHTIME=${K_BENCHTIME:-3x}
CA_BENCHTIME=${CA_BENCHTIME:-3x}
SCRATCH="${TMPDIR:-/tmp}/peers"
mkdir -p "$SCRATCH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# bench_package MODULE_DIR PACKAGE TEST_BINARY PATTERN BENCHTIME OUT TITLE [go test build flags...]
# Build PACKAGE's test binary, run the benchmarks matching PATTERN in the package's directory
# (where its test data are), keep the output in OUT and print it as seconds per op.
bench_package() {
    local module=$1 package=$2 binary=$3 pattern=$4 benchtime=$5 out=$6 title=$7
    shift 7
    (cd "$module" && time nice -n 10 go test -c "$@" -o "$binary" "./$package/")
    log "running $pattern benchtime=$benchtime count=$COUNT"
    (cd "$module/$package" &&
        nice -n 10 "$binary" -test.run '^$' -test.bench "$pattern" \
            -test.benchtime="$benchtime" -test.count="$COUNT" -test.benchmem) |
        tee "$out"
    echo "== $title"
    summarize "$out"
}

# Print each "Benchmark... N <ns> ns/op" line as seconds per op, then min/median.
summarize() {
    awk '
    / ns\/op/ {
        name = $1; sub(/-[0-9]+$/, "", name)
        for (i = 2; i <= NF; i++) if ($(i+1) == "ns/op") ns = $i
        printf "%-45s %10.4f s/op  (%s ns/op)\n", name, ns / 1e9, ns
        n[name]++; v[name, n[name]] = ns / 1e9
    }
    END {
        for (k in n) {
            m = n[k]
            for (i = 1; i <= m; i++) a[i] = v[k, i]
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
                if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
            printf "SUMMARY %-37s runs=%d min=%.4f s median=%.4f s\n", k, m, a[1], med
        }
    }' "$1"
}

run_karpenter() {
    local src="$SCRATCH/karpenter-$KARPENTER_VERSION" dir
    if [ ! -d "$src" ]; then
        dir=$(go mod download -json "$KARPENTER_MODULE@$KARPENTER_VERSION" |
              sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        [ -n "$dir" ] || { log "go mod download $KARPENTER_MODULE@$KARPENTER_VERSION failed"; exit 1; }
        cp -r "$dir" "$src"
        chmod -R u+w "$src"
    fi
    log "building Karpenter $KARPENTER_VERSION scheduling benchmark (tag test_performance)"
    bench_package "$src" pkg/controllers/provisioning/scheduling "$SCRATCH/karpenter-sched.test" \
        '^BenchmarkScheduling(1000|5000)$' "$K_BENCHTIME" "$SCRATCH/karpenter-bench.txt" \
        "Karpenter $KARPENTER_VERSION (400 fake instance types), seconds per Solve:" -tags test_performance
}

fetch_ca() {
    local src="$SCRATCH/ca-$CA_TAG"
    [ -d "$src/cluster-autoscaler" ] && return 0
    mkdir -p "$src"
    if [ -n "${CA_GIT_DIR:-}" ]; then
        log "CA source from $CA_GIT_DIR"
        git --git-dir="$CA_GIT_DIR" archive "$CA_COMMIT" cluster-autoscaler | tar -x -C "$src"
    else
        log "CA source: git clone $CA_REPO_URL $CA_TAG"
        git clone --quiet --depth 1 --branch "$CA_TAG" "$CA_REPO_URL" "$src/git"
        [ "$(git -C "$src/git" rev-parse HEAD)" = "$CA_COMMIT" ] ||
            { log "tag $CA_TAG is not commit $CA_COMMIT"; exit 1; }
        mv "$src/git/cluster-autoscaler" "$src/cluster-autoscaler"
        rm -rf "$src/git"
    fi
    chmod -R u+w "$src"
}

write_ca_fastpath_bench() {
    cat > "$1/zz_peer_fastpath_bench_test.go" <<'EOF'
// Added by smart-autoscaler's benchmarks/peer_benchmarks.sh -- NOT part of upstream.
// Identical to upstream BenchmarkBinpackingEstimate except that the last
// NewBinpackingNodeEstimator argument (fastpathBinpackingEnabled, the
// --fastpath-binpacking-enabled flag) is true. Upstream has no fastpath benchmark.

package estimator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"k8s.io/autoscaler/cluster-autoscaler/simulator/clustersnapshot/testsnapshot"
	"k8s.io/autoscaler/cluster-autoscaler/simulator/framework"
	. "k8s.io/autoscaler/cluster-autoscaler/utils/test"
)

func BenchmarkBinpackingEstimatePeerFastpath(b *testing.B) {
	millicores := int64(1000)
	memory := int64(5000)
	podsPerNode := int64(100)
	maxNodes := 3000
	expectNodeCount := 2595
	expectPodCount := 51000
	podsEquivalenceGroup := []PodEquivalenceGroup{
		makePodEquivalenceGroup(
			BuildTestPod("estimatee", 50, 100, WithNamespace("universe"),
				WithLabels(map[string]string{"app": "estimatee"})),
			50000,
		),
		makePodEquivalenceGroup(
			BuildTestPod("estimatee", 95, 190, WithNamespace("universe"),
				WithLabels(map[string]string{"app": "estimatee"})),
			1000,
		),
	}

	nodes := 0
	for i := 0; i < b.N; i++ {
		clusterSnapshot := testsnapshot.NewTestSnapshotOrDie(b)
		err := clusterSnapshot.AddNodeInfo(framework.NewTestNodeInfo(makeNode(100, 100, 10, "oldnode", "zone-jupiter")))
		assert.NoError(b, err)

		limiter := NewThresholdBasedEstimationLimiter([]Threshold{NewStaticThreshold(maxNodes, time.Duration(0))})
		processor := NewDecreasingPodOrderer()
		estimator := NewBinpackingNodeEstimator(clusterSnapshot, limiter, processor, nil /* EstimationContext */, nil /* EstimationAnalyserFunc */, true)
		node := makeNode(millicores, memory, podsPerNode, "template", "zone-mars")
		nodeInfo := framework.NewTestNodeInfo(node)

		estimatedNodes, estimatedPods := estimator.Estimate(podsEquivalenceGroup, nodeInfo, nil)
		assert.Equal(b, expectNodeCount, estimatedNodes)
		assert.Equal(b, expectPodCount, len(estimatedPods))
		nodes = estimatedNodes
	}
	b.ReportMetric(float64(nodes), "nodes")
}
EOF
}

run_ca() {
    fetch_ca
    local mod="$SCRATCH/ca-$CA_TAG/cluster-autoscaler"
    write_ca_fastpath_bench "$mod/estimator"
    log "building CA $CA_TAG estimator benchmark (default + PeerFastpath)"
    bench_package "$mod" estimator "$SCRATCH/ca-estimator.test" \
        '^BenchmarkBinpackingEstimate(PeerFastpath)?$' "$CA_BENCHTIME" "$SCRATCH/ca-bench.txt" \
        "Cluster Autoscaler $CA_TAG (51,000 pods -> 2595 nodes), seconds per Estimate:"
}

go version
case "$WHAT" in
    karpenter) run_karpenter ;;
    ca)        run_ca ;;
    all)       run_karpenter; run_ca ;;
    *) echo "usage: $0 [karpenter|ca|all]" >&2; exit 2 ;;
esac
