"""Keys for the content of decoded manifest values (dicts, lists, strings, numbers, booleans,
None, as JSON and YAML give them), so that equal pods read from a file are checked and parsed
once: a `kubectl get pods -o yaml` dump holds each ReplicaSet's spec once per pod.

marshal's bytes determine the value they load back, types included (1, 1.0 and True differ), so
equal keys mean equal content; equal content may still give different keys (key order, shared
objects), which only costs a second check. Values marshal cannot write (a YAML timestamp),
nesting deeper than it goes and values bigger than MAX_KEY_BYTES have no key."""

from __future__ import annotations

import marshal
from typing import Any

MAX_KEY_BYTES = 16_384


def content_key(value: Any) -> bytes | None:
    try:
        key = marshal.dumps(value)
    except ValueError:
        return None
    return key if len(key) <= MAX_KEY_BYTES else None


class EqualValues:
    """Whether looking for equal values still pays. A key costs about a microsecond per hundred
    bytes, and a file of 20,000 different pods would pay it for nothing: after `trial` lookups
    that found fewer than `min_share` of them equal to an earlier value, no key is made for the
    next `rest` values; then a new trial starts (what a process reads changes over its life)."""

    def __init__(self, trial: int = 1024, min_share: float = 0.05, rest: int = 16_384) -> None:
        self.trial = trial
        self.min_share = min_share
        self.rest = rest
        self.looked = self.found = self.skipped = 0
        self.active = True

    def looking(self) -> bool:
        """Whether to make a key for the next value; counts the values it is not made for."""
        if self.active:
            return True
        self.skipped += 1
        if self.skipped >= self.rest:
            self.active, self.looked, self.found, self.skipped = True, 0, 0, 0
        return False

    def record(self, found: bool) -> None:
        """One lookup made with a key, and whether it found an equal value."""
        self.looked += 1
        self.found += found
        if self.looked == self.trial and self.found < self.trial * self.min_share:
            self.active = False
