"""Save the seller's costs into settings.json and recompute the economics columns (0 tokens)."""

from __future__ import annotations

from deals import tasks
from deals.columns import computed_from
from deals.config import SellerCosts, write_seller_costs

ECONOMICS_COLUMNS = [c.name for c in computed_from("seller_costs")]


def save_seller_costs(costs: SellerCosts) -> bool:
    """Write `costs` into settings.json and see them recomputed; False if nothing changed.

    A recompute is queued unless one is queued already (it reads the costs just written).
    """
    if not write_seller_costs(costs):
        return False
    tasks.queue_recompute(ECONOMICS_COLUMNS)
    return True
