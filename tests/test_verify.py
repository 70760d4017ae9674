"""Every deal's status: a deal that leaves Keepa's results is caught by the complete sweeps and
settled by 1-token checks, most valuable rows first; one that comes back is listed again."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from deals import ingest, verify
from deals.config import load_config
from deals.jobs import Run
from deals.models import Deal, DealEvent, DealStatus, EnrichPriority, SyncRun
from deals.planner import plan_tokens
from tests.deals_fixtures import SECRET, fast_client, next_cycle

pytestmark = pytest.mark.django_db

# settings.json's currentRange maximum is $301: a copy dearer than that is no deal for it.
ABOVE_THE_MAXIMUM = 40_000


def make_it_leave(keepa, order: str = "-delta_percent") -> Deal:
    """Take a listed deal's cheapest copy off the market, the others repriced above the query's
    maximum price: the deal no longer matches the query. The top one by `order`."""
    rows = Deal.objects.exclude(now_seller_id="").exclude(**{order.lstrip("-"): None})
    deal = rows.order_by(order, "asin").first()
    for seller in keepa.market_offers(deal.asin):
        if seller != deal.now_seller_id:
            keepa.set_offer(deal.asin, seller, price=ABOVE_THE_MAXIMUM, condition=2)
    keepa.post("/_sim/remove_offer", {"asin": deal.asin, "seller_id": deal.now_seller_id})
    return deal


def cycles_until_left(keepa, asin: str, most: int) -> tuple[int, list[str]]:
    """Run the upserter every 5 simulated minutes until `asin` is left; return the minutes it
    took and the statuses it showed after each run."""
    seen = []
    for cycle in range(1, most + 1):
        next_cycle(keepa)
        sync = ingest.run(trigger="test", client=fast_client(keepa))
        assert sync.status == SyncRun.Status.OK, sync.summary()
        status = Deal.objects.get(asin=asin).status
        seen.append(status)
        if status == DealStatus.LEFT:
            return cycle * 5, seen
    return -1, seen


def test_a_deal_whose_cheapest_copy_goes_is_left_within_15_minutes_with_the_reason(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    deal = make_it_leave(keepa)

    minutes, statuses = cycles_until_left(keepa, deal.asin, most=6)

    assert 0 < minutes <= 15, statuses
    deal.refresh_from_db()
    assert deal.status_reason == "price $400 above the query's $301 maximum"
    assert deal.status_at is not None
    # Kept, with its history: how it left is on record.
    event = DealEvent.objects.filter(asin=deal.asin, field="status", new_value="left").get()
    assert event.old_value == DealStatus.UNVERIFIED and event.reason == deal.status_reason
    assert DealEvent.objects.filter(
        asin=deal.asin, field="status", new_value="unverified", reason__startswith="missing"
    ).exists()


def test_a_sold_out_deal_says_so(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    deal = Deal.objects.exclude(now_seller_id="").order_by("asin").first()
    for seller in keepa.market_offers(deal.asin):
        keepa.post("/_sim/remove_offer", {"asin": deal.asin, "seller_id": seller})

    minutes, statuses = cycles_until_left(keepa, deal.asin, most=6)

    assert 0 < minutes <= 15, statuses
    assert Deal.objects.get(asin=deal.asin).status_reason == "no used offer: sold out"


def test_a_deal_that_qualifies_again_is_listed_again_with_an_event(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    deal = make_it_leave(keepa)
    assert cycles_until_left(keepa, deal.asin, most=6)[0] > 0

    keepa.set_offer(deal.asin, "ABACKAGAIN0001", price=deal.now_price, condition=2)
    next_cycle(keepa)
    sync = ingest.run(trigger="test", client=fast_client(keepa))

    assert not sync.full_sweep  # the incremental pass saw it: no need to wait for a sweep
    deal.refresh_from_db()
    assert (deal.status, deal.status_reason) == (DealStatus.LISTED, "")
    back = DealEvent.objects.filter(asin=deal.asin, field="status").latest("pk")
    assert (back.old_value, back.new_value) == (DealStatus.LEFT, DealStatus.LISTED)
    assert back.reason == "back in Keepa's results: qualifies again"


def top_first(limit: int) -> list[str]:
    """The rows at the top of the default sort and of the money sort, alternately."""
    shown = Deal.objects.exclude(status=DealStatus.LEFT)
    by_delta = list(shown.order_by("-delta_percent", "asin").values_list("asin", flat=True))
    by_profit = list(
        shown.exclude(profit=None).order_by("-profit", "asin").values_list("asin", flat=True)
    )
    order: list[str] = []
    for pair in zip(by_delta, by_profit, strict=False):
        for asin in pair:
            if asin not in order:
                order.append(asin)
    return order[:limit]


def test_the_verifier_checks_the_most_valuable_rows_first(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    Deal.objects.update(
        status=DealStatus.UNVERIFIED, status_reason=f"{verify.MISSING_PREFIX} of 12:00 UTC"
    )
    expected = top_first(6)
    # The reserve (10) and six 1-token checks.
    keepa.keys(key=SECRET, tokens=16, refill_rate=20)
    run = Run.detached(SyncRun.Kind.UPDATE, load_config(), fast_client(keepa))
    run.keepa().token_status()
    before = keepa.stats()

    verify.Verifier(run, plan_tokens(20, Deal.objects.count(), run.config), 5).run()

    after = keepa.stats()
    assert after["tokens_consumed"]["/product"] - before["tokens_consumed"]["/product"] == 6
    assert after["products_requested"] - before["products_requested"] == 6
    checked = set(Deal.objects.filter(status=DealStatus.LISTED).values_list("asin", flat=True))
    assert checked == set(expected)
    assert run.incomplete and "wait for a check" in "; ".join(run.notes)


def test_an_overdue_offers_look_up_makes_the_row_unverified_until_it_is_made(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    asin = Deal.objects.order_by("asin").values_list("asin", flat=True).first()
    waited = timezone.now() - verify.OFFERS_OVERDUE - timedelta(minutes=1)
    Deal.objects.filter(asin=asin).update(
        enrich_priority=EnrichPriority.PRICE_CHANGED, enrich_requested_at=waited
    )
    run = Run.detached(SyncRun.Kind.UPDATE, load_config(), fast_client(keepa))

    verify.mark_offers_overdue(run)
    deal = Deal.objects.get(asin=asin)
    assert (deal.status, deal.status_reason) == (
        DealStatus.UNVERIFIED,
        verify.OFFERS_OVERDUE_REASON,
    )

    # A new deal never looked up has no seller line to be stale: "seller not checked" says
    # it, not an unverified status.
    other = Deal.objects.exclude(asin=asin).order_by("asin").values_list("asin", flat=True)[0]
    Deal.objects.filter(asin=other).update(
        enrich_priority=EnrichPriority.NEW, enriched_at=None, enrich_requested_at=waited
    )
    verify.mark_offers_overdue(run)
    assert Deal.objects.get(asin=other).status == DealStatus.LISTED

    # Seen on a page meanwhile, it stays unverified: the page does not say who sells it.
    next_cycle(keepa)
    run.keepa().token_status()
    ingest.Sweep(run).run(True)
    assert Deal.objects.get(asin=asin).status == DealStatus.UNVERIFIED

    Deal.objects.filter(asin=asin).update(enrich_priority=EnrichPriority.NONE)
    verify.mark_offers_overdue(run)
    assert Deal.objects.get(asin=asin).status == DealStatus.LISTED


def test_a_deal_keepa_stopped_updating_is_left_once_out_of_its_results(keepa):
    keepa.quiet(True)  # nothing moves: lastUpdate only ages
    ingest.run(trigger="test", client=fast_client(keepa))
    stamps = sorted(set(Deal.objects.values_list("keepa_last_update", flat=True)))
    # The oldest deal, with a minute or more to the next one.
    oldest = next(a for a, b in itertools.pairwise(stamps) if b - a >= timedelta(minutes=2))
    aged = Deal.objects.filter(keepa_last_update=oldest).values_list("asin", flat=True).first()
    now = datetime.fromtimestamp(keepa.stats()["clock"]["unix_ms"] / 1000, tz=UTC)
    # The busy market lists products Keepa updated in the last 12 hours.
    minutes = (oldest + timedelta(hours=12, minutes=1) - now).total_seconds() / 60
    next_cycle(keepa, minutes=max(5, math.ceil(minutes)))

    sync = ingest.run(trigger="test", full=True, client=fast_client(keepa))

    assert sync.sweep_complete, sync.summary()
    deal = Deal.objects.get(asin=aged)
    assert deal.status == DealStatus.LEFT
    assert deal.status_reason.startswith("no longer in Keepa's deal results: Keepa last updated it")
    # The rest are listed: seen, or checked and still in Keepa's results.
    assert not Deal.objects.exclude(keepa_last_update__lte=oldest).exclude(status="listed").exists()


def run_between_sweeps_and_see_it_left(keepa, deal: Deal) -> SyncRun:
    """The next run, five minutes after the last complete sweep: `deal` is `left` with the
    reason `make_it_leave` gave it."""
    sync = ingest.run(trigger="test", client=fast_client(keepa))
    assert not sync.full_sweep
    deal.refresh_from_db()
    assert (deal.status, deal.status_reason) == (
        DealStatus.LEFT,
        "price $400 above the query's $301 maximum",
    )
    return sync


def test_a_top_row_that_leaves_between_complete_sweeps_is_caught_by_a_recheck(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    deal = make_it_leave(keepa, "-profit")  # the top row of the money sort
    # No page has shown the rows for a while (the incremental passes read only what changed).
    Deal.objects.update(
        last_seen_utc=F("last_seen_utc") - verify.RECHECK_AFTER - timedelta(minutes=1),
        verified_at=F("verified_at") - verify.RECHECK_AFTER - timedelta(minutes=1),
    )
    next_cycle(keepa)

    sync = run_between_sweeps_and_see_it_left(keepa, deal)

    assert "checked against the query" in sync.note


def test_the_recheck_goes_down_the_money_sort_first_every_run(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    # Confirmed by the last run (5 minutes ago), not by this one: every top row is due.
    Deal.objects.update(
        last_seen_utc=F("last_seen_utc") - verify.RECHECK_AFTER,
        verified_at=F("verified_at") - verify.RECHECK_AFTER,
    )
    by_profit = list(
        Deal.objects.exclude(profit=None).order_by("-profit", "asin").values_list("asin", flat=True)
    )
    # The reserve (10) and six 1-token checks.
    keepa.keys(key=SECRET, tokens=16, refill_rate=20)
    run = Run.detached(SyncRun.Kind.UPDATE, load_config(), fast_client(keepa))
    run.keepa().token_status()
    started = timezone.now()

    verify.Verifier(run, plan_tokens(20, Deal.objects.count(), run.config), 5).run()

    checked = set(Deal.objects.filter(verified_at__gte=started).values_list("asin", flat=True))
    assert checked == set(by_profit[:6])
