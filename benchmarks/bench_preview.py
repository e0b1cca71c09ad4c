"""The whole `preview` process, start to printed JSON, on big manifest files.

Run: python benchmarks/bench_preview.py [--repeat N]
Targets on a 2-core machine (issue "faster than every peer, cold"): 20,000 distinct Pods <= 2 s;
two Deployments of 51,000 replicas in all (50,000 of 50m/100 B, 1,000 of 95m/190 B, the Cluster
Autoscaler's estimate workload) <= 0.5 s; Karpenter's 5,000 diverse pods <= 0.6 s. Each case is
written as JSON (a v1 List) and as YAML; `--timings` phases are printed too. The first run of a
case compiles the catalog to disk (pricing/compiled.py); the best of the runs is reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduling_workloads import diverse_pods  # noqa: E402

MANAGED = {"smart-autoscaler.io/managed": "true"}


def distinct_pods(count: int) -> list[dict]:
    pods = []
    for index in range(count):
        cpu = 50 + index % 1900 if index % 10 < 7 else 2000 + (index * 13) % 30000
        memory = 64 + (index * 7919) % 4000 if index % 10 < 7 else 8 * 1024 + (index * 104729) % 100000
        pods.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p-{index}", "namespace": "bench", "labels": dict(MANAGED)},
            "spec": {"containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"}}}]},
        })
    return pods


def deployments() -> list[dict]:
    def deployment(name: str, replicas: int, cpu: str, memory: str) -> dict:
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name, **MANAGED}},
                    "spec": {"containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
                },
            },
        }

    return [deployment("small", 50_000, "50m", "100"), deployment("large", 1_000, "95m", "190")]


def _run(path: Path, repeat: int) -> tuple[float, float, str]:
    """(best wall seconds, CPU seconds of that run, its --timings line)."""
    best, best_cpu, phases = float("inf"), 0.0, ""
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "autoscaler", "preview", "-f", str(path), "-o", "json", "--timings"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if elapsed < best:
            best = elapsed
            best_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            phases = next((line for line in done.stderr.splitlines() if line.startswith("timings:")), "")
    return best, best_cpu, phases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    diverse = diverse_pods(5_000)
    for pod in diverse:
        pod["metadata"]["labels"].update(MANAGED)
    cases = [
        ("20,000 distinct Pods", distinct_pods(20_000), 2.0),
        ("two Deployments, 51,000 replicas", deployments(), 0.5),
        ("Karpenter 5,000 diverse pods", diverse, 0.6),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, objects, target in cases:
            for kind in ("json", "yaml"):
                path = Path(tmp) / f"case.{kind}"
                if kind == "json":
                    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
                else:
                    path.write_text(yaml.dump_all(objects, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
                best, cpu, phases = _run(path, args.repeat)
                verdict = f"wall {'ok' if best <= target else 'SLOW'}, cpu {'ok' if cpu <= target else 'SLOW'}"
                print(f"preview {name:<34} {kind:<4} best {best:.2f} s (cpu {cpu:.2f} s) target<={target} s {verdict}   {phases}")


if __name__ == "__main__":
    main()
