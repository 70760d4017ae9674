"""How a deal measures up to the reader's own target: the cues the dashboard marks rows with.

The target is the markup on the all-in cost that settings.json's seller costs ask for
(`target_markup_percent`, the same number Max buy is solved for in deals/economics.py), so
ROI below it, a loss, and a buy price above Max buy are one reading of the user's costs,
not thresholds of this screen's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from deals.config import ConfigError, load_config
from deals.models import Deal


@dataclass(frozen=True)
class Verdict:
    """What a row is marked with; every flag false means the deal meets the target."""

    loss: bool = False  # profit below zero
    below_target: bool = False  # ROI below the target markup (and not a loss)
    over_max_buy: bool = False  # the buy price is above Max buy
    over_by: int | None = None  # by how much, in cents

    @property
    def misses(self) -> bool:
        return self.loss or self.below_target or self.over_max_buy


def target_markup() -> float | None:
    """The user's target markup in percent; None when settings.json cannot be read (the
    status line and the Costs page say why; the rows are then shown unmarked)."""
    try:
        return load_config().seller_costs.target_markup_percent
    except ConfigError:
        return None


def buy_price(deal: Deal) -> int | None:
    """What the cheapest copy costs delivered: the checked offer, else the estimate."""
    return deal.now_total if deal.buy_price_checked else deal.est_landed


def verdict(deal: Deal, target: float | None) -> Verdict:
    loss = deal.profit is not None and deal.profit < 0
    below = (
        not loss
        and target is not None
        and deal.roi_percent is not None
        and deal.roi_percent < target
    )
    price = buy_price(deal)
    over = price is not None and deal.max_buy_total is not None and price > deal.max_buy_total
    return Verdict(
        loss=loss,
        below_target=below,
        over_max_buy=over,
        over_by=price - deal.max_buy_total if over else None,
    )
