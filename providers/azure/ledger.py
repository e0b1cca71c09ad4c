"""Which machine each launch got, kept on the agent pool itself (no scale-set tags).

A count change for a pool is one batch of launches. Before the change the provider writes
the batch into the pool's tags, in the same PUT that sets the new count: its sequence
number, when it was made, the highest machine number the pool had (the watermark) and the
launches' request ids in order. Azure numbers a scale set's instances in creation order,
and the provider makes one count change at a time per pool, so batch i's machines are the
machines numbered above its watermark and at most the next batch's, the lowest first, in
request order. A new process (after a crash, or a new leader) reads the same tags and
finds the same answer, so a launch retried with its request id gets the machine it got,
and a listed machine carries the request id of the launch that made it.

Each batch is one tag (`sa-launches-<slot>`, value `<seq>:<epoch>:<watermark>:<id>,<id>...`,
ids are 12 hex digits of the request id's SHA-256); the newest LEDGER_SLOTS batches are
kept, enough for every launch that can still be waiting for its node; a batch has at most
MAX_BATCH launches so that its value stays within Azure's 256 characters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from providers.azure.names import TAG_VALUE_MAX, machine_number

LEDGER_PREFIX = "sa-launches-"
LEDGER_SLOTS = 4
ID_DIGITS = 12
MAX_BATCH = 16  # 16 ids x 13 characters + the header stay within 256


def short_id(request_id: str) -> str:
    """12 hex digits naming a request id (any text) in the ledger."""
    return hashlib.sha256(request_id.encode()).hexdigest()[:ID_DIGITS]


@dataclass(frozen=True)
class Batch:
    seq: int
    made_at: int  # epoch seconds of the count change
    watermark: int  # highest machine number before the change; -1: none
    ids: tuple[str, ...]

    def value(self) -> str:
        text = f"{self.seq}:{self.made_at}:{self.watermark}:{','.join(self.ids)}"
        assert len(text) <= TAG_VALUE_MAX, text
        return text

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
        found = [Batch.parse(v) for k, v in (tags or {}).items() if k.startswith(LEDGER_PREFIX)]
        return cls(tuple(sorted((b for b in found if b is not None), key=lambda b: b.seq)))

    def known(self, request_id: str) -> bool:
        wanted = short_id(request_id)
        return any(wanted in batch.ids for batch in self.batches)

    def add(self, request_ids: Iterable[str], watermark: int, now: float) -> "Ledger":
        seq = self.batches[-1].seq + 1 if self.batches else 0
        batch = Batch(seq, int(now), watermark, tuple(short_id(r) for r in request_ids))
        assert len(batch.ids) <= MAX_BATCH
        return Ledger((*self.batches, batch)[-LEDGER_SLOTS:])

    def without_last(self) -> "Ledger":
        return Ledger(self.batches[:-1])

    def tags(self, others: Mapping[str, str]) -> dict[str, str]:
        """`others` (the pool's other tags) with this ledger in place of the old one."""
        tags = {k: v for k, v in others.items() if not k.startswith(LEDGER_PREFIX)}
        for batch in self.batches:
            tags[f"{LEDGER_PREFIX}{batch.seq % LEDGER_SLOTS}"] = batch.value()
        return tags

    def assign(self, machines: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, int]]:
        """machine name -> (short request id, when its count change was made)."""
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
