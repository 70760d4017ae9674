"""Whether each deal is still one: the status every row carries, and the 1-token checks that
settle it (DESIGN rule 9: the screen tells the truth or says it does not know).

- `listed`: in Keepa's latest results at the values shown. A /deal page that shows the deal
  makes it so (deals/upsert.py), and so does a check that finds it still matching.
- `unverified`: something suggests it changed or left, not checked yet. Three things do:
  missing from a complete sweep of the list (`mark_missing`), a top row missing from the top
  pages although its stored value would place it there (deals/top_pages.py), or an offers
  look-up that has waited longer than `OFFERS_OVERDUE` after a price change
  (`mark_offers_overdue`: the seller line may be stale).
- `left`: a check found it no longer matching the query, with the reason in a reseller's
  words ("price $31.50 above the query's $301 maximum", "no used offer: sold out"). Hidden
  from the dashboard, the count, the API and the CSV by default, kept with its history until
  the pruner deletes it (48 h unseen by default, the same as any row: a left deal that comes
  back within that time keeps its history, and comes back `listed`).

The checks are /product look-ups without offers (1 token a product, 100 a call) with the
stats over the query's dateRange, compared with the query's ranges by
`keepa_client.query.product_mismatch`, and with how far back Keepa's results reach: a product
Keepa has not updated since before the oldest deal of the last complete sweep is out of its
results (Keepa lists recently updated products only) even if its old figures still match.
Rows missing from a sweep are checked first, as far
as the run's budget goes: they arrive in a burst after each complete sweep, and the plan's
hourly share for checks is sized for them on average (deals/planner.py), and go top of the
default sort (% below average) and of the money sort (profit) first, alternately.

Then every run re-checks the top rows (the first page of each value sort) that neither a
page nor a check has confirmed for `RECHECK_AFTER`, one update interval. The best deals sell
first, so the top of the Profit sort is where deals leave between two complete sweeps; a
longer wait would be no sooner than the next complete sweep, which sees every row every 15
minutes. The money sort's rows go first, in its order, then the default sort's, as far as
the plan's share for checks goes. On a plan that reads the top pages every run
(deals/top_pages.py) those pages confirm nearly all of these rows, and the re-checks go to the
few the pages cannot reach; on a smaller plan the re-checks are all there is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from deals.jobs import Run
from deals.models import Deal, DealEvent, DealStatus, EnrichPriority, SyncRun
from deals.planner import TokenPlan, allowance
from keepa_client.client import MAX_ASINS_PER_REQUEST
from keepa_client.models import Product
from keepa_client.query import DATE_RANGE_STATS_DAYS, product_mismatch
from keepa_client.records import is_asin
from keepa_client.wire import RATING, SALES_RANK, value_at

log = logging.getLogger(__name__)

# A price-changed deal's offers look-up waiting longer than this: its seller line no longer
# describes the market, and the row says so. Two complete-sweep cycles of the 20-token plan:
# a look-up the planner meant to make has had two chances. A new deal that was never looked
# up is not "overdue": it has no seller line to be stale, says "seller not checked" and buys
# at the conservative estimate; on a small plan most rows wait so, and marking them all
# unverified would say nothing and sink them in every sort.
OFFERS_OVERDUE = timedelta(minutes=30)
OFFERS_OVERDUE_REASON = "seller not checked: offers look-up overdue"
MISSING_PREFIX = "missing from the complete sweep"
# Top rows are re-checked when no page has shown them for this long...
RECHECK_AFTER = timedelta(minutes=5)
# ... the first this many of each sort (the first page of the dashboard).
RECHECK_TOP = 50
# Sorts whose top rows a wrong status would cost most: the default, and the money sort.
VALUE_SORTS = ("delta_percent", "profit")
# The order top rows are re-checked in: the money sort's first, where exits concentrate.
RECHECK_SORTS = ("profit", "delta_percent")


def status_event(
    asin: str, old: str, new: str, reason: str, at: datetime, run_id: int | None
) -> dict:
    """The history event of a status change (the deal page and the live poll read these)."""
    return DealEvent.row(
        asin, DealEvent.Kind.CHANGED, field="status", old=old, new=new, reason=reason, at=at,
        run_id=run_id,
    )  # fmt: skip


def set_status(
    rows: Sequence[tuple[str, str]], status: str, reason: str, now: datetime, run: Run
) -> int:
    """Move `rows` ((asin, old status)) to `status` with `reason`, with one event each."""
    if not rows:
        return 0
    with transaction.atomic():
        Deal.objects.filter(asin__in=[asin for asin, _ in rows]).update(
            status=status, status_reason=reason, status_at=now, changed_at=now
        )
        DealEvent.objects.write(
            [status_event(asin, old, status, reason, now, run.sync.pk) for asin, old in rows]
        )
    return len(rows)


def mark_missing(run: Run, sweep: SyncRun) -> int:
    """After a complete sweep: deals it did not see, and that no check confirmed since it
    began, become unverified. Past Keepa's 10,000-deal cap only the deals the sweep could have
    reached count (the pruner's rule, deals/prune.py)."""
    started = sweep.sweep_started_at or sweep.started_at
    missing = (
        Deal.objects.filter(last_seen_utc__lt=started)
        .filter(Q(verified_at__isnull=True) | Q(verified_at__lt=started))
        .exclude(status=DealStatus.LEFT)
        .exclude(status=DealStatus.UNVERIFIED, status_reason__startswith=MISSING_PREFIX)
    )
    if sweep.capped and sweep.oldest_last_update:
        missing = missing.filter(keepa_last_update__gte=sweep.oldest_last_update)
    rows = list(missing.values_list("asin", "status"))
    reason = f"{MISSING_PREFIX} of {started:%H:%M} UTC"
    count = set_status(rows, DealStatus.UNVERIFIED, reason, timezone.now(), run)
    if count:
        run.notes.append(f"{count} deals missing from the complete sweep, to be checked")
    return count


def mark_offers_overdue(run: Run) -> None:
    """Rows whose offers look-up waited past OFFERS_OVERDUE become unverified; rows marked so
    whose look-up has since been made are listed again."""
    now = timezone.now()
    done = list(
        Deal.objects.filter(
            status=DealStatus.UNVERIFIED,
            status_reason=OFFERS_OVERDUE_REASON,
            enrich_priority__lt=EnrichPriority.PRICE_CHANGED,
        ).values_list("asin", "status")
    )
    set_status(done, DealStatus.LISTED, "seller checked", now, run)
    overdue = list(
        Deal.objects.filter(
            status=DealStatus.LISTED,
            enrich_priority=EnrichPriority.PRICE_CHANGED,
            enrich_requested_at__lt=now - OFFERS_OVERDUE,
        ).values_list("asin", "status")
    )
    set_status(overdue, DealStatus.UNVERIFIED, OFFERS_OVERDUE_REASON, now, run)


def by_value(rows: QuerySet[Deal], limit: int) -> list[str]:
    """Up to `limit` ASINs of `rows`, alternating the top of each value sort (% below average,
    profit), each ASIN once."""
    ranked = [
        list(
            rows.order_by(F(name).desc(nulls_last=True), "asin").values_list("asin", flat=True)[
                :limit
            ]
        )
        for name in VALUE_SORTS
    ]
    chosen: dict[str, None] = {}
    for pair in zip(*ranked, strict=False):
        for asin in pair:
            chosen.setdefault(asin, None)
    for rest in ranked:  # one list may be longer (NULLs)
        for asin in rest:
            chosen.setdefault(asin, None)
    return list(chosen)[:limit]


class Verifier:
    """Settle unverified rows, then re-check top rows, with 1-token product look-ups."""

    def __init__(self, run: Run, plan: TokenPlan, minutes_since_last_run: float) -> None:
        self.context = run
        self.config = run.config
        self.plan = plan
        self.minutes = minutes_since_last_run
        self.checked = 0
        self.left = 0
        self._reach: datetime | bool | None = None

    def run(self) -> None:
        try:
            self.settle_unverified()
            self.recheck_top()
        finally:
            if self.checked:
                self.context.notes.append(
                    f"{self.checked} deals checked against the query, {self.left} left"
                )

    def settle_unverified(self) -> None:
        doubtful = Deal.objects.filter(status=DealStatus.UNVERIFIED).exclude(
            status_reason=OFFERS_OVERDUE_REASON
        )
        while True:
            self.context.keep_going()
            affordable = self.context.budget.spare()
            if affordable < 1:
                if doubtful.exists():
                    self.context.incomplete = True
                    self.context.notes.append(
                        f"{doubtful.count()} unverified deals wait for a check (token budget)"
                    )
                return
            asins = by_value(doubtful, min(affordable, MAX_ASINS_PER_REQUEST))
            if not asins:
                return
            self.check(asins)

    def recheck_top(self) -> None:
        spend = min(allowance(self.plan.verify_per_hour, self.minutes), self.context.budget.spare())
        if spend < 1:
            return
        before = timezone.now() - RECHECK_AFTER
        shown = Deal.objects.exclude(status=DealStatus.LEFT)
        ranked: dict[str, None] = {}
        for name in RECHECK_SORTS:
            for asin in shown.order_by(F(name).desc(nulls_last=True), "asin").values_list(
                "asin", flat=True
            )[:RECHECK_TOP]:
                ranked.setdefault(asin, None)
        due = set(
            Deal.objects.filter(
                asin__in=list(ranked), status=DealStatus.LISTED, last_seen_utc__lte=before
            )
            .filter(Q(verified_at__isnull=True) | Q(verified_at__lte=before))
            .values_list("asin", flat=True)
        )
        asins = [asin for asin in ranked if asin in due][: min(spend, MAX_ASINS_PER_REQUEST)]
        if asins:
            self.check(asins)

    def check(self, asins: list[str]) -> None:
        """Look the products up (1 token each) and settle each row listed or left."""
        malformed = [asin for asin in asins if not is_asin(asin)]
        if malformed:
            # Keepa cannot be asked about them: a row stored before ASINs were checked.
            now = timezone.now()
            rows = list(Deal.objects.filter(asin__in=malformed).values_list("asin", "status"))
            self.left += set_status(
                rows, DealStatus.LEFT, "not an ASIN Keepa knows", now, self.context
            )
            asins = [asin for asin in asins if asin not in malformed]
            if not asins:
                return
        keepa = self.context.keepa()
        self.context.budget.check(keepa.estimate_product_cost(len(asins)))
        products = keepa.products(
            asins, stats=DATE_RANGE_STATS_DAYS[self.config.date_range], history=False
        )
        self.context.budget.record()
        self.write(asins, products)

    def write(self, asins: Iterable[str], products: Iterable[Product]) -> None:
        now = timezone.now()
        by_asin = {p.asin: p for p in products}
        price_type = self.config.price_type
        query = self.config.deal_query
        verdicts: dict[str, str] = {}
        for asin in asins:
            product = by_asin.get(asin)
            if product is None:
                verdicts[asin] = "Keepa no longer lists the product"
                continue
            stats = product.stats or {}
            current = stats.get("current")
            verdicts[asin] = product_mismatch(
                query,
                current=value_at(current, price_type),
                average=value_at(stats.get("avg"), price_type),
                sales_rank=value_at(current, SALES_RANK),
                rating=value_at(current, RATING),
                categories=[
                    *([product.root_category] if product.root_category else []),
                    *product.categories,
                ],
            )
        # Keepa lists only products it updated recently (about 12 h): one that still matches
        # the ranges but was last updated before the oldest deal of the last complete sweep
        # is out of Keepa's results all the same, and its figures are that old.
        reach = self.reach()
        for asin, product in by_asin.items():
            updated = product.last_update
            if asin in verdicts and not verdicts[asin] and reach and updated and updated < reach:
                verdicts[asin] = (
                    "no longer in Keepa's deal results: Keepa last updated it "
                    f"{updated:%b %d %H:%M} UTC"
                )
        with transaction.atomic():
            rows = list(
                Deal.objects.filter(asin__in=list(verdicts)).only(
                    "asin", "status", "status_reason", "status_at", "changed_at", "verified_at"
                )
            )
            events = []
            for deal in rows:
                reason, old = verdicts[deal.asin], deal.status
                if reason:
                    deal.status, deal.status_reason = DealStatus.LEFT, reason
                else:
                    deal.verified_at = now
                    if old == DealStatus.LISTED:
                        continue
                    deal.status, deal.status_reason = DealStatus.LISTED, ""
                    reason = "checked: still matches the query"
                deal.status_at = deal.changed_at = now
                events.append(status_event(deal.asin, old, deal.status, reason, now, self.sync_id))
            Deal.objects.update_rows(
                rows, ["status", "status_reason", "status_at", "changed_at", "verified_at"]
            )
            DealEvent.objects.write(events)
        self.checked += len(rows)
        self.left += sum(1 for deal in rows if verdicts[deal.asin])

    def reach(self) -> datetime | None:
        """The oldest Keepa lastUpdate the last complete sweep listed: how far back Keepa's
        results reach."""
        if self._reach is None:
            sweep = SyncRun.objects.last_complete_sweep(full=True)
            self._reach = (sweep.oldest_last_update if sweep else None) or False
        return self._reach or None

    @property
    def sync_id(self) -> int | None:
        return self.context.sync.pk


def minutes_since_last_run(run: Run) -> float:
    """Minutes since the previous update run started (an hour when there was none)."""
    previous = (
        SyncRun.objects.updates()
        .exclude(pk=run.sync.pk)
        .filter(started_at__lt=run.sync.started_at)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    if previous is None:
        return 60.0
    return (run.sync.started_at - previous).total_seconds() / 60
