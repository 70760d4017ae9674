"""How a plan's tokens are split each hour: sweeps of the deal list, the top pages, 1-token
checks of deals in doubt, and what is left for offers look-ups.

Sweeps and checks come first because they decide whether a row is on the screen at all: a row
describing a deal that left Keepa's results is a phantom a reseller may buy into, whereas a
row whose seller was not looked up says so. Offers get the rest.

The arithmetic, with the figures of the 20-token plan and a 5,000-deal list:

- **Pages.** A /deal page holds 150 deals and costs 5 tokens (docs/keepa.md §4.1): a complete
  sweep reads ceil(5,000 / 150) = 34 pages, 170 tokens (Keepa's 10,000-deal cap makes 67
  pages, 335 tokens, the most a sweep can cost).
- **Complete sweeps.** Only a complete sweep shows that a deal left: an incremental pass reads
  the deals that changed, and a deal that stopped matching is not among them. A complete sweep
  every C minutes marks a deal that left `unverified` within C minutes (plus the run's own
  duration, seconds); the verifier, in the same run, settles it `left`. C is
  `DETECT_MINUTES` = 15 when the plan affords it, so the 95th percentile of that delay is
  0.95 x 15 = 14.25 min: inside the 15 minutes asked for `unverified`, and inside the 30 asked
  for `left`, with one more run (5 min) to spare if the check has to wait for tokens. On a
  plan that cannot pay for that, C stretches until sweeps take `SWEEP_MAX_SHARE` of the hourly
  refill, and never beyond settings.json's `full_sweep_every_minutes` (the slowest cadence the
  user accepts, which then costs what it costs). C is a whole number of update intervals,
  because sweeps only happen when a run does.
  At 20 tokens/min: 1,200 tokens/hour; 70 % of that, less 12 incremental pages (60), leaves
  780 for complete sweeps, which affords one every 170 x 60 / 780 ≈ 14 min: C = 15.
- **Incremental runs.** The other runs read the newest page or so (`INCREMENTAL_PAGES`):
  12 runs an hour at 5 minutes, 4 of them complete sweeps: 8 x 5 = 40 tokens. Sweeps:
  4 x 170 + 40 = 720 tokens/hour.
- **Top pages.** The runs without a complete sweep (8 an hour) read page 0 of the query sorted
  by percentage delta and by absolute delta (`TOP_SORT_TYPES`, deals/top_pages.py): 2 pages,
  10 tokens a run, 80 tokens/hour. They confirm the top rows of both value sorts every run,
  and catch a top row that left by its absence. They are paid after the checks: a plan whose
  refill after sweeps cannot pay both reads none, and its top rows wait for the re-checks.
- **Checks.** In the calibrated market about 4.3 % of a list's deals leave it each hour (34
  of 793 in a measured hour, seed 1, 6,000 products); `LEAVE_SHARE_PER_HOUR` = 5 % pays one
  1-token check for each, 250 for 5,000 deals, plus `RECHECK_PER_HOUR` = 60 for the top rows
  not seen for a while: 310 tokens/hour.
- **Offers.** The rest: 1,200 - 720 - 80 - 310 = 90 tokens/hour, about 12 look-ups at 7-8
  tokens, and the bucket's surplus (below). On 200 tokens/min the same list leaves 10,890
  tokens/hour for offers.

A run's allowance for a share is `allowance(per_hour, minutes since the last run)`, bounded
by what the run's Budget (deals/keepa.py) may spend. The refill rate is the one Keepa reports
with every answer.

**The surplus goes to offers.** The hourly split says what the refill can pay for; the bucket
may hold more. Keepa's bucket stops filling at an hour's refill, 60 x the rate (its plan text:
unused tokens expire after an hour, docs/keepa.md §2), so a token held beyond what the sweeps
and checks will need is a refill thrown away later, and nothing the split plans for needs it:
every share is paid from the refill. A run's offers share is therefore the larger of

- the planned share, `allowance(offers_per_hour, minutes since the last run)`, and
- the surplus: the balance after this run's sweep and checks, less `token_reserve`, less
  what the truth of the list needs before more tokens are certain (`held_for_truth`): the next
  run's sweep at its dearest, a complete one, and the checks and top pages of one
  complete-sweep cycle (the leavers a complete sweep finds, 5 % of the list an hour, plus the
  hour's re-checks, at most an hour's worth).

Both are bounded by the run's Budget and the enricher's cap on calls. `held_for_truth` does not
depend on the refill rate, so with a rate Keepa did not report (0) the bucket still keeps the
next sweep and its checks, and offers get only what is above them. For the 20-token plan and
5,000 deals it holds 170 + 310 x 15 / 60 + 80 x 15 / 60 = 267 tokens: a run that finds the
bucket full (1,200) spends all but the reserve and those 267 on the most valuable offers
look-ups, and a run that finds at most reserve + 267 left spends the planned share only,
which the split's steady state was sized for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deals.config import DealSettings
from keepa_client.client import DEAL_PAGE_COST, LAST_DEAL_PAGE

DEALS_PER_PAGE = 150
# The cadence of complete sweeps that meets "a deal that leaves is shown unverified or left
# within 15 minutes" (see the module docstring for the percentile).
DETECT_MINUTES = 15
# At most this share of the hourly refill goes to sweeps when the cadence must stretch.
SWEEP_MAX_SHARE = 0.7
# Pages an incremental run reads on a steady list (the changes since the last run fit one).
INCREMENTAL_PAGES = 1
# Share of the list expected to leave each hour, each settled by one 1-token check.
LEAVE_SHARE_PER_HOUR = 0.05
# 1-token re-checks of top rows not seen on a page for a while, per hour.
RECHECK_PER_HOUR = 60
# The /deal sorts whose first page every run without a complete sweep reads: Keepa's
# percentage and absolute delta, descending (docs/keepa.md §4.2), the orders nearest the
# dashboard's % below average and Profit (deals/top_pages.py).
TOP_SORT_TYPES = (4, 2)


@dataclass(frozen=True)
class TokenPlan:
    refill_per_minute: int
    complete_sweep_every_minutes: int  # cadence of complete /deal sweeps
    sweep_per_hour: int  # tokens/hour for incremental + complete sweeps
    verify_per_hour: int  # tokens/hour for 1-token product checks
    offers_per_hour: int  # tokens/hour left for offers look-ups
    top_per_hour: int = 0  # tokens/hour for the first page of each of TOP_SORT_TYPES


def sweep_pages(deal_count: int) -> int:
    """Pages a complete sweep of `deal_count` deals reads (Keepa lists at most 10,000)."""
    return min(LAST_DEAL_PAGE + 1, max(1, math.ceil(deal_count / DEALS_PER_PAGE)))


def checks_per_hour(deal_count: int) -> int:
    """1-token checks an hour the list needs: its expected leavers and the top rows' re-checks."""
    return math.ceil(deal_count * LEAVE_SHARE_PER_HOUR) + RECHECK_PER_HOUR


def plan_tokens(refill_per_minute: int | None, deal_count: int, config: DealSettings) -> TokenPlan:
    """Split an hour of `refill_per_minute` between sweeps, checks and offers for a list of
    `deal_count` deals (see the module docstring for the figures). An unknown rate (None)
    plans as 0: the slowest sweeps the user accepts, nothing planned for offers."""
    refill = max(0, refill_per_minute or 0)
    hourly = refill * 60
    every = max(1, config.update_every_minutes)
    runs_per_hour = 60 / every
    sweep_cost = DEAL_PAGE_COST * sweep_pages(deal_count)
    incremental_cost = DEAL_PAGE_COST * INCREMENTAL_PAGES
    # What complete sweeps may take per hour before the cadence stretches; the incremental
    # runs are counted as if every run were one (a complete sweep includes its first page).
    room = hourly * SWEEP_MAX_SHARE - runs_per_hour * incremental_cost
    affordable = math.ceil(sweep_cost * 60 / room) if room > 0 else config.full_sweep_every_minutes
    cadence = max(DETECT_MINUTES, affordable, every)
    cadence = every * math.ceil(cadence / every)
    cadence = min(cadence, max(every, config.full_sweep_every_minutes))
    complete_per_hour = 60 / cadence
    incremental_runs = max(0.0, runs_per_hour - complete_per_hour)
    sweep = math.ceil(complete_per_hour * sweep_cost + incremental_runs * incremental_cost)
    left = max(0, hourly - sweep)
    checks = checks_per_hour(deal_count)
    # The top pages only once the checks are paid for: they shorten how long a top row that
    # left stays listed, the checks are what settles any row at all.
    top = math.ceil(incremental_runs * top_pages_cost())
    top = top if left >= top + checks else 0
    left -= top
    verify = min(left, checks)
    return TokenPlan(
        refill_per_minute=refill,
        complete_sweep_every_minutes=cadence,
        sweep_per_hour=sweep,
        verify_per_hour=verify,
        offers_per_hour=max(0, left - verify),
        top_per_hour=top,
    )


def top_pages_cost() -> int:
    """Tokens a run's read of the top pages costs (one /deal page of each sort)."""
    return DEAL_PAGE_COST * len(TOP_SORT_TYPES)


def allowance(per_hour: int, minutes: float) -> int:
    """Tokens a share may spend in a run `minutes` after the last one (at most an hour's)."""
    return int(per_hour * min(max(minutes, 0.0), 60.0) / 60)


def held_for_truth(plan: TokenPlan, deal_count: int) -> int:
    """Tokens the bucket keeps for the sweeps and checks before any surplus goes to offers:
    the next run's sweep at its dearest (a complete sweep of `deal_count` deals) and the
    checks of one complete-sweep cycle (at most an hour's). Whatever the refill rate."""
    sweep = DEAL_PAGE_COST * sweep_pages(deal_count)
    cycle = plan.complete_sweep_every_minutes
    return (
        sweep + allowance(checks_per_hour(deal_count), cycle) + allowance(plan.top_per_hour, cycle)
    )


def offers_share(
    plan: TokenPlan, deal_count: int, minutes: float, balance: int, reserve: int
) -> int:
    """Tokens a run may spend on offers look-ups `minutes` after the last run, with `balance`
    tokens left after its sweep and checks: the planned share, or the surplus above the
    reserve and `held_for_truth` when that is more (see the module docstring)."""
    planned = allowance(plan.offers_per_hour, minutes)
    surplus = balance - reserve - held_for_truth(plan, deal_count)
    return max(planned, surplus, 0)
