"""Token buckets as Keepa keeps them (docs/keepa.md §2)."""

from __future__ import annotations

MINUTE_MS = 60_000


class Bucket:
    """``refill_rate`` tokens at every whole minute of the simulator clock, capped at an hour's
    worth (unused tokens expire after an hour). A call runs while the balance is positive and
    may drive it negative."""

    def __init__(self, refill_rate: int, now_ms: int, *, lapsed: bool = False) -> None:
        self.refill_rate = refill_rate
        self.tokens = self.capacity
        self.minute = now_ms // MINUTE_MS
        self.lapsed = lapsed

    @property
    def capacity(self) -> int:
        return 60 * self.refill_rate

    def refill(self, now_ms: int) -> None:
        minute = now_ms // MINUTE_MS
        if minute > self.minute and self.tokens < self.capacity:
            self.tokens = min(
                self.capacity, self.tokens + (minute - self.minute) * self.refill_rate
            )
        self.minute = minute  # also when the clock was set back: count ticks from here

    @staticmethod
    def refill_in(now_ms: int) -> int:
        return MINUTE_MS - now_ms % MINUTE_MS
