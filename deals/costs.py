"""Save the seller's costs into settings.json and recompute the economics columns (0 tokens)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deals import tasks
from deals.columns import computed_from
from deals.config import SellerCosts, write_seller_costs

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

ECONOMICS_COLUMNS = [c.name for c in computed_from("seller_costs")]
# Declared on Deal's Meta (its costs decide the deals' economics).
CHANGE_COSTS_PERMISSION = "deals.change_seller_costs"


def save_seller_costs(costs: SellerCosts) -> bool:
    """Write `costs` into settings.json and see them recomputed; False if nothing changed.

    A recompute is queued unless one is queued already (it reads the costs just written).
    """
    if not write_seller_costs(costs):
        return False
    tasks.queue_recompute(ECONOMICS_COLUMNS)
    return True


def can_change_costs(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff may change the costs; anyone else needs the permission, granted in the admin
    (to a user, or to a group such as "Cost editors"). Everyone logged in may view them."""
    return bool(user.is_staff or user.has_perm(CHANGE_COSTS_PERMISSION))
