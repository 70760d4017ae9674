"""Which deals get their sellers checked first: the offers planner's order and backlog.

An offers look-up costs ~8 tokens a deal; on a small plan most deals wait. A wrong seller line
costs the reseller most where they look: the rows at the top of the dashboard's default sort
(% below average) and of its money sort (Profit). So every deal waiting for a look-up is
ranked by the better of its two positions among the shown deals, Profit taken as what the deal
could earn (its Profit once known; before the first look-up, the same formula with a typical
FBA fee, since Keepa's fee comes with the look-up). A new deal, a price drop or a deal never
looked up counts as if it stood NEW_WEIGHT times higher up than a deal that is only due for a
re-check. Read-only: the job (deals/enrich.py) spends in this order, and the status line's
token page counts the backlog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from deals import economics
from deals.config import DealSettings
from deals.models import Deal, DealQuerySet, DealStatus, EnrichPriority

# How much a new deal or a price drop outranks a re-check at the same position.
NEW_WEIGHT = 4
# Keepa's FBA pick-and-pack fee for a typical media item (the most frequent in the real
# product samples, docs/keepa.md §5.3): only to rank deals whose own fee is not known yet.
TYPICAL_FBA_FEE = 344
# What an offers look-up of one deal costs on average (6 tokens per 10 offers found, most
# deals of the shipped query list 11-20 live offers): for the time to clear the backlog.
TYPICAL_LOOKUP_TOKENS = 8


@dataclass(frozen=True)
class Waiting:
    asin: str
    position: int  # best 0-based place in the default or the money sort
    new_or_drop: bool

    @property
    def rank(self) -> tuple[float, int, str]:
        weight = NEW_WEIGHT if self.new_or_drop else 1
        return (self.position / weight, 0 if self.new_or_drop else 1, self.asin)


def stale_before(config: DealSettings, now: datetime) -> datetime:
    return now - timedelta(hours=config.reenrich_after_hours)


def queue(config: DealSettings, now: datetime) -> DealQuerySet:
    """Shown deals waiting for an offers look-up (left ones never are)."""
    before = stale_before(config, now)
    return (
        Deal.objects.enrichment_queue(before)
        .exclude(status=DealStatus.LEFT)
        # A re-check whose answer a sweep found unchanged since waits its full interval.
        .exclude(
            Q(enrich_priority=EnrichPriority.NONE)
            & Q(enriched_at__isnull=False)
            & Q(offers_confirmed_at__gte=before)
        )
    )


def retrying(config: DealSettings, now: datetime) -> DealQuerySet:
    """Shown deals whose look-up Keepa could not collect, waiting for their retry time: they
    wait for a seller check too, though not in the queue yet."""
    return (
        Deal.objects.filter(
            Q(enrich_priority__gt=EnrichPriority.NONE)
            | Q(enriched_at__isnull=True)
            | Q(enriched_at__lt=stale_before(config, now))
        )
        .filter(enrich_requested_at__gt=now)
        .exclude(status=DealStatus.LEFT)
    )


def backlog(config: DealSettings, now: datetime) -> int:
    return queue(config, now).count()


def _potential_profit(row: dict, config: DealSettings) -> int | None:
    """The row's Profit, or before the first look-up the same formula at a typical FBA fee."""
    if row["profit"] is not None:
        return row["profit"]
    buy = max([v for v in (row["est_landed"], row["now_price"]) if v is not None], default=None)
    result = economics.compute(
        buy_total=buy,
        sale_price=row["avg_price"],
        referral_percent=economics.DEFAULT_REFERRAL_PERCENT,
        fba_fee=TYPICAL_FBA_FEE,
        costs=config.seller_costs,
    )
    return result.profit if result else None


def _positions(values: dict[str, int | None]) -> dict[str, int]:
    """Each ASIN's 0-based place when sorted by value, highest first (None last)."""
    order = sorted(values, key=lambda a: (values[a] is None, -(values[a] or 0), a))
    return {asin: place for place, asin in enumerate(order)}


def ranked(config: DealSettings, now: datetime) -> list[Waiting]:
    """The deals waiting for a look-up, the most valuable first (see the module docstring)."""
    waiting = dict(queue(config, now).values_list("asin", "enrich_priority").order_by())
    if not waiting:
        return []
    shown = list(
        Deal.objects.exclude(status=DealStatus.LEFT).values(
            "asin", "delta_percent", "profit", "avg_price", "est_landed", "now_price",
            "enriched_at",
        )
    )  # fmt: skip
    by_discount = _positions({r["asin"]: r["delta_percent"] for r in shown})
    by_profit = _positions({r["asin"]: _potential_profit(r, config) for r in shown})
    never = {r["asin"] for r in shown if r["enriched_at"] is None}
    found = [
        Waiting(
            asin,
            min(by_discount.get(asin, len(shown)), by_profit.get(asin, len(shown))),
            priority >= EnrichPriority.PRICE_CHANGED or asin in never,
        )
        for asin, priority in waiting.items()
    ]
    return sorted(found, key=lambda w: w.rank)
