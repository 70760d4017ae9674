"""List at, Min list and the Buy link: worked examples with the shipped seller costs."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from deals import economics, listing
from deals.config import load_config

# settings.json as shipped: prep 0.50, inbound 0.40, closing 1.80, tax 8.25 %, markup 50 %.
COSTS = load_config().seller_costs
FEES = {"fbaFees": {"pickAndPackFee": 344}, "referralFeePercentage": 15.0}


def stats(avg90: int = -1, avg365: int = -1) -> dict:
    a90, a365 = [-1] * 36, [-1] * 36
    a90[2], a365[2] = avg90, avg365
    return {"stats": {"avg90": a90, "avg365": a365}}


def offer(price: int, *, fba: bool, condition: int = 4, shipping: int = 0) -> dict:
    return {"sellerId": "A1", "condition": condition, "isFBA": fba, "price": price,
            "shipping": shipping}  # fmt: skip


def deal(snapshot: dict | None, *, avg_price: int = 4000, buy: int = 1500) -> SimpleNamespace:
    return SimpleNamespace(
        asin="0312850123",
        price_type=2,  # the shipped query: used
        now_total=buy,
        now_price=buy,
        est_landed=buy,
        buy_price_checked=True,
        avg_price=avg_price,
        product_snapshot=snapshot,
    )


def test_the_shipped_costs_are_the_ones_these_examples_assume():
    assert (COSTS.prep_fee_cents, COSTS.inbound_shipping_cents, COSTS.closing_fee_cents) == (
        50,
        40,
        180,
    )
    assert (COSTS.sales_tax_percent, COSTS.target_markup_percent) == (8.25, 50)


def test_with_fba_competition_list_at_the_lowest_fba_used_offer():
    snapshot = FEES | stats(avg90=2800, avg365=3000)
    snapshot["offers"] = [
        offer(2600, fba=True, condition=3),
        offer(2450, fba=True, condition=4),
        offer(1999, fba=False, shipping=399),  # merchant-fulfilled: not the FBA competition
        offer(1900, fba=True, condition=1),  # a new copy: not the used competition
    ]
    assert listing.list_at(deal(snapshot)) == listing.ListAt(2450, listing.LOWEST_FBA)


def test_without_fba_competition_list_at_the_90_day_average():
    snapshot = FEES | stats(avg90=2800, avg365=3000) | {"offers": [offer(1999, fba=False)]}
    assert listing.list_at(deal(snapshot)) == listing.ListAt(2800, listing.AVERAGE_90)


def test_list_at_is_never_above_125_percent_of_the_365_day_average():
    # One lone FBA copy at $50.00 on a book that sold around $30.00 all year.
    snapshot = FEES | stats(avg90=2800, avg365=3000) | {"offers": [offer(5000, fba=True)]}
    assert listing.list_at(deal(snapshot)) == listing.ListAt(3750, listing.CAPPED)


def test_before_the_offers_look_up_list_at_is_the_deals_average_and_says_so():
    assert listing.list_at(deal(None, avg_price=4000)) == listing.ListAt(4000, listing.DEAL_AVERAGE)
    assert listing.list_at(deal(None, avg_price=None)) is None


def test_profit_is_counted_at_list_at_not_at_the_average():
    # The deal's average says $40.00, but FBA copies sell at $24.50: buying at $15.00 loses.
    snapshot = FEES | stats(avg90=2800, avg365=3000) | {"offers": [offer(2450, fba=True)]}
    e = economics.for_deal(deal(snapshot), COSTS)
    assert e.sale_price == 2450
    assert e.all_in_cost == 1500 + 124 + 50 + 40 == 1714
    assert e.referral_fee == 368  # 15 % of 24.50 = 3.675, half up
    assert e.profit == 2450 - (368 + 180 + 344) - 1714 == -156


def test_min_list_is_the_lowest_price_that_still_makes_the_markup():
    # All-in 17.14; fees 15 % + 1.80 + 3.44; 50 % of 17.14 = 8.57 profit needed:
    # (17.14 x 1.5 + 1.80 + 3.44) / 0.85 = 36.4118 -> $36.41 makes exactly 8.57.
    assert economics.min_list_for_deal(deal(FEES), COSTS) == 3641
    at, below = (
        economics.compute(
            buy_total=1500,
            sale_price=price,
            referral_percent=Decimal(15),
            fba_fee=344,
            costs=COSTS,
        )
        for price in (3641, 3640)
    )
    assert at.profit == 857 and at.roi_percent == 50.0
    assert below.roi_percent < 50


def test_min_list_needs_the_fees_but_not_a_sale_price():
    assert economics.min_list_for_deal(deal(FEES, avg_price=None), COSTS) == 3641
    assert economics.min_list_for_deal(deal({}), COSTS) is None


def test_the_buy_link_opens_amazons_used_offers_for_the_asin():
    assert listing.buy_url("0312850123", 2) == (
        "https://www.amazon.com/gp/offer-listing/0312850123/?condition=used"
    )
    assert listing.buy_url("B0D8W1YVBX", 1).endswith("/B0D8W1YVBX/?condition=new")


def test_the_fba_copy_being_bought_is_not_the_price_to_list_against():
    # The cheapest copy is an FBA one at $25.66: bought, it is gone, and the next FBA copy,
    # $120.94, is the price to meet (listed against itself, a deal 78 % below its average
    # showed a loss).
    bought = {**offer(2566, fba=True), "sellerId": "ABUYME"}
    snapshot = (
        FEES | stats(avg90=11700, avg365=11700) | {"offers": [bought, offer(12094, fba=True)]}
    )
    row = SimpleNamespace(**{**vars(deal(snapshot, buy=2566)), "now_seller_id": "ABUYME"})

    assert listing.list_at(row) == listing.ListAt(12094, listing.LOWEST_FBA)
    assert economics.for_deal(row, COSTS).profit > 0

    # Another seller's FBA copy at the same price still competes; with only the bought copy
    # left, the 90-day average is what it sells around.
    twin = {**offer(2566, fba=True), "sellerId": "AOTHER"}

    def listed_with(offers: list[dict]) -> listing.ListAt | None:
        return listing.list_at(
            SimpleNamespace(**{**vars(row), "product_snapshot": {**snapshot, "offers": offers}})
        )

    assert listed_with([bought, twin]) == listing.ListAt(2566, listing.LOWEST_FBA)
    assert listed_with([bought]) == listing.ListAt(11700, listing.AVERAGE_90)
