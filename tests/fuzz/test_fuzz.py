"""Fuzz tier: inputs generated from the validation schemas and mutated (wrong types, huge
numbers, non-finite floats, unicode, deep nesting, missing keys) go through the product's
entry points. Every one is accepted or rejected with a message naming a field; none ends in a
traceback. CI runs a bounded, derandomized number of examples (about 20 s on 2 cores);
`python3 benchmarks/fuzz_inputs.py` runs many more and prints the counts."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import run_target

EXAMPLES = {"manifests": 250, "configuration": 300, "scenario": 120, "kubeconfig": 120, "api-objects": 200}


@pytest.mark.parametrize("target", list(EXAMPLES))
def test_no_input_ends_in_a_traceback_and_every_rejection_names_a_field(target):
    counts = run_target(target, EXAMPLES[target])
    assert counts.tracebacks == [], counts.tracebacks[0]
    assert counts.unnamed == [], counts.unnamed[:3]
    assert counts.examples == EXAMPLES[target]
    assert counts.rejected > 0
    if target in ("manifests", "scenario", "kubeconfig", "api-objects"):
        assert counts.accepted > 0  # the generator also makes valid documents, which go all the way through
