"""A product as /deal shows it: the deal arrays computed at the product's last update.

A view is immutable once built, so a cached /deal result keeps showing what Keepa showed when
the query ran even after the product moves on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from keepa_simulator.series import (
    DAY,
    DEAL_LENGTH,
    DEAL_WINDOWS,
    averages,
    delta_percent,
    extremes,
    step_of,
)

if TYPE_CHECKING:
    from keepa_simulator.product import Product


class DealView:
    __slots__ = (
        "_flags",
        "_json",
        "_per_type",
        "adult",
        "asin",
        "back_in_stock",
        "categories",
        "creation_date",
        "current",
        "current_since",
        "delta_last",
        "has_reviews",
        "hists",
        "image",
        "last_update",
        "previous",
        "root",
        "sales_rank_drops",
        "title",
        "title_lower",
        "warehouse_comment",
        "warehouse_condition",
    )

    def __init__(self, product: Product) -> None:
        p = product
        end = p.last_update
        self.asin = p.asin
        self.title = p.title
        self.title_lower = p.title.lower()
        self.image = [ord(ch) for ch in p.image]
        self.root = p.root
        self.categories = p.categories
        self.adult = p.adult
        self.has_reviews = p.cur[17] > 0
        self.last_update = end
        self.creation_date = p.creation_date
        self.sales_rank_drops = p.sales_rank_drops
        current = p.cur[:DEAL_LENGTH]
        self.current = current
        self.current_since = p.since[:DEAL_LENGTH]
        self.delta_last = p.delta_last[:DEAL_LENGTH]
        self.previous = p.prev[:DEAL_LENGTH]
        # Only the history lists are shared with the product; they only ever grow past `end`
        # (or lose points older than 100 days), so the flags computed later stay as of `end`.
        self.hists = p.hist[:DEAL_LENGTH]
        back = [False] * DEAL_LENGTH
        for t in range(DEAL_LENGTH):
            hist = self.hists[t]
            back[t] = (
                hist is not None
                and current[t] >= 0
                and self.previous[t] == -1
                and len(hist) > step_of(t)
                and self.current_since[t] >= end - DAY
            )
        self.back_in_stock = back
        self._per_type: dict[int, tuple[list[int], list[int], list[int]]] = {}
        warehouse = p.cheapest_warehouse_offer()
        self.warehouse_condition = warehouse.condition if warehouse else 0
        self.warehouse_comment = warehouse.comment if warehouse else None
        self._flags: dict[int, tuple[bool, bool, bool]] = {}
        self._json: str | None = None

    def type_arrays(self, t: int) -> tuple[list[int], list[int], list[int]]:
        """(avg, delta, deltaPercent) of price type ``t`` for the four date ranges.

        Kept for the types queries ask about; the full matrices are only needed once, for
        the JSON, and are not kept (they would double the memory of a large market).
        """
        arrays = self._per_type.get(t)
        if arrays is None:
            arrays = self._per_type[t] = self._compute(t)
        return arrays

    def _compute(self, t: int) -> tuple[list[int], list[int], list[int]]:
        hist = self.hists[t]
        if hist is None:
            return [-2, -2, -2, -2], [0, 0, 0, 0], [0, 0, 0, 0]
        avg = averages(hist, step_of(t), self.last_update, DEAL_WINDOWS)
        c = self.current[t]
        if c < 0:
            return avg, [0, 0, 0, 0], [0, 0, 0, 0]
        delta = [a - c if a >= 0 else 0 for a in avg]
        return avg, delta, [delta_percent(d, c) if d else 0 for d in delta]

    def matrices(self) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
        """avg, delta and deltaPercent as Keepa sends them: ``x[dateRange][priceType]``."""
        known = self._per_type
        columns = [known.get(t) or self._compute(t) for t in range(DEAL_LENGTH)]
        avg, delta, dpct = (
            [[column[k][r] for column in columns] for r in range(len(DEAL_WINDOWS))]
            for k in range(3)
        )
        return avg, delta, dpct

    def flags(self, t: int) -> tuple[bool, bool, bool]:
        """(isLowest, isLowest90, isHighest) of price type ``t`` as of the last update."""
        cached = self._flags.get(t)
        if cached is not None:
            return cached
        c = self.current[t]
        hist = self.hists[t]
        result = (False, False, False)
        if hist is not None and c >= 0:
            step = step_of(t)
            low, high = extremes(hist, step, -(2**62), self.last_update)
            low90, _ = extremes(hist, step, self.last_update - 90 * DAY, self.last_update)
            result = (
                low is not None and c <= low[1],
                low90 is not None and c <= low90[1],
                high is not None and c >= high[1],
            )
        self._flags[t] = result
        return result

    def out_of_stock_since_a_day(self, t: int) -> bool:
        return (
            self.current[t] == -1
            and self.previous[t] >= 0
            and self.current_since[t] >= self.last_update - DAY
        )

    def json(self) -> str:
        if self._json is None:
            avg, delta, dpct = self.matrices()
            deal = {
                "asin": self.asin,
                "avg": avg,
                "backInStock": self.back_in_stock,
                "categories": list(self.categories),
                "creationDate": self.creation_date,
                "current": self.current,
                "currentSince": self.current_since,
                "dateIntervalIndex": 0,
                "delta": delta,
                "deltaLast": self.delta_last,
                "deltaPercent": dpct,
                "image": self.image,
                "lastUpdate": self.last_update,
                "lightningEnd": 0,
                "lightningStart": 0,
                "rootCat": self.root,
                "salesRankDrops30": self.sales_rank_drops[0],
                "salesRankDrops90": self.sales_rank_drops[1],
                "salesRankDrops180": self.sales_rank_drops[2],
                "salesRankDrops365": self.sales_rank_drops[3],
                "title": self.title,
                "warehouseCondition": self.warehouse_condition,
            }
            if self.warehouse_comment is not None:
                deal["warehouseConditionComment"] = self.warehouse_comment
            self._json = json.dumps(deal, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return self._json
