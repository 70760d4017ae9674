"""The offers look-ups that follow a sweep: who sells each new or cheaper deal, and for what.

New deals first, then price drops, then (with spare tokens only) deals not checked for a
while; each look-up is a /product call with live offers, within the run's token budget.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from deals.columns import COMPUTED, recompute, recompute_for_sellers
from deals.jobs import Run
from deals.keepa import redact_error
from deals.models import OFFER_SHOWN_FIELDS, Deal, DealEvent, EnrichPriority, Seller
from deals.snapshots import product_snapshot
from keepa_client.client import MAX_ASINS_PER_REQUEST
from keepa_client.errors import KeepaError
from keepa_client.models import Product
from keepa_client.records import Rejected, describe_rejected, is_asin
from keepa_client.wire import CONDITIONS_FOR_PRICE_TYPE

OFFERS_PER_LOOKUP = 20  # Keepa's minimum; one page of offers costs 6 tokens per 10 found.
# Re-checking offers of deals that did not move is optional work: it only uses tokens above
# this headroom, so the next scheduled sweep always finds its pages paid for.
STALE_ENRICH_HEADROOM = 60
MAX_ENRICH_CALLS_PER_RUN = 200
# Keepa sometimes cannot collect a product's offers (`offersSuccessful: false`, 1 token) and
# says to retry after a few minutes (docs/keepa.md §5.3): such a deal keeps what it showed and
# is looked up again after this long, not after reenrich_after_hours.
OFFERS_RETRY_AFTER = timedelta(minutes=5)


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
        """Look up offers for queued deals (new, then price-changed, then stale) within budget."""
        try:
            self.look_up()
        finally:
            if self.rejected:
                self.notes.append(describe_rejected(self.rejected, "product"))

    def look_up(self) -> None:
        stale_before = timezone.now() - timedelta(hours=self.config.reenrich_after_hours)
        per_asin = self.context.keepa().estimate_product_cost(1, offers=OFFERS_PER_LOOKUP)
        waiting = EnrichPriority.PRICE_CHANGED  # new and price-changed deals: the real queue
        for _ in range(MAX_ENRICH_CALLS_PER_RUN):
            self.context.keep_going()
            queue = Deal.objects.enrichment_queue(stale_before)
            head = list(queue.values_list("asin", "enrich_priority")[:MAX_ASINS_PER_REQUEST])
            if not head:
                return
            if head[0][1] >= waiting:
                head = [item for item in head if item[1] >= waiting]
                affordable = self.context.budget.spare() // per_asin
            else:
                affordable = self.context.budget.spare(STALE_ENRICH_HEADROOM) // per_asin
            if affordable < 1:
                if head[0][1] >= waiting:
                    self.context.incomplete = True
                    self.notes.append(
                        f"{queue.filter(enrich_priority__gte=waiting).count()} "
                        "deals wait for an offers look-up (token budget)"
                    )
                return
            malformed = [asin for asin, _ in head if not is_asin(asin)]
            if malformed:
                # Rows stored before ASINs were checked: Keepa cannot be asked about them, and
                # they must not hold the head of the queue. The pruner removes them in time.
                Deal.objects.filter(asin__in=malformed).update(
                    enrich_priority=EnrichPriority.NONE,
                    enrich_requested_at=None,
                    enriched_at=timezone.now(),
                )
                continue
            asins = [asin for asin, _ in head[:affordable]]
            products = self.context.keepa().products(
                asins,
                offers=OFFERS_PER_LOOKUP,
                only_live_offers=True,
                stats=90,
                history=False,
            )
            self.context.budget.record()
            self.rejected.extend(getattr(products, "rejected", ()))
            self.write_offers(asins, products)

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
                deal.product_snapshot = product_snapshot(product.raw)
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
