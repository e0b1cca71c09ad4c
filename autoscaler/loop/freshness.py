"""Whether the loop may act on what its caches say (issue 19: room is what will really come).

While the API server cannot be reached, the caches hold the cluster as it was: pods shown
pending may have been placed since, nodes shown NotReady may be fine. Acting on that view
launches nodes nobody needs and removes nodes pods wait for, so the loop holds every decision
until the API answers again. Then it waits a little longer -- `settle` seconds, a few loops --
for node conditions to be fresh: the node lifecycle controller and the cloud controller
manager catch up on nodes (Ready, start-up and unreachable taints) only after they reconnect
too, and a plan made in between counts the wrong room.
"""

from __future__ import annotations

from dataclasses import dataclass

SETTLE_LOOPS = 3
MIN_SETTLE = 5.0  # seconds


@dataclass
class Freshness:
    settle: float
    outage_since: float | None = None
    recovered_at: float | None = None

    @classmethod
    def for_loop_period(cls, loop_period: float) -> Freshness:
        return cls(max(MIN_SETTLE, SETTLE_LOOPS * loop_period))

    def observe(self, api_error: str, now: float) -> None:
        if api_error:
            if self.outage_since is None:
                self.outage_since = now
            self.recovered_at = None
        elif self.outage_since is not None:
            self.outage_since, self.recovered_at = None, now

    @property
    def stale(self) -> bool:
        """The API server does not answer: the caches may be out of date."""
        return self.outage_since is not None

    def hold(self, now: float) -> str:
        """Why the loop must not launch or remove nodes now, or ''."""
        if self.outage_since is not None:
            return f"the Kubernetes API has not answered for {now - self.outage_since:g}s"
        if self.recovered_at is not None:
            if now - self.recovered_at < self.settle:
                return (
                    f"the Kubernetes API answers again since {now - self.recovered_at:g}s; waiting "
                    f"{self.settle:g}s for node conditions to be fresh"
                )
            self.recovered_at = None
        return ""
