"""The simulator's clock and Keepa time.

Keepa times are "Keepa minutes": whole minutes since 2011-01-01 00:00 UTC (docs/keepa.md §3.1).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

KEEPA_EPOCH_MINUTE = 21_564_000  # 2011-01-01T00:00Z in minutes since the Unix epoch


def keepa_minute(unix_ms: int) -> int:
    return unix_ms // 60_000 - KEEPA_EPOCH_MINUTE


def unix_ms(minute: int) -> int:
    return (minute + KEEPA_EPOCH_MINUTE) * 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> int:
    """Return the Unix milliseconds of an ISO 8601 instant (naive means UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class SimClock:
    """Wall time plus an offset moved by /_sim/advance, or an instant pinned by /_sim/clock."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self.frozen_ms: int | None = None

    def now_ms(self) -> int:
        if self.frozen_ms is not None:
            return self.frozen_ms
        return int(time.time() * 1000) + self.offset_ms

    def advance(self, minutes: float) -> None:
        delta = int(minutes * 60_000)
        if self.frozen_ms is not None:
            self.frozen_ms += delta
        else:
            self.offset_ms += delta

    def freeze(self, ms: int | None) -> None:
        self.frozen_ms = ms
        self.offset_ms = 0

    @property
    def frozen(self) -> bool:
        return self.frozen_ms is not None
