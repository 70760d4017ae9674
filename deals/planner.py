"""The token plan: how Keepa's refill is split between the sweeps, the verifier and the offers.

Keepa refills `refillRate` tokens a minute (sent with every answer). The sweeps come first
(the changes since the last run every `update_every_minutes`, and a complete sweep of the
list on a cadence), then the 1-token product checks of the verifier; the offers look-ups get
what is left. Pure arithmetic, no queries: the screen and the jobs both read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deals.config import DealSettings

DEALS_PER_PAGE = 150
# What one /deal page costs (docs/keepa.md §4.1).
TOKENS_PER_PAGE = 5
# The share of what the sweeps leave that goes to the 1-token product checks.
VERIFY_SHARE = 0.1


@dataclass(frozen=True)
class TokenPlan:
    refill_per_minute: int
    complete_sweep_every_minutes: int  # cadence of complete /deal sweeps
    sweep_per_hour: int  # tokens/hour for incremental + complete sweeps
    verify_per_hour: int  # tokens/hour for 1-token product checks
    offers_per_hour: int  # tokens/hour left for offers look-ups


def plan_tokens(refill_per_minute: int, deal_count: int, config: DealSettings) -> TokenPlan:
    """Split an hour's refill: sweeps first, then the verifier, the rest for offers."""
    per_hour = max(0, refill_per_minute) * 60
    cadence = config.full_sweep_every_minutes
    pages = max(1, math.ceil(deal_count / DEALS_PER_PAGE))
    incremental = TOKENS_PER_PAGE * 60 // max(1, config.update_every_minutes)
    complete = math.ceil(pages * TOKENS_PER_PAGE * 60 / cadence)
    sweep = min(per_hour, incremental + complete)
    verify = int((per_hour - sweep) * VERIFY_SHARE)
    return TokenPlan(
        refill_per_minute=refill_per_minute,
        complete_sweep_every_minutes=cadence,
        sweep_per_hour=sweep,
        verify_per_hour=verify,
        offers_per_hour=per_hour - sweep - verify,
    )
