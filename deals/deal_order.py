"""Which field Keepa's /deal pages are ordered by, learnt from the pages themselves.

Keepa documents sortType 1 as "deal age, newest first"; whether that follows creationDate or
lastUpdate has never been observed (docs/keepa.md §4.5). The sweep keys its watermark on the
field the pages are found to follow, and re-checks it on every page it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise

from deals.models import SyncRun
from keepa_client.models import Deal as KeepaDeal

# Incremental reading keys on one of these fields of the deal object, whichever the pages
# are ordered by (docs/keepa.md §4.5).
ORDER_FIELDS = {
    SyncRun.DealOrder.LAST_UPDATE: "last_update",
    SyncRun.DealOrder.CREATION: "creation_date",
}
# Pages a run reads when the list follows neither field (page 0 plus a rolling pass).
UNORDERED_PAGES_PER_RUN = 3


class OrderCheck:
    """Which field the pages read so far are ordered by, newest first (ties allowed)."""

    def __init__(self) -> None:
        self.ordered = dict.fromkeys(ORDER_FIELDS, True)
        self.oldest: dict[str, datetime | None] = dict.fromkeys(ORDER_FIELDS)
        self.compared = 0  # pairs of stamps checked: no evidence without any
        self.last_page: int | None = None

    def observe(self, page: int, deals: Iterable[KeepaDeal]) -> None:
        deals = list(deals)
        if self.last_page is not None and page <= self.last_page:
            self.oldest = dict.fromkeys(ORDER_FIELDS)  # a new pass from an earlier page
        self.last_page = page
        for order, attr in ORDER_FIELDS.items():
            stamps = [getattr(d, attr) for d in deals if getattr(d, attr) is not None]
            previous = self.oldest[order]
            if previous is not None:
                stamps = [previous, *stamps]
            if len(stamps) < 2:
                self.oldest[order] = stamps[0] if stamps else previous
                continue
            self.compared += 1
            if any(a < b for a, b in pairwise(stamps)):
                self.ordered[order] = False
            self.oldest[order] = min(stamps)

    def verdict(self, prior: str) -> str:
        """The order the pages follow: the prior finding while it holds, else the field that
        is ordered (creationDate, as documented, when both are), else unordered."""
        if not self.compared:
            return prior
        if prior in ORDER_FIELDS and self.ordered[prior]:
            return prior
        held = [order for order in (SyncRun.DealOrder.CREATION, SyncRun.DealOrder.LAST_UPDATE)]
        held = [order for order in held if self.ordered[order]]
        return held[0] if held else SyncRun.DealOrder.UNORDERED
