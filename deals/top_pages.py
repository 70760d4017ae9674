"""The first page of Keepa's best deals, read every run that makes no complete sweep: the top
rows are where deals leave between two complete sweeps, and where a reseller looks first.

Every run without a complete sweep reads page 0 of the query sorted by percentage delta and
by absolute delta (`TOP_SORT_TYPES`, Keepa's sortType 4 and 2, descending): 150 deals each,
5 tokens a page, the nearest Keepa orders to the dashboard's % below average and Profit. In
the calibrated market the two pages together hold 98 % of the top 50 rows by Profit that are
still in the query (measured over two hours at 5,000 deals), so one read confirms nearly the
whole first page of both value sorts and updates their prices, for 10 tokens where 1-token
checks would cost about 100.

What the pages do not show tells as much: a top row absent from a page although its stored
value (% or $ below average) would rank it on that page has left the query or changed, and is
marked unverified at once ("missing from Keepa's top deals of 12:05 UTC"); the verifier
settles it with a 1-token check in the same run (deals/verify.py). A top row whose stored
value ranks it below a page's last deal is out of the page's reach, and is left to the
re-checks of top rows. The tokens are planned (deals/planner.py `top_per_hour`).
"""

from __future__ import annotations

import itertools

from django.db.models import F, Q
from django.utils import timezone

from deals.jobs import Run
from deals.models import Deal, DealStatus
from deals.planner import TOP_SORT_TYPES, TokenPlan, top_pages_cost
from deals.upsert import PageWriter
from deals.verify import RECHECK_TOP, VALUE_SORTS, set_status
from keepa_client.models import DealPage

TOP_MISSING_PREFIX = "missing from Keepa's top deals"
# The sort type ranking by percentage delta (the other, 2, ranks by absolute delta).
PERCENT = 4
# A page that cannot place a stored row: no value it ranks by, or not ranked by it.
NO_FLOOR = 2**63


class TopPages(PageWriter):
    """Read the first page of each top sort, write it, and mark the top rows it misses."""

    def __init__(self, run: Run, plan: TokenPlan) -> None:
        super().__init__(run)
        self.context = run
        self.plan = plan

    def run(self) -> None:
        if not self.plan.top_per_hour:
            return
        if self.context.budget.spare() < top_pages_cost():
            self.context.notes.append("top deals not read (token budget)")
            return
        floors = [
            (sort_type, self.floor(self.read(sort_type), sort_type)) for sort_type in TOP_SORT_TYPES
        ]
        self.mark_missing(floors)

    def read(self, sort_type: int) -> DealPage:
        keepa = self.context.keepa()
        self.context.budget.check(keepa.estimate_deal_cost(1))
        page = keepa.deals({**self.config.deal_query, "sortType": sort_type}, page=0)
        self.context.budget.record()
        self.counts["pages"] += 1
        self.counts["top_pages"] += 1
        self.write_page(page.deals)
        return page

    def floor(self, page: DealPage, sort_type: int) -> int | None:
        """The lowest value the page ranks by; None when the page is the whole list (a row it
        misses has left, whatever its value), NO_FLOOR when it cannot place a row."""
        if page.is_last:
            return None
        date_range, price_type = self.config.date_range, self.config.price_type
        values = [
            d.delta_percent_value(date_range, price_type)
            if sort_type == PERCENT
            else d.delta_value(date_range, price_type)
            for d in page.deals
        ]
        values = [v for v in values if v is not None]
        if not values or any(a < b for a, b in itertools.pairwise(values)):
            # Not in the order asked for (Keepa's sortType 2 order has never been observed,
            # docs/keepa.md §4.2): the page places no row, so none is marked by it.
            return NO_FLOOR
        return values[-1]

    def mark_missing(self, floors: list[tuple[int, int | None]]) -> int:
        """Listed top rows that no page of this run showed although their stored value would
        rank them on a top page become unverified."""
        inside = Q(pk__in=[])
        for sort_type, floor in floors:
            if floor is None:
                inside = Q(pk__isnull=False)
                break
            if floor == NO_FLOOR:
                continue
            field = "delta_percent" if sort_type == PERCENT else "stored_delta"
            inside |= Q(**{f"{field}__gte": floor})
        listed = Deal.objects.filter(status=DealStatus.LISTED)
        top: set[str] = set()
        for name in VALUE_SORTS:
            top.update(
                listed.order_by(F(name).desc(nulls_last=True), "asin").values_list(
                    "asin", flat=True
                )[:RECHECK_TOP]
            )
        rows = list(
            listed.filter(asin__in=top, last_seen_utc__lt=self.context.sync.started_at)
            .annotate(stored_delta=F("avg_price") - F("now_price"))
            .filter(inside)
            .values_list("asin", "status")
        )
        now = timezone.now()
        reason = f"{TOP_MISSING_PREFIX} of {now:%H:%M} UTC"
        count = set_status(rows, DealStatus.UNVERIFIED, reason, now, self.context)
        if count:
            self.context.notes.append(
                f"{count} top rows missing from Keepa's top deals, to be checked"
            )
        return count
