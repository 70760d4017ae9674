from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from deals import columns, economics
from deals.config import SellerCosts, load_config
from deals.models import Deal

COSTS = SellerCosts(
    prep_fee_cents=50,
    inbound_shipping_cents=40,
    closing_fee_cents=180,
    sales_tax_percent=8.25,
    tax_exempt=False,
    target_markup_percent=50,
)


def worked_example(**costs: object) -> economics.Economics:
    """The README's example: a used book at $15.00 delivered, averaging $40.00."""
    deal = SimpleNamespace(
        now_total=1500,
        now_price=1500,
        est_landed=1500,
        buy_price_checked=True,
        price_type=2,
        avg_price=4000,
        product_snapshot={"fbaFees": {"pickAndPackFee": 344}, "referralFeePercentage": 15.0},
    )
    return economics.for_deal(deal, SellerCosts(**{**COSTS.__dict__, **costs}))


def test_the_worked_example_to_the_cent():
    e = worked_example()
    assert e.sales_tax == 124  # 1500 x 8.25 % = 123.75, rounded half up
    assert e.all_in_cost == 1500 + 124 + 50 + 40 == 1714
    assert e.referral_fee == 600
    assert e.amazon_fees == 600 + 180 + 344 == 1124
    assert e.profit == 4000 - 1124 - 1714 == 1162
    assert e.margin_percent == 29.1  # 29.05 rounded half up
    assert e.roi_percent == 67.8  # 67.79...
    assert e.max_buy_total == 1688


def test_max_buy_is_the_last_cent_that_still_makes_the_target_markup():
    e = worked_example()
    at_max = economics.compute(
        buy_total=e.max_buy_total,
        sale_price=4000,
        referral_percent=Decimal(15),
        fba_fee=344,
        costs=COSTS,
    )
    one_more = economics.compute(
        buy_total=e.max_buy_total + 1,
        sale_price=4000,
        referral_percent=Decimal(15),
        fba_fee=344,
        costs=COSTS,
    )
    assert at_max.roi_percent >= 50 > one_more.roi_percent


def test_a_tax_exempt_seller_pays_no_sales_tax():
    e = worked_example(tax_exempt=True)
    assert e.sales_tax == 0
    assert e.all_in_cost == 1590
    assert e.profit == 1286
    assert e.roi_percent == 80.9


FEES = {"fbaFees": {"pickAndPackFee": 344}, "referralFeePercentage": 15.0}


def test_the_landed_estimate_is_the_buy_price_while_no_offer_is_checked():
    # Now is the item price alone; the estimate adds shipping: the profit counts the estimate.
    deal = SimpleNamespace(
        now_total=None,
        now_price=1450,
        est_landed=1849,
        buy_price_checked=False,
        price_type=2,
        avg_price=4000,
        product_snapshot=FEES,
    )
    e = economics.for_deal(deal, COSTS)
    assert e.buy_total == 1849
    assert (
        e.profit
        == economics.compute(
            buy_total=1849, sale_price=4000, referral_percent=Decimal(15), fba_fee=344, costs=COSTS
        ).profit
    )


def test_a_pending_look_up_never_buys_below_the_estimate():
    # A drop waits for its seller: the last offer (1500) is gone for all we know, and the
    # new item price (1200) lacks shipping; the estimate (1599) is the floor.
    deal = SimpleNamespace(
        now_total=1400,
        now_price=1200,
        est_landed=1599,
        buy_price_checked=False,
        price_type=2,
        avg_price=4000,
        product_snapshot=FEES,
    )
    assert economics.for_deal(deal, COSTS).buy_total == 1599


def test_a_checked_offer_is_the_buy_price_even_below_the_estimate():
    # The look-up found a copy with free shipping: the estimate's typical shipping is moot.
    deal = SimpleNamespace(
        now_total=1450,
        now_price=1450,
        est_landed=1849,
        buy_price_checked=True,
        price_type=2,
        avg_price=4000,
        product_snapshot=FEES,
    )
    assert economics.for_deal(deal, COSTS).buy_total == 1450


def test_the_higher_of_now_and_the_last_offer_counts_while_the_seller_catches_up():
    # Now rose above the cheapest offer seen: that copy sold; do not promise its profit.
    deal = SimpleNamespace(
        now_total=1500,
        now_price=2100,
        est_landed=None,
        buy_price_checked=True,
        price_type=2,
        avg_price=4000,
        product_snapshot=FEES,
    )
    assert economics.for_deal(deal, COSTS).buy_total == 2100


def test_without_fee_data_or_an_average_there_is_no_answer_rather_than_a_wrong_one():
    checked = {"now_total": 1500, "now_price": 1500, "est_landed": 1500, "buy_price_checked": True}
    no_fees = SimpleNamespace(**checked, price_type=2, avg_price=4000, product_snapshot={})
    no_avg = SimpleNamespace(
        **checked,
        price_type=2,
        avg_price=None,
        product_snapshot={"fbaFees": {"pickAndPackFee": 344}},
    )
    assert economics.for_deal(no_fees, COSTS) is None
    assert economics.for_deal(no_avg, COSTS) is None


def test_keepas_fractional_referral_percent_is_used_as_sent():
    e = economics.compute(
        buy_total=1500,
        sale_price=4000,
        referral_percent=Decimal("15.01"),
        fba_fee=409,
        costs=COSTS,
    )
    assert e.referral_fee == 600  # 600.4 rounds down
    assert e.amazon_fees == 600 + 180 + 409


# -- the columns a sweep sets (deals/columns.py `recompute`) ---------------------------------


@pytest.mark.django_db
def test_a_new_estimate_set_in_the_same_pass_is_what_every_economics_column_buys_at():
    # The row still holds last sweep's estimate ($12.00); this /deal object says a copy now
    # costs $20.00 delivered. Profit, ROI and the rest must all buy at $20.00, not at $12.00.
    deal = Deal(
        asin="B000000001",
        price_type=2,
        now_price=1800,
        avg_price=4000,
        est_landed=1200,
        deal_snapshot={"current": [-1, -1, 1800] + [-1] * 17 + [2000] + [-1] * 15},
        product_snapshot=FEES,
    )

    columns.recompute([deal], columns.COMPUTED, load_config())

    assert not deal.buy_price_checked and deal.est_landed == 2000
    expected = economics.for_deal(deal, load_config().seller_costs)
    assert expected.buy_total == 2000
    assert (deal.all_in_cost, deal.profit, deal.roi_percent, deal.max_buy_total) == (
        expected.all_in_cost,
        expected.profit,
        expected.roi_percent,
        expected.max_buy_total,
    )
    assert not hasattr(deal, "_worked_out")  # nothing of the pass is left on the row
