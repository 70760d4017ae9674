"""Reseller economics: what a deal costs all-in and what it earns, in whole cents.

Money is rounded half up to the cent at each step (tax, referral fee); percentages are
rounded half up to one decimal. The expected sale price is `list_at` (deals/listing.py): the
price you would list at, chosen by a stated rule from the offers and the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from deals import listing
from deals.config import SellerCosts

DEFAULT_REFERRAL_PERCENT = Decimal("15")  # Amazon's referral fee for books and most media


@dataclass(frozen=True)
class Economics:
    buy_total: int
    sale_price: int
    sales_tax: int
    all_in_cost: int
    referral_fee: int
    fba_fee: int
    amazon_fees: int
    profit: int
    margin_percent: float
    roi_percent: float
    max_buy_total: int
    min_list: int


def _cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _percent(part: int, whole: int) -> float:
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def fees_from_snapshot(snapshot: dict[str, Any] | None) -> tuple[Decimal, int] | None:
    """(referral %, FBA pick-and-pack fee in cents) from a stored product, or None if unknown."""
    if not snapshot:
        return None
    fba = (snapshot.get("fbaFees") or {}).get("pickAndPackFee")
    if fba is None or fba < 0:
        return None
    referral = snapshot.get("referralFeePercentage")
    percent = DEFAULT_REFERRAL_PERCENT if referral is None else Decimal(str(referral))
    return percent, int(fba)


def _all_in(buy_total: int, costs: SellerCosts) -> tuple[Decimal, int, int]:
    """(tax rate, sales tax, all-in cost) of buying at `buy_total`."""
    tax_rate = Decimal(0) if costs.tax_exempt else Decimal(str(costs.sales_tax_percent)) / 100
    sales_tax = _cents(buy_total * tax_rate)
    return (
        tax_rate,
        sales_tax,
        buy_total + sales_tax + costs.prep_fee_cents + costs.inbound_shipping_cents,
    )


def compute(
    *,
    buy_total: int | None,
    sale_price: int | None,
    referral_percent: Decimal,
    fba_fee: int,
    costs: SellerCosts,
) -> Economics | None:
    if buy_total is None or sale_price is None or sale_price <= 0:
        return None
    tax_rate, sales_tax, all_in = _all_in(buy_total, costs)
    referral = _cents(sale_price * referral_percent / 100)
    amazon_fees = referral + costs.closing_fee_cents + fba_fee
    profit = sale_price - amazon_fees - all_in
    # The highest total you could pay and still earn the target markup on the all-in cost:
    # (1 + markup) * (b * (1 + tax) + prep + inbound) <= sale - fees, solved for b.
    markup = Decimal(str(costs.target_markup_percent)) / 100
    room = Decimal(sale_price - amazon_fees) / (1 + markup)
    room -= costs.prep_fee_cents + costs.inbound_shipping_cents
    max_buy = int((room / (1 + tax_rate)).quantize(Decimal(1), rounding=ROUND_FLOOR))
    return Economics(
        buy_total=buy_total,
        sale_price=sale_price,
        sales_tax=sales_tax,
        all_in_cost=all_in,
        referral_fee=referral,
        fba_fee=fba_fee,
        amazon_fees=amazon_fees,
        profit=profit,
        margin_percent=_percent(profit, sale_price),
        roi_percent=_percent(profit, all_in) if all_in > 0 else 0.0,
        max_buy_total=max(max_buy, 0),
        min_list=min_list_price(all_in, referral_percent, fba_fee, costs),
    )


def _reaches_markup(
    sale: int, all_in: int, referral_percent: Decimal, fba_fee: int, costs: SellerCosts
) -> bool:
    referral = _cents(sale * referral_percent / 100)
    profit = sale - referral - costs.closing_fee_cents - fba_fee - all_in
    return profit * 100 >= all_in * Decimal(str(costs.target_markup_percent))


def min_list_price(all_in: int, referral_percent: Decimal, fba_fee: int, costs: SellerCosts) -> int:
    """The lowest list price (cents) whose profit is at least the target markup on `all_in`.

    Profit = list - referral(list) - closing - FBA fee - all-in must be >= markup x all-in,
    so list >= (all-in x (1 + markup) + closing + FBA fee) / (1 - referral %); the referral
    fee is rounded to the cent, so the closed form is checked and moved by a cent or two.
    """
    markup = Decimal(str(costs.target_markup_percent)) / 100
    need = all_in * (1 + markup) + costs.closing_fee_cents + fba_fee
    share = 1 - referral_percent / 100
    if share <= 0:
        raise ValueError("a referral fee of 100 % or more leaves nothing to list at")
    sale = int((need / share).quantize(Decimal(1), rounding=ROUND_FLOOR))
    while not _reaches_markup(sale, all_in, referral_percent, fba_fee, costs):
        sale += 1
    while sale > 0 and _reaches_markup(sale - 1, all_in, referral_percent, fba_fee, costs):
        sale -= 1
    return sale


def buy_total(deal: Any) -> int | None:
    """What buying costs: the checked cheapest offer's total, else the landed estimate.

    Until an offers look-up has checked the copy (`Deal.buy_price_checked`), the estimate
    from the deal's landed prices counts and nothing lower does: a profit must never be
    overstated while a seller look-up is pending. Now and the last offer also count, the
    higher winning: a Now above the last offer means that copy sold and the look-up has not
    caught up.
    """
    known = [deal.now_total, deal.now_price]
    if not deal.buy_price_checked:
        known.append(deal.est_landed)
    known = [v for v in known if v is not None]
    return max(known) if known else None


def for_deal(deal: Any, costs: SellerCosts) -> Economics | None:
    """Economics of a stored deal: buy at the checked offer or the estimate, sell at `list_at`."""
    fees = fees_from_snapshot(deal.product_snapshot)
    if fees is None:
        return None
    buy = buy_total(deal)
    sale = listing.list_at(deal)
    return compute(
        buy_total=buy,
        sale_price=sale.cents if sale else None,
        referral_percent=fees[0],
        fba_fee=fees[1],
        costs=costs,
    )


def min_list_for_deal(deal: Any, costs: SellerCosts) -> int | None:
    """`min_list` of a stored deal: needs the fees and a buy price, not a sale price."""
    fees = fees_from_snapshot(deal.product_snapshot)
    buy = buy_total(deal)
    if fees is None or buy is None:
        return None
    return min_list_price(_all_in(buy, costs)[2], fees[0], fees[1], costs)
