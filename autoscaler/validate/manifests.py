"""The hooks `autoscaler.manifests` calls for every document and object it reads."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from autoscaler.validate.kinds import skip_reason
from autoscaler.validate.problems import describe
from autoscaler.validate.fastpod import pod_certainly_valid
from autoscaler.validate.workload_counts import pod_count
from autoscaler.validate.yamlbounds import expansion_problem

# The preview refuses more pods than this in all (documented in README; `--max-pods` moves it).
# 100,000 pods of one template take about 1.5 CPU-s and 200 MB (memory grows with the count); the cap keeps a typo in `replicas` from
# taking the machine down.
MAX_PREVIEW_PODS = 100_000

MAX_MANIFEST_CHARS = 64 * 2**20  # per file: a Kubernetes object is at most ~1.5 MB

ObjectError = Callable[[str, str], Exception]  # (field path, message) -> an error naming the object


def read_stdin(name: str, error: Callable[[str, str], Exception]) -> str:
    """Standard input as text, bounded, with a message (not a traceback) for binary data."""
    import sys

    blob = sys.stdin.buffer.read(MAX_MANIFEST_CHARS + 1) if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    if len(blob) > MAX_MANIFEST_CHARS:
        raise error(name, f"larger than {MAX_MANIFEST_CHARS // 2**20} MiB; refused")
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(name, f"cannot read: not UTF-8 text ({err.reason} at byte {err.start})") from None


def check_document(document: Any, *, may_share: bool = True) -> str | None:
    return expansion_problem(document, may_share=may_share)


def check_workload(group: str, kind: str, raw: Mapping[str, Any], error: ObjectError) -> None:
    """Raise `error(...)` naming the fields when a workload of a kind the preview reads is not valid."""
    if (group, kind) == ("", "Pod") and pod_certainly_valid(raw):
        return
    from autoscaler.validate.workloads import workload_problems  # pydantic: only for what is in doubt

    problems = workload_problems(group, kind, raw)
    if len(problems) == 1:
        problem = problems[0]
        raise error(problem.path, str(problem).removeprefix(f"{problem.path}: "))
    if problems:
        raise error("", describe(problems))


class PodBudget:
    """Counts the pods a set of manifests would create, before any of them is expanded."""

    def __init__(self, maximum: int | None = None) -> None:
        self.maximum = MAX_PREVIEW_PODS if maximum is None else maximum
        self.taken = 0

    def take(self, group: str, kind: str, raw: Mapping[str, Any], error: ObjectError) -> None:
        count = pod_count(group, kind, raw)
        if self.taken + count > self.maximum:
            before = f" (after {self.taken:,} from earlier objects)" if self.taken else ""
            raise error("spec", f"would create {count:,} pods{before}, more than the preview's maximum of "
                                f"{self.maximum:,} pods; lower the replicas, or raise the cap with --max-pods")
        self.taken += count


__all__ = ["MAX_PREVIEW_PODS", "PodBudget", "check_document", "check_workload", "skip_reason"]
