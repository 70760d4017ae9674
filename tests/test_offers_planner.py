"""The offers planner against the simulator: who gets a seller check first, what a row without
one shows, what a price rise shows, which re-checks are not paid for, and the token plan on the
screen. Tokens are counted by the simulator (/_sim/stats)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client
from django.utils import timezone

from deals import economics, ingest, offers_queue
from deals.config import load_config
from deals.models import Deal, DealEvent, DealStatus, EnrichPriority, SellerLine, SyncRun
from deals.planner import allowance, held_for_truth, plan_tokens
from keepa_client import wire
from tests.deals_fixtures import SECRET, next_cycle, product_calls

pytestmark = pytest.mark.django_db

# Keepa's refill on the smallest plans: every token goes to the sweeps, none to offers.
NO_OFFERS_REFILL = 1


def sweep_without_look_ups(keepa) -> SyncRun:
    """A first run that reads every deal but has no offers share in its plan, and a bucket (a
    full one of that plan, 60 tokens) that holds no more than the sweeps and checks keep."""
    keepa.quiet(True)
    keepa.keys(key=SECRET, tokens=60 * NO_OFFERS_REFILL, refill_rate=NO_OFFERS_REFILL)
    sync = ingest.run(trigger="test")
    assert sync.pages >= 2 and sync.inserted > 150, sync.summary()
    assert not Deal.objects.filter(enriched_at__isnull=False).exists()
    assert "wait for an offers look-up" in sync.note
    return sync


def product_tokens(keepa) -> int:
    spent = keepa.stats()["tokens_consumed"]
    return spent.get("/product", 0) + spent.get("/seller", 0)


def cheapest_live_landed(keepa, asin: str) -> int | None:
    """What the cheapest copy of an accepted (used) condition costs delivered, in the market."""
    conditions = wire.CONDITIONS_FOR_PRICE_TYPE[wire.USED]
    totals = [
        o.price + max(o.shipping, 0)
        for o in keepa.market.by_asin[asin].offers
        if o.live and o.condition in conditions
    ]
    return min(totals, default=None)


def reader() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("reseller", password="s3cret-pass"))
    return client


def test_the_planner_checks_the_rows_a_reseller_looks_at_first(keepa):
    sweep_without_look_ups(keepa)
    config = load_config()
    order = [w.asin for w in offers_queue.ranked(config, timezone.now())]
    assert len(order) == Deal.objects.count()
    next_cycle(keepa)
    # Enough above the reserve (10) for the next /deal page (5) and about ten look-ups.
    keepa.keys(key=SECRET, tokens=10 + 5 + 10 * 13, refill_rate=1000)
    before_tokens, before = product_tokens(keepa), product_calls(keepa)

    sync = ingest.run(trigger="test")

    checked = list(Deal.objects.filter(enriched_at__isnull=False).values_list("asin", flat=True))
    _, asins = product_calls(keepa)
    assert len(checked) == asins - before[1] >= 5, sync.summary()
    # Exactly the head of the ranking, and so the top of the default sort (% below average):
    # each deal ranks by the better of its places in that sort and the Profit sort.
    assert set(checked) == set(order[: len(checked)])
    top_by_discount = Deal.objects.order_by("-delta_percent", "asin").values_list(
        "asin", flat=True
    )[: len(checked) // 2]
    assert set(top_by_discount) <= set(checked)
    assert order[-1] not in checked
    # Within the budget, as the simulator counted it.
    assert product_tokens(keepa) - before_tokens <= 10 * 13
    assert "wait for an offers look-up" in sync.note


def shown_deals() -> int:
    return Deal.objects.exclude(status=DealStatus.LEFT).count()


def test_a_full_bucket_is_spent_on_the_most_valuable_rows_and_keeps_the_next_sweep(keepa):
    sweep_without_look_ups(keepa)
    config = load_config()
    order = [w.asin for w in offers_queue.ranked(config, timezone.now())]
    next_cycle(keepa)
    # The 20-token plan's bucket, full: an hour's refill (docs/keepa.md §2).
    keepa.keys(key=SECRET, tokens=60 * 20, refill_rate=20)
    before_tokens = product_tokens(keepa)

    sync = ingest.run(trigger="test")

    plan = plan_tokens(20, shown_deals(), config)
    planned = allowance(plan.offers_per_hour, config.update_every_minutes)
    held = held_for_truth(plan, shown_deals())
    spent = product_tokens(keepa) - before_tokens
    # More than the refill's planned share: tokens a full bucket holds would otherwise be
    # refill thrown away. But the reserve and the next complete sweep with its checks stay.
    assert spent > planned, (spent, planned, sync.summary())
    assert sync.tokens_left >= config.token_reserve + held, sync.summary()
    # Spent where the reseller looks first: exactly the head of the ranking.
    checked = list(Deal.objects.filter(enriched_at__isnull=False).values_list("asin", flat=True))
    assert set(checked) == set(order[: len(checked)])
    assert "wait for an offers look-up" in sync.note


def test_without_a_refill_the_bucket_still_pays_the_next_complete_sweep(keepa):
    # A refill rate of 0 (Keepa's answer without one): no share is planned for anything,
    # yet the bucket's surplus goes to offers and what the next complete sweep and its
    # checks need stays.
    keepa.quiet(True)
    keepa.keys(key=SECRET, tokens=1_000, refill_rate=0)

    first = ingest.run(trigger="test")

    config = load_config()
    held = held_for_truth(plan_tokens(0, shown_deals(), config), shown_deals())
    assert first.enriched > 0, first.summary()
    # All of the rest went to offers: less than one more look-up (at most 13 tokens) is left.
    assert config.token_reserve + held <= first.tokens_left < config.token_reserve + held + 13
    assert "wait for an offers look-up" in first.note

    next_cycle(keepa)
    looked_up = first.enriched
    second = ingest.run(trigger="test", full=True)

    assert second.sweep_complete and not second.error, second.summary()
    assert second.deals_seen == shown_deals()
    # Nothing above the held tokens: no offers look-up this time.
    assert Deal.objects.exclude(enriched_at=None).count() == looked_up
    assert second.tokens_left >= config.token_reserve


def test_a_row_without_a_look_up_says_seller_not_checked_and_never_buys_below_the_market(keepa):
    sweep_without_look_ups(keepa)
    client = reader()
    for deal in Deal.objects.all():
        assert not deal.buy_price_checked
        # The conservative buy price: never below what the cheapest copy costs delivered.
        assert economics.buy_total(deal) >= cheapest_live_landed(keepa, deal.asin), deal.asin
    html = client.get("/").content.decode()
    assert "seller not checked" in html and "est.</div>" in html

    # The cheapest sellers of the top deals raise their prices a little: the next sweep's
    # landed prices move the estimates up with the market, still without any look-up.
    moved = list(Deal.objects.order_by("-delta_percent", "asin")[:8])
    for deal in moved:
        offers = sorted(
            (o for o in keepa.market.by_asin[deal.asin].offers if o.live),
            key=lambda o: o.price + max(o.shipping, 0),
        )
        cheapest = offers[0]
        keepa.set_offer(
            deal.asin,
            cheapest.seller_id,
            price=cheapest.price + 100,
            shipping=cheapest.shipping,
            condition=cheapest.condition,
        )
    next_cycle(keepa)
    calls = product_calls(keepa)
    sync = ingest.run(trigger="test")
    assert product_calls(keepa) == calls  # still no offers share on this plan
    assert sync.updated >= 1, sync.summary()
    for deal in Deal.objects.filter(asin__in=[d.asin for d in moved]):
        assert economics.buy_total(deal) >= cheapest_live_landed(keepa, deal.asin), deal.asin


def test_a_price_rise_falls_back_on_the_next_stored_copy_until_it_is_rechecked(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    deal = (
        Deal.objects.exclude(now_total=None)
        .filter(delta_percent__gte=60, avg_price__gte=F("now_price") + 2500)
        .filter(now_price__gte=2600)
        .order_by("asin")
        .first()
    )
    # A new cheapest copy, and a runner-up a cent dearer, both stored by the look-up the
    # drop brings.
    keepa.set_offer(deal.asin, "ARUNNERUP0SELLER", price=deal.now_price - 99, condition=3)
    keepa.set_offer(deal.asin, "ACHEAP00SELLER", price=deal.now_price - 100, condition=3)
    next_cycle(keepa)
    ingest.run(trigger="test")
    deal.refresh_from_db()
    assert deal.now_seller_id == "ACHEAP00SELLER" and deal.buy_price_checked
    stored = {o["sellerId"] for o in deal.product_snapshot["offers"]}
    assert "ARUNNERUP0SELLER" in stored

    # The cheapest copy sells; no tokens for offers on this run.
    keepa.post("/_sim/remove_offer", {"asin": deal.asin, "seller_id": "ACHEAP00SELLER"})
    next_cycle(keepa)
    keepa.keys(key=SECRET, tokens=10 + 5 + 5, refill_rate=NO_OFFERS_REFILL)
    before = product_calls(keepa)
    ingest.run(trigger="test")

    deal.refresh_from_db()
    assert product_calls(keepa) == before
    assert deal.now_seller_id == "ARUNNERUP0SELLER" and deal.now_total == deal.now_price
    assert deal.seller_line == SellerLine.STORED and deal.seller_not_rechecked
    assert not deal.buy_price_checked  # the Profit stands on the estimate rule
    assert deal.enrich_priority >= EnrichPriority.STALE  # queued for a look-up
    assert DealEvent.objects.filter(
        asin=deal.asin, field="now_seller_id", new_value="ARUNNERUP0SELLER"
    ).exists()
    row = reader().get("/").content.decode()
    assert "not re-checked" in row
    assert reader_json(deal.asin)["seller_line"] == "stored"

    # With tokens again, the planner re-checks it: the line is checked.
    next_cycle(keepa)
    keepa.keys(key=SECRET, tokens=50_000, refill_rate=1000)
    ingest.run(trigger="test")
    deal.refresh_from_db()
    assert deal.seller_line == SellerLine.CHECKED and deal.buy_price_checked
    assert deal.now_seller_id == "ARUNNERUP0SELLER"


def reader_json(asin: str) -> dict:
    client = Client()
    client.force_login(User.objects.get_or_create(username="api-reader")[0])
    results = client.get("/api/deals", {"page": 1}).json()["results"]
    pages = [r for r in results if r["asin"] == asin]
    if pages:
        return pages[0]
    count = client.get("/api/deals").json()["pages"]
    for page in range(2, count + 1):
        for row in client.get("/api/deals", {"page": page}).json()["results"]:
            if row["asin"] == asin:
                return row
    raise AssertionError(f"{asin} not in /api/deals")


def test_a_recheck_whose_answer_would_be_unchanged_is_not_paid_for(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    assert not Deal.objects.filter(enriched_at__isnull=True).exists()
    # A day later every seller line is due for a re-check.
    Deal.objects.update(enriched_at=F("enriched_at") - timedelta(hours=25))
    moved = (
        Deal.objects.exclude(now_total=None)
        .filter(delta_percent__gte=60, avg_price__gte=F("now_price") + 2500)
        .order_by("asin")
        .first()
    )
    # One deal's cheapest seller asks a dollar more: its offer prices changed, so it is
    # worth a look-up; every other deal's are as they were.
    offer = next(
        o for o in keepa.market.by_asin[moved.asin].offers if o.seller_id == moved.now_seller_id
    )
    keepa.set_offer(
        moved.asin,
        offer.seller_id,
        price=offer.price + 100,
        shipping=offer.shipping,
        condition=offer.condition,
    )
    next_cycle(keepa)
    before_tokens, before = product_tokens(keepa), product_calls(keepa)

    sync = ingest.run(trigger="test")

    _, asins = product_calls(keepa)
    assert asins - before[1] == 1, sync.summary()  # only the deal whose prices moved
    assert product_tokens(keepa) - before_tokens <= 13
    assert "re-checks skipped: offers unchanged" in sync.note
    moved.refresh_from_db()
    assert moved.enriched_at > timezone.now() - timedelta(minutes=5)
    assert moved.seller_line == SellerLine.CHECKED
    assert moved.now_seller_id in keepa.market_offers(moved.asin)
    # The others are confirmed as they are, and wait a full interval before being asked again.
    quiet = Deal.objects.exclude(asin=moved.asin)
    assert not quiet.filter(offers_confirmed_at__isnull=True).exists()
    assert offers_queue.backlog(load_config(), timezone.now()) == 0


def test_the_token_plan_is_on_the_status_line_and_its_page(keepa):
    keepa.quiet(True)
    # A quarter of the 20-token plan's bucket: a few dozen look-ups, most deals still wait.
    keepa.keys(key=SECRET, tokens=300, refill_rate=20)
    ingest.run(trigger="test")
    client = reader()
    waiting = offers_queue.backlog(load_config(), timezone.now())
    assert waiting > 0

    line = client.get("/status").content.decode()
    assert f"Sellers: {waiting:,} deals wait for a check" in line
    assert "to clear" in line and 'href="/tokens"' in line

    page = client.get("/tokens").content.decode()
    plan = plan_tokens(20, Deal.objects.count(), load_config())
    assert "20 tokens a minute" in page and "1,200 an hour" in page
    assert f"{plan.sweep_per_hour:,} tokens an hour" in page
    assert f"{plan.verify_per_hour:,} tokens an hour" in page
    assert f"{plan.offers_per_hour:,} tokens an hour" in page
    # The top pages read between whole-list sweeps, and what they buy.
    assert plan.top_per_hour > 0 and f"{plan.top_per_hour:,} tokens an hour" in page
    assert "the dashboard's first page confirmed every 5 min" in page
    assert f"{waiting:,} of {Deal.objects.count():,} deals" in page
    hours = waiting / (plan.offers_per_hour // offers_queue.TYPICAL_LOOKUP_TOKENS)
    assert "Time to clear: <strong>about" in page and f"{hours:.1f} h" in page

    # The figures are kept between polls, and the next run's look-ups show at once.
    next_cycle(keepa)
    keepa.keys(key=SECRET, tokens=300, refill_rate=20)
    ingest.run(trigger="test")
    still = offers_queue.backlog(load_config(), timezone.now())
    assert still < waiting
    assert f"Sellers: {still:,} deals wait for a check" in client.get("/status").content.decode()


def test_a_small_backlog_clears_with_the_next_scheduled_sync_not_sooner():
    from deals.token_plan import PlanView

    config = load_config()
    assert config.update_every_minutes == 5
    plan = plan_tokens(200, 800, config)

    def view(backlog: int) -> PlanView:
        return PlanView(
            plan=plan,
            deals=800,
            backlog=backlog,
            new_or_drops=backlog,
            sync_every_minutes=config.update_every_minutes,
        )

    # 27 look-ups take a minute of tokens, but they run with the sync every 5 minutes.
    assert view(27).clear_text == "up to 5 min"
    assert view(0).clear_text == "nothing waits"
    assert view(20_000).clear_text.startswith("about ")
