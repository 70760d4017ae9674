"""The token planner's arithmetic: sweeps and checks are paid first, offers get the rest."""

from __future__ import annotations

from pathlib import Path

from deals.config import DealSettings
from deals.planner import (
    TOP_SORT_TYPES,
    TokenPlan,
    allowance,
    held_for_truth,
    offers_share,
    plan_tokens,
    sweep_pages,
)

CONFIG = DealSettings(
    deal_query={"domainId": 1, "priceTypes": [2]},
    update_every_minutes=5,
    full_sweep_every_minutes=360,
    path=Path("settings.json"),
)


def test_the_20_token_plan_sweeps_5000_deals_every_15_minutes():
    plan = plan_tokens(20, 5000, CONFIG)
    assert plan == TokenPlan(
        refill_per_minute=20,
        complete_sweep_every_minutes=15,
        sweep_per_hour=720,
        verify_per_hour=310,
        offers_per_hour=90,
        top_per_hour=80,
    )
    # Nothing is planned beyond what the plan refills.
    assert plan.sweep_per_hour + plan.verify_per_hour + plan.offers_per_hour + 80 == 20 * 60


def test_the_top_pages_are_read_by_the_runs_without_a_complete_sweep():
    plan = plan_tokens(20, 5000, CONFIG)
    # 12 runs an hour, 4 of them complete sweeps (which see the top rows anyway): 8 x 2 pages.
    assert plan.top_per_hour == 8 * len(TOP_SORT_TYPES) * 5
    # A plan that cannot pay its checks first reads no top pages.
    assert plan_tokens(10, 5000, CONFIG).top_per_hour == 0
    assert plan_tokens(None, 5000, CONFIG).top_per_hour == 0


def test_a_bigger_plan_gives_the_difference_to_offers():
    small, big = plan_tokens(20, 5000, CONFIG), plan_tokens(200, 5000, CONFIG)
    assert big.complete_sweep_every_minutes == small.complete_sweep_every_minutes
    assert big.sweep_per_hour == small.sweep_per_hour
    assert big.top_per_hour == small.top_per_hour
    assert big.offers_per_hour == (
        200 * 60 - big.sweep_per_hour - big.verify_per_hour - big.top_per_hour
    )


def test_a_small_plan_stretches_the_cadence_and_pays_offers_last():
    plan = plan_tokens(5, 5000, CONFIG)
    assert plan.complete_sweep_every_minutes == 70
    assert plan.sweep_per_hour <= 5 * 60 * 0.7
    assert plan.offers_per_hour == plan.top_per_hour == 0
    assert plan.sweep_per_hour + plan.verify_per_hour <= 5 * 60


def test_the_cadence_never_exceeds_the_configured_full_sweep_interval():
    config = DealSettings(
        deal_query=CONFIG.deal_query, update_every_minutes=5, full_sweep_every_minutes=30
    )
    assert plan_tokens(2, 10_000, config).complete_sweep_every_minutes == 30
    # An unknown refill rate plans nothing but the slowest sweeps the user accepts.
    assert plan_tokens(0, 5000, config).complete_sweep_every_minutes == 30
    assert plan_tokens(0, 5000, config).offers_per_hour == 0


def test_the_cadence_is_a_whole_number_of_update_intervals():
    config = DealSettings(deal_query=CONFIG.deal_query, update_every_minutes=7)
    assert plan_tokens(20, 5000, config).complete_sweep_every_minutes % 7 == 0


def test_pages_follow_keepas_150_deals_a_page_and_its_10000_cap():
    assert sweep_pages(0) == 1
    assert sweep_pages(900) == 6
    assert sweep_pages(5000) == 34
    assert sweep_pages(50_000) == 67


def test_a_runs_allowance_is_its_share_of_the_minutes_since_the_last_run():
    assert allowance(600, 5) == 50
    assert allowance(600, 600) == 600  # an hour's at most
    assert allowance(600, -1) == 0


def test_the_bucket_keeps_the_next_complete_sweep_and_a_cycles_checks():
    plan = plan_tokens(20, 5000, CONFIG)
    # 34 pages (170 tokens), 310 checks an hour over the 15-minute cycle (77) and its top
    # pages (80 an hour: 20).
    assert held_for_truth(plan, 5000) == 170 + 77 + 20


def test_a_full_bucket_gives_offers_everything_above_the_reserve_and_what_truth_needs():
    plan = plan_tokens(20, 5000, CONFIG)
    # The 20-token plan's bucket is full at 1,200: what stays unspent is refill thrown away.
    assert offers_share(plan, 5000, minutes=5, balance=1200, reserve=10) == 1200 - 10 - 267
    assert offers_share(plan, 5000, minutes=5, balance=1200, reserve=500) == 1200 - 500 - 267


def test_a_small_bucket_spends_the_planned_share_only():
    plan = plan_tokens(20, 5000, CONFIG)
    planned = allowance(plan.offers_per_hour, 5)
    assert planned == 7
    for balance in (10 + 267 + planned, 200, 0, -50):
        assert offers_share(plan, 5000, minutes=5, balance=balance, reserve=10) == planned


def test_an_unknown_refill_rate_spends_only_the_surplus():
    plan = plan_tokens(None, 5000, CONFIG)
    assert plan.offers_per_hour == 0 and plan.complete_sweep_every_minutes == 360
    held = held_for_truth(plan, 5000)
    assert held == 170 + 310  # the checks of a cycle, an hour's at most
    assert offers_share(plan, 5000, minutes=5, balance=10**9, reserve=10) == 10**9 - 10 - held
    assert offers_share(plan, 5000, minutes=5, balance=10 + held, reserve=10) == 0
