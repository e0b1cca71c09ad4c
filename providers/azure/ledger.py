"""Which machine each launch got, kept on the agent pool itself (no scale-set tags).

A count change for a pool is one batch of launches. The provider writes the batch into the
pool's tags in the same PUT that sets the new count: its sequence number, when it was made,
the highest machine number the pool had (the watermark) and the launches' request ids in
order. Azure numbers a scale set's instances in creation order, and the provider makes one
count change at a time per pool, so batch i's machines are those numbered above its
watermark and at most the next batch's, the lowest first, in request order. A new process
(after a crash, or a new leader) reads the same tags and finds the same answer, so a launch
retried with its request id gets the machine it got, and a listed machine carries the
request id of the launch that made it. (The order-based answer holds until a machine of the
batch is deleted; the process that made the batch remembers the exact answer.)

A batch is one or more tags `sa-launches-<slot>-<part>`, each value
`<seq>:<epoch>:<watermark>:<id>,<id>,...` within Azure's 256 characters; request ids are
kept as they are (the loop's are 32 hex digits), or as 12 hex digits of their SHA-256 when
longer than 40 characters or holding `:` or `,`. The newest LEDGER_SLOTS batches are kept,
enough for every launch that can still be waiting for its node.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from providers.azure.names import TAG_VALUE_MAX, machine_number

LEDGER_PREFIX = "sa-launches-"
LEDGER_SLOTS = 4
MAX_BATCH = 16
_PLAIN = re.compile(r"^[^:,]{1,40}$")


def stored_id(request_id: str) -> str:
    """The request id as the ledger keeps it."""
    return request_id if _PLAIN.match(request_id) else hashlib.sha256(request_id.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Batch:
    seq: int
    made_at: int  # epoch seconds of the count change
    watermark: int  # highest machine number before the change; -1: none
    ids: tuple[str, ...]

    def values(self) -> list[str]:
        header = f"{self.seq}:{self.made_at}:{self.watermark}:"
        parts: list[list[str]] = [[]]
        for request in self.ids:
            if parts[-1] and len(header) + len(",".join([*parts[-1], request])) > TAG_VALUE_MAX:
                parts.append([])
            parts[-1].append(request)
        return [header + ",".join(part) for part in parts]

    @classmethod
    def parse(cls, value: str) -> "Batch | None":
        parts = str(value).split(":")
        if len(parts) != 4:
            return None
        try:
            seq, made_at, watermark = int(parts[0]), int(parts[1]), int(parts[2])
        except ValueError:
            return None
        return cls(seq, made_at, watermark, tuple(i for i in parts[3].split(",") if i))


@dataclass(frozen=True)
class Ledger:
    batches: tuple[Batch, ...] = ()  # oldest first

    @classmethod
    def of(cls, tags: Mapping[str, str] | None) -> "Ledger":
        found: dict[int, list[tuple[int, Batch]]] = {}
        for key, value in (tags or {}).items():
            if not key.startswith(LEDGER_PREFIX):
                continue
            part = key.rsplit("-", 1)[-1]
            batch = Batch.parse(value)
            if batch is not None and part.isdigit():
                found.setdefault(batch.seq, []).append((int(part), batch))
        batches = []
        for seq in sorted(found):
            pieces = [b for _, b in sorted(found[seq], key=lambda p: p[0])]
            ids = tuple(i for piece in pieces for i in piece.ids)
            batches.append(Batch(seq, pieces[0].made_at, pieces[0].watermark, ids))
        return cls(tuple(batches))

    def known(self, request_id: str) -> bool:
        wanted = stored_id(request_id)
        return any(wanted in batch.ids for batch in self.batches)

    def add(self, request_ids: Iterable[str], watermark: int, now: float) -> "Ledger":
        seq = self.batches[-1].seq + 1 if self.batches else 0
        batch = Batch(seq, int(now), watermark, tuple(stored_id(r) for r in request_ids))
        assert len(batch.ids) <= MAX_BATCH
        return Ledger((*self.batches, batch)[-LEDGER_SLOTS:])

    def without_last(self) -> "Ledger":
        return Ledger(self.batches[:-1])

    def tags(self, others: Mapping[str, str]) -> dict[str, str]:
        """`others` (the pool's other tags) with this ledger in place of the old one."""
        tags = {k: v for k, v in others.items() if not k.startswith(LEDGER_PREFIX)}
        for batch in self.batches:
            for part, value in enumerate(batch.values()):
                tags[f"{LEDGER_PREFIX}{batch.seq % LEDGER_SLOTS}-{part}"] = value
        return tags

    def assign(self, machines: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, int]]:
        """machine name -> (request id as stored, when its count change was made)."""
        numbered = sorted((machine_number(m), str(m.get("name", ""))) for m in machines)
        found: dict[str, tuple[str, int]] = {}
        for index, batch in enumerate(self.batches):
            ceiling = self.batches[index + 1].watermark if index + 1 < len(self.batches) else None
            mine = [name for number, name in numbered if number > batch.watermark and (ceiling is None or number <= ceiling)]
            for name, request in zip(mine, batch.ids):
                found[name] = (request, batch.made_at)
        return found

    def watermark_of(self, machines: Iterable[Mapping[str, Any]]) -> int:
        """The highest machine number of the pool now, never below an earlier batch's."""
        numbers = [machine_number(m) for m in machines]
        floor = max((b.watermark for b in self.batches), default=-1)
        return max([floor, *numbers])
