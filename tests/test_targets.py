"""How a deal measures up to the reader's target markup: the marks the dashboard shows."""

from __future__ import annotations

from datetime import UTC, datetime

from deals.models import Deal
from deals.targets import verdict

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
TARGET = 50.0


def checked_deal(**fields) -> Deal:
    """A deal whose cheapest offer was looked up: its buy price is that offer."""
    values = {"now_total": 2000, "enriched_at": NOW, "est_landed": 1800, "max_buy_total": 2500}
    return Deal(**(values | fields))


def test_a_deal_at_or_above_the_target_carries_no_mark():
    result = verdict(checked_deal(profit=1200, roi_percent=50.0), TARGET)
    assert not result.misses


def test_roi_under_the_target_markup_is_below_target():
    result = verdict(checked_deal(profit=600, roi_percent=35.3, max_buy_total=1900), TARGET)
    assert result.below_target and not result.loss
    assert result.over_max_buy and result.over_by == 100  # $20.00 against $19.00


def test_a_negative_profit_is_a_loss_rather_than_below_target():
    result = verdict(checked_deal(profit=-250, roi_percent=-9.0), TARGET)
    assert result.loss and not result.below_target and result.misses


def test_an_unchecked_deal_is_judged_by_its_estimated_buy_price():
    # Offers not looked up yet: the estimate ($18.00) is the buy price, not a stale offer.
    deal = Deal(now_total=None, est_landed=1800, max_buy_total=1700, profit=100, roi_percent=5)
    result = verdict(deal, TARGET)
    assert result.over_max_buy and result.over_by == 100


def test_without_a_readable_target_only_losses_and_max_buy_are_marked():
    assert not verdict(checked_deal(profit=600, roi_percent=10.0), None).below_target
    assert verdict(checked_deal(profit=-1, roi_percent=-1.0), None).loss
