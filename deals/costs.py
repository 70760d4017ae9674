"""Save the seller's costs into settings.json and recompute the economics columns (0 tokens)."""

from __future__ import annotations

from deals import tasks
from deals.columns import computed_from
from deals.config import SellerCosts, write_seller_costs

ECONOMICS_COLUMNS = [c.name for c in computed_from("seller_costs")]


def save_seller_costs(costs: SellerCosts) -> str | None:
    """Write `costs` into settings.json and queue the recompute; None if nothing changed."""
    if not write_seller_costs(costs):
        return None
    return tasks.queue_recompute(ECONOMICS_COLUMNS)
