"""The landed estimate: what the cheapest copy costs delivered before an offers look-up.

Keepa's USED price (`current[2]`) leaves shipping out; the estimate must never let the app buy
below what a live copy costs (DESIGN rule 9). Checked on the rule itself, on the real /deal
samples, against every deal of the calibrated simulator's market, and on the price-rise rule
(a rise of the item price alone no longer says the cheapest copy went).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from deals import economics, ingest, landed
from deals.config import load_config
from deals.jobs import Run
from deals.models import Deal, DealEvent, SyncRun
from keepa_client import wire
from keepa_simulator import SimulatorServer, profiles
from tests.conftest import SIMULATOR_PRODUCTS, SimulatorHandle
from tests.deals_fixtures import ROOT, SECRET, fast_client, next_cycle, write_settings

FIXTURES = ROOT / "tests" / "fixtures" / "keepa"
USED_CONDITIONS = (2, 3, 4, 5)


def current(**values: int) -> list[int]:
    """A deal's `current` array: -1 everywhere but the named types (`t2=1800`)."""
    array = [-1] * 36
    for name, value in values.items():
        array[int(name[1:])] = value
    return array


# --- the rule -----------------------------------------------------------------------------


def test_the_lowest_landed_used_price_is_the_estimate():
    # Very Good $20.00 delivered, Good $21.99 (the cheapest item, $18.00 + $3.99), box $22.50.
    estimate = landed.estimate(current(t2=1800, t20=2000, t21=2199, t32=2250), wire.USED)
    assert estimate == landed.Estimate(2000, landed.SOURCE_LANDED)


def test_without_landed_prices_the_estimate_is_the_item_price_plus_typical_shipping():
    estimate = landed.estimate(current(t2=1800), wire.USED)
    assert estimate == landed.Estimate(1800 + 399, landed.SOURCE_ITEM_PLUS_SHIPPING)


def test_landed_prices_below_the_item_price_are_not_believed_and_far_above_it_still_count():
    # 1700 < 1800: taken before the item price moved.
    stale = current(t2=1800, t19=1700)
    assert landed.estimate(stale, wire.USED) == landed.Estimate(
        1800 + 399, landed.SOURCE_ITEM_PLUS_SHIPPING
    )
    # 1800 + $30: heavy shipping or a price from another moment; either way the higher figure,
    # which cannot overstate a profit, rather than the item price plus typical shipping.
    heavy = current(t2=1800, t19=1700, t22=1800 + 3000)
    assert landed.estimate(heavy, wire.USED) == landed.Estimate(1800 + 3000, landed.SOURCE_LANDED)
    # The lowest believable landed price wins.
    mixed = current(t2=1800, t19=1700, t21=2150, t22=1800 + 3000)
    assert landed.estimate(mixed, wire.USED) == landed.Estimate(2150, landed.SOURCE_LANDED)


def test_only_the_conditions_the_price_type_accepts_count():
    # A query on Used - Good (21) is already landed: its own price is the estimate, and a
    # cheaper Like New copy (19) is not what it buys.
    array = current(t2=1500, t19=1600, t21=2100)
    assert landed.estimate(array, wire.USED_GOOD_SHIPPING) == landed.Estimate(2100, "landed")
    # New items: the used landed prices say nothing about them.
    assert landed.estimate(current(t1=3000, t19=1600), wire.NEW) == landed.Estimate(
        3399, landed.SOURCE_ITEM_PLUS_SHIPPING
    )
    assert landed.estimate(current(t3=5000), wire.SALES_RANK) == landed.Estimate(None, "")
    assert landed.estimate(current(), wire.USED) == landed.Estimate(None, "")


def test_on_the_real_samples_the_estimate_is_never_below_the_item_price_and_mostly_landed():
    for path in sorted(FIXTURES.glob("deal_response*.json")):
        deals = json.loads(path.read_text())["deals"]["dr"]
        estimates = [
            (d["current"][2], landed.estimate(d["current"], wire.USED))
            for d in deals
            if d["current"][2] > 0
        ]
        assert estimates, path.name
        assert all(e.cents >= item for item, e in estimates), path.name
        from_landed = [e for _, e in estimates if e.source == landed.SOURCE_LANDED]
        # Most real deals carry believable landed used prices (docs/keepa.md §11).
        assert len(from_landed) > 0.8 * len(estimates), path.name
        # And the item price alone would understate most of them: shipping is extra.
        assert sum(e.cents > item for item, e in estimates) > 0.5 * len(estimates), path.name


def test_whether_the_landed_price_of_a_condition_says_its_copy_is_still_there():
    deal = current(t2=2000, t20=2000, t21=2399)
    assert landed.copy_still_there(deal, wire.USED, total=2000, condition=3) is True
    assert landed.copy_still_there(deal, wire.USED, total=2200, condition=4) is False
    # No Acceptable offer left while the deal carries landed prices: that copy went.
    assert landed.copy_still_there(deal, wire.USED, total=1900, condition=5) is False
    # No landed prices at all: no evidence either way.
    assert landed.copy_still_there(current(t2=2000), wire.USED, total=2000, condition=3) is None


# --- against the calibrated simulator -------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated_server() -> Iterator[SimulatorServer]:
    # The calibrated market: current[2] is the item price, shipping excluded. Its offers
    # look-ups that fail now and then have their own tests (tests/test_offers_retry.py); here
    # every staged deal must get its seller.
    profile = replace(profiles.get("calibrated"), offers_fail_rate=0.0)
    server = SimulatorServer(seed=3, products=SIMULATOR_PRODUCTS, profile=profile).start()
    yield server
    server.stop()


@pytest.fixture
def calibrated(calibrated_server, settings, tmp_path, db) -> SimulatorHandle:
    handle = SimulatorHandle(calibrated_server)
    handle.post("/_sim/reset")
    handle.quiet(True)  # the market holds still while a test compares it with the rows
    handle.keys(key=SECRET, tokens=50_000, refill_rate=1000)
    settings.KEEPA_API_URL = handle.url
    settings.KEEPA_API_KEY = SECRET
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    return handle


def cheapest_live_landed(handle: SimulatorHandle, asin: str) -> int:
    offers = handle.market.by_asin[asin].offers
    return min(
        o.price + max(o.shipping, 0) for o in offers if o.live and o.condition in USED_CONDITIONS
    )


def test_before_its_look_up_no_deal_of_a_calibrated_sweep_costs_less_than_its_estimate(
    calibrated,
):
    run = Run.detached(SyncRun.Kind.UPDATE, load_config(), fast_client(calibrated))
    run.keepa().token_status()  # the budget starts from the key's balance, as a run's does
    ingest.Sweep(run).run(True)  # the sweep alone: no offers looked up

    deals = list(Deal.objects.all())
    assert len(deals) > 100
    understated_by_now = exact = 0
    for deal in deals:
        cheapest = cheapest_live_landed(calibrated, deal.asin)
        assert not deal.buy_price_checked
        assert deal.est_landed >= cheapest, deal.asin
        assert economics.buy_total(deal) >= cheapest, deal.asin
        exact += deal.est_landed == cheapest
        understated_by_now += deal.now_price < cheapest
    # Keepa's landed prices make the estimate the cheapest copy itself, not a wild guess ...
    assert exact > 0.9 * len(deals)
    # ... where Now, the item price, would have understated the cost of most copies.
    assert understated_by_now > 0.5 * len(deals)


def staged_deal(handle: SimulatorHandle) -> str:
    """A used book deal whose cheapest copy delivered (Very Good, $30.00 with free shipping)
    is not its cheapest item ($28.00 + $3.99 shipping, Good). (The shipped query lists used
    prices from $20.00.)"""
    asin = handle.post(
        "/_sim/product",
        {
            "category": 283155,
            "reference_price": 8000,
            "seller_id": "ASTAYS0000001",
            "price": 3000,
            "condition": 3,
        },
    )["asin"]
    handle.set_offer(asin, "ACHEAPITEM0001", price=2800, shipping=399, condition=4)
    return asin


def run_app(handle: SimulatorHandle) -> SyncRun:
    next_cycle(handle)
    sync = ingest.run(trigger="test")
    assert sync.status == SyncRun.Status.OK, sync.summary()
    return sync


def test_a_rise_of_the_item_price_keeps_the_offer_the_landed_price_says_is_still_there(
    calibrated,
):
    asin = staged_deal(calibrated)
    run_app(calibrated)
    deal = Deal.objects.get(asin=asin)
    assert (deal.now_price, deal.now_total, deal.now_seller_id) == (2800, 3000, "ASTAYS0000001")
    assert deal.buy_price_checked

    # The cheap item sells: current[2] rises to $30.00, the Very Good copy still costs $30.00.
    calibrated.post("/_sim/remove_offer", {"asin": asin, "seller_id": "ACHEAPITEM0001"})
    sync = run_app(calibrated)

    deal.refresh_from_db()
    assert deal.now_price == 3000 and sync.price_drops == 0
    assert (deal.now_total, deal.now_seller_id) == (3000, "ASTAYS0000001")
    assert deal.buy_price_checked
    assert economics.buy_total(deal) == 3000
    assert not DealEvent.objects.filter(asin=asin, field="now_seller_id", new_value="").exists()


def test_a_rise_the_landed_price_confirms_replaces_the_offer_that_went(calibrated):
    asin = staged_deal(calibrated)
    run_app(calibrated)
    before = calibrated.stats()["products_requested"]

    # The Very Good copy sells and the Good seller asks $29.00: the item price rises and no
    # Very Good copy is left; the cheapest copy now costs $32.99 delivered.
    calibrated.post("/_sim/remove_offer", {"asin": asin, "seller_id": "ASTAYS0000001"})
    calibrated.set_offer(asin, "ACHEAPITEM0001", price=2900, shipping=399, condition=4)
    run_app(calibrated)

    deal = Deal.objects.get(asin=asin)
    assert deal.now_price == 2900
    # The copy that went is not shown; the rise queued a re-check, which the planner paid for
    # at once with this key's spare tokens: one look-up names the cheapest copy delivered.
    assert calibrated.stats()["products_requested"] == before + 1
    assert DealEvent.objects.filter(
        asin=asin, field="now_seller_id", old_value="ASTAYS0000001"
    ).exists()
    assert (deal.now_total, deal.now_seller_id) == (3299, "ACHEAPITEM0001")
    assert deal.buy_price_checked
    assert deal.est_landed == 3299 == cheapest_live_landed(calibrated, asin)
    expected = economics.for_deal(deal, load_config().seller_costs)
    assert expected.buy_total == 3299
    assert (deal.all_in_cost, deal.profit) == (expected.all_in_cost, expected.profit)


def test_the_landed_price_rising_alone_says_the_cheapest_copy_went(calibrated):
    asin = staged_deal(calibrated)
    run_app(calibrated)

    # The Very Good copy sells; the cheapest item ($28.00 + $3.99) stays: Now does not move.
    calibrated.post("/_sim/remove_offer", {"asin": asin, "seller_id": "ASTAYS0000001"})
    run_app(calibrated)

    deal = Deal.objects.get(asin=asin)
    assert deal.now_price == 2800
    # The Very Good copy's offer is gone from the row; the Good copy, stored at the last
    # look-up and re-checked since, is the cheapest delivered.
    assert (deal.now_total, deal.now_seller_id) == (3199, "ACHEAPITEM0001")
    assert deal.est_landed == 3199 and economics.buy_total(deal) == 3199


def test_a_copy_cheaper_delivered_at_the_same_item_price_is_looked_up_like_a_drop(calibrated):
    asin = staged_deal(calibrated)
    run_app(calibrated)
    before = calibrated.stats()["products_requested"]

    # A Like New copy at $28.50 with free shipping: the item price ($28.00) holds, but the
    # cheapest copy delivered is now $28.50, below the $30.00 offer shown.
    calibrated.set_offer(asin, "AFREESHIP00001", price=2850, shipping=0, condition=2)
    run_app(calibrated)

    deal = Deal.objects.get(asin=asin)
    assert deal.now_price == 2800
    assert calibrated.stats()["products_requested"] == before + 1
    assert (deal.now_total, deal.now_seller_id) == (2850, "AFREESHIP00001")
    assert deal.buy_price_checked and economics.buy_total(deal) == 2850
