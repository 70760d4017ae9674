"""The top pages: every run between complete sweeps reads the first page of Keepa's best deals
by % and by $ below average, confirms the top rows it shows, and catches a top row that left
within that run. Tokens are counted by the simulator (/_sim/stats)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from django.utils import timezone

from deals import ingest
from deals.config import load_config
from deals.jobs import Run
from deals.models import Deal, DealEvent, SyncRun
from deals.planner import DEALS_PER_PAGE, TOP_SORT_TYPES, plan_tokens
from deals.top_pages import NO_FLOOR, PERCENT, TOP_MISSING_PREFIX, TopPages
from deals.verify import RECHECK_TOP
from tests.deals_fixtures import fast_client, next_cycle
from tests.test_verify import make_it_leave, run_between_sweeps_and_see_it_left

pytestmark = pytest.mark.django_db


def deal_requests(keepa) -> int:
    return keepa.stats()["requests"]["/deal"]


def test_a_complete_sweep_reads_no_top_pages_it_has_seen_every_row(keepa):
    keepa.quiet(True)
    before = deal_requests(keepa)

    sync = ingest.run(trigger="test", client=fast_client(keepa))

    assert sync.full_sweep and sync.sweep_complete
    listed = Deal.objects.count()
    assert listed > DEALS_PER_PAGE  # more than a top page holds: its reach is tested below
    assert deal_requests(keepa) - before == sync.pages == math.ceil(listed / DEALS_PER_PAGE)


def test_a_run_between_complete_sweeps_confirms_the_top_rows_for_two_pages(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    next_cycle(keepa)
    before, spent = deal_requests(keepa), keepa.stats()["tokens_consumed"]["/deal"]
    started = timezone.now()

    sync = ingest.run(trigger="test", client=fast_client(keepa))

    assert not sync.full_sweep
    # The incremental pass's page, then one page of each top sort, 5 tokens each.
    assert deal_requests(keepa) - before == sync.pages == 1 + len(TOP_SORT_TYPES)
    assert keepa.stats()["tokens_consumed"]["/deal"] - spent == 5 * sync.pages
    # The first page of the default sort (% below average) is on Keepa's page by %: every
    # one of its rows was confirmed by this run's pages, none needed a check.
    top = Deal.objects.order_by("-delta_percent", "asin")[:RECHECK_TOP]
    assert all(deal.last_seen_utc >= started for deal in top)
    assert "checked against the query" not in sync.note


def test_a_top_row_that_leaves_is_caught_by_the_next_run_through_the_top_pages(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    deal = make_it_leave(keepa, "-profit")  # the top row of the money sort
    next_cycle(keepa)
    product_tokens = keepa.stats()["tokens_consumed"]["/product"]

    sync = run_between_sweeps_and_see_it_left(keepa, deal)
    marked = DealEvent.objects.filter(asin=deal.asin, field="status", new_value="unverified")
    assert marked.get().reason.startswith(TOP_MISSING_PREFIX)
    # Settled by one 1-token check: no other top row was in doubt.
    assert keepa.stats()["tokens_consumed"]["/product"] - product_tokens == 1
    assert "1 top row missing from Keepa's top deals, to be checked" in sync.note
    assert sync.status == SyncRun.Status.OK, sync.summary()


def test_a_page_not_in_the_order_asked_for_places_no_row(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test", client=fast_client(keepa))
    run = Run.detached(SyncRun.Kind.UPDATE, load_config(), fast_client(keepa))
    run.keepa().token_status()
    plan = plan_tokens(20, Deal.objects.count(), run.config)
    top = TopPages(run, plan)
    page = top.read(PERCENT)
    percents = [
        d.delta_percent_value(run.config.date_range, run.config.price_type) for d in page.deals
    ]

    # In Keepa's order a stored row at or above the page's last value belongs on the page...
    assert top.floor(page, PERCENT) == percents[-1] < percents[0]
    # ... out of it (an order Keepa has not been seen to keep), the page says nothing of
    # the rows it misses, and none is marked unverified for it.
    shuffled = dataclasses.replace(page, deals=tuple(reversed(page.deals)))
    assert top.floor(shuffled, PERCENT) == NO_FLOOR
    assert top.mark_missing([(PERCENT, NO_FLOOR)]) == 0
