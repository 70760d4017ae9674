"""The incremental sweep under either deal order Keepa might use for sortType 1.

Keepa documents "deal age, newest first"; whether its pages follow creationDate or lastUpdate
has never been observed (docs/keepa.md §4.5). The simulator serves either; the upserter must
read few pages a run under both, and stay bounded when the pages follow neither.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import replace

import pytest

from deals import deal_order, ingest
from deals.models import Deal, DealStatus, SyncRun
from keepa_client.client import KeepaClient
from keepa_simulator import SimulatorServer
from tests.conftest import SIMULATOR_PRODUCTS, SimulatorHandle
from tests.deals_fixtures import SECRET, next_cycle, write_settings

pytestmark = pytest.mark.django_db

ORDERS = {"creation": SyncRun.DealOrder.CREATION, "last-update": SyncRun.DealOrder.LAST_UPDATE}


@pytest.fixture(scope="module")
def last_update_server() -> Iterator[SimulatorServer]:
    # The same market as the shared simulator (tests/conftest.py), in the other order.
    server = SimulatorServer(
        seed=1, products=SIMULATOR_PRODUCTS, profile="busy", deal_order="last-update"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=list(ORDERS))
def ordered_keepa(request, simulator_server, settings, tmp_path):
    """The app pointed at a simulator serving sortType 1 in the given order."""
    if request.param == "creation":
        server = simulator_server  # the default order
    else:
        server = request.getfixturevalue("last_update_server")
    assert server.simulator.deal_order == request.param
    handle = SimulatorHandle(server)
    handle.post("/_sim/reset")
    handle.keys(key=SECRET, tokens=50_000, refill_rate=1000)
    settings.KEEPA_API_URL = handle.url
    settings.KEEPA_API_KEY = SECRET
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    handle.order = ORDERS[request.param]
    return handle


def deal_requests(keepa) -> int:
    return keepa.stats()["requests"]["/deal"]


def test_the_simulator_keeps_its_deal_order_across_a_reset(last_update_server):
    handle = SimulatorHandle(last_update_server)
    handle.post("/_sim/reset")
    assert last_update_server.simulator.deal_order == "last-update"
    with pytest.raises(ValueError, match="deal_order"):
        SimulatorServer(products=10, deal_order="newest")


def test_steady_state_runs_read_at_most_two_pages_between_sweeps_and_miss_no_price_drop(
    ordered_keepa,
):
    keepa = ordered_keepa
    first = ingest.run(trigger="test")
    assert first.status == SyncRun.Status.OK, first.summary()
    assert first.deal_order == keepa.order  # learnt from the pages of the first full sweep
    assert first.pages >= 3

    runs = []
    before = deal_requests(keepa)
    for i in range(8):
        next_cycle(keepa, minutes=5)
        if i == 4:
            # A deal still listed now, its sales rank well inside the query's 50,000-1,500,000:
            # one picked at the start could leave with the market meanwhile (the simulator's
            # market moves with the wall clock), and a drop on a deal gone cannot show.
            deal = (
                Deal.objects.filter(
                    status=DealStatus.LISTED,
                    now_price__gt=2600,
                    sales_rank__range=(100_000, 1_000_000),
                )
                .order_by("asin")
                .first()
            )
            assert deal is not None
            dropped = deal.now_price - 400
            keepa.set_offer(deal.asin, "ADROP0SELLER", price=dropped, condition=3)
        runs.append(ingest.run(trigger="test"))
        if i == 4:
            # The staged drop shows after this one run, whichever field the pages follow.
            deal.refresh_from_db()
            assert deal.now_price <= dropped, runs[-1].summary()
            assert deal.now_seller_id == "ADROP0SELLER", runs[-1].summary()
    pages = deal_requests(keepa) - before

    summaries = [r.summary() for r in runs]
    assert all(r.status == SyncRun.Status.OK for r in runs), summaries
    # A complete sweep every 15 minutes (the token plan's cadence, deals/planner.py); the
    # runs between read only what changed.
    assert [r.full_sweep for r in runs] == [False, False, True] * 2 + [False, False], summaries
    assert all(r.deal_order == keepa.order for r in runs), summaries
    assert pages == sum(r.pages for r in runs)
    # Besides the sweep's own pages, a run between complete sweeps reads the two top pages
    # (deals/top_pages.py), which confirm the best rows and are counted apart.
    incremental = [r.pages - r.top_pages for r in runs if not r.full_sweep]
    assert sum(incremental) / len(incremental) <= 2, [(r.pages, r.top_pages) for r in runs]
    assert all(r.top_pages == (0 if r.full_sweep else 2) for r in runs), summaries
    assert runs[4].price_drops >= 1


class Shuffled(KeepaClient):
    """A Keepa whose sortType 1 pages follow neither creationDate nor lastUpdate."""

    def deals(self, selection, page=0):
        result = super().deals(selection, page)
        deals = list(result.deals)
        random.Random(page).shuffle(deals)
        return replace(result, deals=tuple(deals))


def shuffled_client(keepa) -> Shuffled:
    return Shuffled(SECRET, base_url=keepa.url, sleep=lambda s: None, max_token_wait_s=0)


def test_a_shuffled_order_is_reported_and_read_a_few_pages_a_run_in_rotation(keepa):
    keepa.quiet(True)
    first = ingest.run(trigger="test")
    assert first.deal_order == SyncRun.DealOrder.CREATION
    # A drop on a deal at the end of the list: a watermark would have found it on page 0.
    last = Deal.objects.order_by("deal_created_at", "asin").first()
    keepa.set_offer(last.asin, "AROTATE0SELLER", price=last.now_price - 300, condition=3)
    client = shuffled_client(keepa)
    rounds = math.ceil((first.pages - 1) / (deal_order.UNORDERED_PAGES_PER_RUN - 1)) + 1
    runs = []
    for _ in range(rounds):
        next_cycle(keepa, minutes=5)
        runs.append(ingest.run(trigger="test", client=client))

    summaries = [r.summary() for r in runs]
    # The sweep's own pages (the two top pages are counted apart, deals/top_pages.py).
    assert all(r.pages - r.top_pages <= deal_order.UNORDERED_PAGES_PER_RUN for r in runs), summaries
    assert all(r.deal_order == SyncRun.DealOrder.UNORDERED for r in runs), summaries
    assert all("neither creationDate nor lastUpdate" in r.note for r in runs), summaries
    assert all(not r.full_sweep for r in runs)
    # The rolling pass came round to every page within those runs: the drop was read.
    last.refresh_from_db()
    assert last.now_seller_id == "AROTATE0SELLER", summaries

    # Back in order: the next run says so, and the watermark is used again.
    next_cycle(keepa, minutes=5)
    back = ingest.run(trigger="test")
    assert back.deal_order == SyncRun.DealOrder.CREATION, back.summary()
    next_cycle(keepa, minutes=5)
    again = ingest.run(trigger="test")
    assert again.deal_order == SyncRun.DealOrder.CREATION, again.summary()
    assert again.pages - again.top_pages <= 2, again.summary()


def test_an_order_that_changes_between_runs_is_followed(keepa, simulator_server):
    keepa.quiet(True)
    first = ingest.run(trigger="test")
    assert first.deal_order == SyncRun.DealOrder.CREATION
    simulator_server.simulator.deal_order = "last-update"
    try:
        next_cycle(keepa, minutes=5)
        switched = ingest.run(trigger="test")
        next_cycle(keepa, minutes=5)
        steady = ingest.run(trigger="test")
    finally:
        simulator_server.simulator.deal_order = "creation"
    assert "deal order by lastUpdate, not creationDate" in switched.note, switched.summary()
    assert switched.deal_order == steady.deal_order == SyncRun.DealOrder.LAST_UPDATE
    assert not switched.full_sweep and steady.pages - steady.top_pages <= 2, steady.summary()
