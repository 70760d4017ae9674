"""The offers look-ups that follow a sweep: who sells each deal, and for what.

The offers planner: the run spends its offers share (deals/planner.py `offers_share`: the
plan's `offers_per_hour` pro-rated by the minutes since the last run, or, when the bucket holds
more, everything above `token_reserve` and what the next sweep and its checks need, since a
bucket stops filling at an hour's refill) on the deals whose seller line matters most
(deals/offers_queue.py: the top of the dashboard's discount and Profit sorts, new deals and
drops first), within the run's Budget and `MAX_ENRICH_CALLS_PER_RUN`. A re-check whose answer
would be unchanged (the deal's offer prices did not move since the last look-up,
deals/seller_line.py) is not paid for. Rows whose ASIN Keepa cannot be asked about (stored
before ASINs were checked) are passed over at no cost, so they never hold the queue. Each
look-up is a /product call with live offers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from deals import offers_queue, seller_line
from deals.columns import COMPUTED, recompute, recompute_for_sellers
from deals.history import HISTORY_FETCH_DAYS
from deals.jobs import Run
from deals.keepa import redact_error
from deals.models import (
    OFFER_SHOWN_FIELDS,
    Deal,
    DealEvent,
    DealStatus,
    EnrichPriority,
    Seller,
    SellerLine,
    SyncRun,
)
from deals.planner import TokenPlan, offers_share, plan_tokens
from deals.snapshots import product_snapshot
from keepa_client.client import MAX_ASINS_PER_REQUEST
from keepa_client.errors import KeepaError
from keepa_client.models import Product
from keepa_client.records import Rejected, describe_rejected, is_asin
from keepa_client.wire import CONDITIONS_FOR_PRICE_TYPE

OFFERS_PER_LOOKUP = 20  # Keepa's minimum; one page of offers costs 6 tokens per 10 found.
MAX_ENRICH_CALLS_PER_RUN = 200
# Keepa sometimes cannot collect a product's offers (`offersSuccessful: false`, 1 token) and
# says to retry after a few minutes (docs/keepa.md §5.3): such a deal keeps what it showed and
# is looked up again after this long, not after reenrich_after_hours.
OFFERS_RETRY_AFTER = timedelta(minutes=5)
# The offers share of a run is pro-rated by the minutes since the last run, within these
# bounds: a first run counts one update interval, a long pause no more than an hour (the
# bucket holds at most an hour's refill anyway).
MAX_SHARE_MINUTES = 60


class Enricher:
    """Look up offers for queued deals. Public beyond the job for the benchmarks:
    `Enricher(Run.detached(..., client)).write_offers(asins, products)` is the write path of
    one look-up's answer."""

    def __init__(self, run: Run) -> None:
        self.context = run
        self.sync = run.sync
        self.config = run.config
        self.counts = run.counts
        self.notes = run.notes
        # Products Keepa sent that the client dropped as malformed.
        self.rejected: list[Rejected] = []

    def run(self) -> None:
        """Look up offers for the most valuable queued deals within the run's offers share."""
        try:
            self.look_up()
        finally:
            if self.rejected:
                self.notes.append(describe_rejected(self.rejected, "product"))

    def plan(self, deals: int) -> TokenPlan:
        """The token plan at Keepa's refill rate (sent with every answer; 0 when it was not)
        for `deals` shown deals."""
        tokens = self.context.keepa().tokens
        refill = tokens.refill_rate if tokens and tokens.refill_rate is not None else 0
        return plan_tokens(refill, deals, self.config)

    def share(self, now: datetime) -> int:
        """Tokens this run may spend on offers (deals/planner.py `offers_share`): the plan's
        hourly share for the minutes since the last update run that ended ok or partial (one
        update interval for the first), or the bucket's surplus above the reserve and what the
        sweeps and checks keep, whichever is more."""
        deals = Deal.objects.exclude(status=DealStatus.LEFT).count()
        plan = self.plan(deals)
        last = (
            SyncRun.objects.updates()
            .exclude(pk=self.sync.pk)
            # Runs that could spend their share: not a trigger skipped while this one ran.
            .filter(status__in=(SyncRun.Status.OK, SyncRun.Status.PARTIAL), started_at__lt=now)
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        if last is None:
            minutes = float(self.config.update_every_minutes)
        else:
            minutes = (now - last).total_seconds() / 60
        minutes = min(max(minutes, 0.0), MAX_SHARE_MINUTES)
        budget = self.context.budget
        return offers_share(plan, deals, minutes, budget.left, budget.reserve)

    def look_up(self) -> None:
        now = timezone.now()
        self.pass_over_unaskable(now)
        self.skip_unchanged(now)
        share = self.share(now)
        # A look-up, and at most one seller name it brings (1 token).
        keepa = self.context.keepa()
        per_asin = keepa.estimate_product_cost(
            1, offers=OFFERS_PER_LOOKUP
        ) + keepa.estimate_seller_cost(1)
        order = offers_queue.ranked(self.config, now)
        spent = 0
        calls = 0
        while order and calls < MAX_ENRICH_CALLS_PER_RUN:
            self.context.keep_going()
            affordable = min(self.context.budget.spare(), share - spent) // per_asin
            if affordable < 1:
                break
            take = min(affordable, MAX_ASINS_PER_REQUEST)
            head, order = order[:take], order[take:]
            asins = [w.asin for w in head]
            before = self.context.budget.spent
            products = self.context.keepa().products(
                asins,
                offers=OFFERS_PER_LOOKUP,
                only_live_offers=True,
                stats=90,
                # History costs no token (docs/keepa.md §5.2): the chart, the sparkline and
                # the season label come from it. `days` bounds the answer's size.
                history=True,
                days=HISTORY_FETCH_DAYS,
            )
            self.context.budget.record()
            calls += 1
            self.rejected.extend(getattr(products, "rejected", ()))
            self.write_offers(asins, products)
            spent += self.context.budget.spent - before
        if order:
            waiting = sum(w.new_or_drop for w in order)
            if waiting:
                self.context.incomplete = True
            self.notes.append(
                f"{len(order)} deals wait for an offers look-up (token budget: "
                f"{spent} of this run's {share}-token offers share spent)"
            )

    def pass_over_unaskable(self, now: datetime) -> None:
        """Rows stored before ASINs were checked: Keepa cannot be asked about them, so they
        are marked looked up (at no cost), whatever their status (the verifier settles them
        `left`), and never hold the queue or keep a run partial. The pruner removes them in
        time."""
        waiting = Deal.objects.enrichment_queue(offers_queue.stale_before(self.config, now))
        malformed = [
            asin
            for asin in waiting.order_by().values_list("asin", flat=True).iterator(chunk_size=2000)
            if not is_asin(asin)
        ]
        if malformed:
            Deal.objects.filter(asin__in=malformed).update(
                enrich_priority=EnrichPriority.NONE, enrich_requested_at=None, enriched_at=now
            )

    def skip_unchanged(self, now: datetime) -> None:
        """Re-checks whose answer would repeat the last one wait: a stale row whose offer
        prices in the latest /deal object equal those at its last look-up is confirmed as it
        is (`offers_confirmed_at`), at no token cost (deals/seller_line.py)."""
        due = (
            offers_queue.queue(self.config, now)
            .filter(
                enrich_priority__lt=EnrichPriority.PRICE_CHANGED,
                enriched_at__isnull=False,
            )
            .exclude(seller_line=SellerLine.STORED)
            .exclude(offers_fingerprint="")
            .exclude(enrich_requested_at__gt=now)
            .values_list("asin", "price_type", "deal_snapshot", "offers_fingerprint")
        )
        same = [
            asin
            for asin, price_type, snapshot, stored in due.iterator(chunk_size=500)
            if seller_line.snapshot_fingerprint(snapshot, price_type) == stored
        ]
        for start in range(0, len(same), 500):
            Deal.objects.filter(asin__in=same[start : start + 500]).update(
                offers_confirmed_at=now,
                enrich_priority=EnrichPriority.NONE,
                enrich_requested_at=None,
            )
        if same:
            self.notes.append(f"{len(same)} re-checks skipped: offers unchanged since last look-up")

    def write_offers(self, asins: list[str], products: list[Product]) -> None:
        now = timezone.now()
        by_asin = {p.asin: p for p in products}
        conditions = CONDITIONS_FOR_PRICE_TYPE.get(self.config.price_type)
        cheapest = {
            asin: product.cheapest_live_offer(set(conditions) if conditions else None)
            for asin, product in by_asin.items()
        }
        refreshed: set[str] = set()
        try:
            refreshed = self.learn_sellers(
                {o.seller_id for o in cheapest.values() if o and o.seller_id}
            )
        except KeepaError as exc:
            # Names and ratings are a nicety; the offers just paid for must not be thrown away.
            self.notes.append(f"seller names not fetched: {redact_error(exc)}")
        names = dict(
            Seller.objects.filter(
                seller_id__in={o.seller_id for o in cheapest.values() if o}
            ).values_list("seller_id", "name")
        )
        failed = {asin for asin, product in by_asin.items() if product.offers_successful is False}
        # Read, compute and write in one transaction, so nothing written meanwhile is lost.
        with transaction.atomic():
            rows = list(Deal.objects.filter(asin__in=asins))
            events = []
            for deal in rows:
                product = by_asin.get(deal.asin)
                if deal.asin in failed:
                    # Not "no offer": Keepa did not look. The row keeps its offer, its place
                    # in the queue (at least "stale") and its last look-up time, and waits a
                    # few minutes before it is asked for again.
                    deal.enrich_priority = max(deal.enrich_priority, EnrichPriority.STALE)
                    deal.enrich_requested_at = now + OFFERS_RETRY_AFTER
                    continue
                was_waiting = deal.enrich_priority >= EnrichPriority.PRICE_CHANGED
                deal.enrich_priority = EnrichPriority.NONE
                deal.enrich_requested_at = None
                deal.enriched_at = now
                if product is None:
                    continue  # Keepa knows no such product now; try again when it is stale
                offer = cheapest.get(deal.asin)
                new = {
                    "now_total": offer.total if offer else None,
                    "now_seller_id": (offer.seller_id or "") if offer else "",
                    "now_seller_name": names.get(offer.seller_id, "") if offer else "",
                    "now_condition": offer.condition if offer else None,
                    "now_is_fba": offer.is_fba if offer else None,
                }
                diffs = [f for f in OFFER_SHOWN_FIELDS if getattr(deal, f) != new[f]]
                deal.seller_line = SellerLine.CHECKED if offer else SellerLine.NONE
                deal.offers_fingerprint = seller_line.snapshot_fingerprint(
                    deal.deal_snapshot, deal.price_type
                )
                deal.offers_confirmed_at = None
                for f in diffs:
                    events.append(
                        DealEvent.row(
                            deal.asin,
                            DealEvent.Kind.CHANGED,
                            field=f,
                            old=getattr(deal, f),
                            new=new[f],
                            at=now,
                            run_id=self.sync.pk,
                        )
                    )
                    setattr(deal, f, new[f])
                if was_waiting and not diffs:
                    # Nothing shown changed, but the row stops saying "updating…": tell the
                    # dashboard's live poll (it follows events).
                    events.append(
                        DealEvent.row(
                            deal.asin,
                            DealEvent.Kind.CHANGED,
                            field="enriched",
                            at=now,
                            run_id=self.sync.pk,
                        )
                    )
                if diffs or was_waiting:
                    deal.changed_at = now
                deal.product_snapshot = product_snapshot(product.raw, self.config.price_type)
            recompute(rows, COMPUTED, self.config)
            Deal.objects.update_rows(
                rows,
                [
                    *(column.name for column in COMPUTED),
                    *OFFER_SHOWN_FIELDS,
                    "enrich_priority",
                    "enrich_requested_at",
                    "enriched_at",
                    "changed_at",
                    "product_snapshot",
                    "seller_line",
                    "offers_fingerprint",
                    "offers_confirmed_at",
                ],
            )
            DealEvent.objects.write(events)
            # Other deals sold by a seller whose rating was just fetched show it too.
            recompute_for_sellers(refreshed, self.config)
        # Committed: count the deals whose offers were written, not the products Keepa sent
        # (nor those whose offers Keepa could not collect).
        self.counts["enriched"] += sum(
            deal.asin in by_asin and deal.asin not in failed for deal in rows
        )
        if failed:
            minutes = int(OFFERS_RETRY_AFTER.total_seconds() // 60)
            self.notes.append(
                f"Keepa could not collect offers for {len(failed)} deals: retried in {minutes} min"
            )

    def learn_sellers(self, seller_ids: set[str]) -> set[str]:
        """Fetch the name and rating of sellers not seen before, and the rating of sellers
        last fetched more than a day ago (1 token each), as far as the budget allows: new
        sellers first. Returns the ids fetched."""
        now = timezone.now()
        due = seller_ids - Seller.objects.fresh_ids(seller_ids, now)
        known = set(Seller.objects.filter(seller_id__in=due).values_list("seller_id", flat=True))
        affordable = max(
            0, self.context.budget.spare()
        ) // self.context.keepa().estimate_seller_cost(1)
        wanted = [*sorted(due - known), *sorted(due & known)]
        wanted = wanted[: min(affordable, MAX_ASINS_PER_REQUEST)]
        if not wanted:
            return set()
        sellers = self.context.keepa().sellers(wanted)
        self.context.budget.record()
        return Seller.objects.store(sellers.values(), now)
