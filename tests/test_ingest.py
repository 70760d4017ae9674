from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from deals import ingest
from deals.jobs import Run
from deals.models import Deal, DealEvent, EnrichPriority, JobLock, SyncRun
from keepa_client.client import KeepaClient
from tests.deals_fixtures import (
    ROOT,
    SECRET,
    fast_client,
    next_cycle,
    product_calls,
    write_settings,
)

pytestmark = pytest.mark.django_db


def test_the_first_run_on_an_empty_database_fills_it(keepa):
    sync = ingest.run(trigger="test")

    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert sync.full_sweep and sync.sweep_complete
    assert sync.pages >= 2  # more than one page of deals: paging happened
    assert Deal.objects.count() == sync.inserted == sync.deals_seen
    deal = Deal.objects.order_by("-delta_percent").first()
    assert deal.title and deal.image_url.startswith("https://m.media-amazon.com/images/I/")
    assert deal.now_price is not None and deal.avg_price > deal.now_price
    assert deal.delta_percent >= 50  # the shipped query asks for at least 50 % below average
    # Every new deal was enriched with its cheapest live offer and who sells it.
    assert sync.enriched == sync.inserted
    assert not Deal.objects.filter(enriched_at__isnull=True).exists()
    assert Deal.objects.exclude(now_seller_id="").count() > sync.inserted * 0.9
    assert Deal.objects.exclude(now_seller_name="").count() > sync.inserted * 0.9
    assert DealEvent.objects.filter(kind="entered").count() == sync.inserted
    assert sync.tokens_spent > 0 and sync.tokens_left is not None


def test_a_price_drop_shows_after_the_next_run_and_only_that_deal_costs_a_product_call(keepa):
    keepa.quiet(True)
    first = ingest.run(trigger="test")
    next_cycle(keepa)
    before = product_calls(keepa)
    quiet = ingest.run(trigger="test")
    assert quiet.status == SyncRun.Status.OK, quiet.summary()
    assert not quiet.full_sweep
    assert product_calls(keepa) == before  # nothing changed: no /product call at all
    # The sweep read fewer pages than the whole list (besides the top pages, deals/top_pages.py).
    assert quiet.pages - quiet.top_pages < first.pages and quiet.updated == quiet.inserted == 0

    deal = Deal.objects.filter(now_price__gt=2600).order_by("asin").first()
    old_price, old_seller = deal.now_price, deal.now_seller_id
    keepa.set_offer(deal.asin, "ACHEAPER0SELLER", price=old_price - 500, shipping=0, condition=3)
    next_cycle(keepa)
    sync = ingest.run(trigger="test")

    deal.refresh_from_db()
    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert deal.now_price == old_price - 500
    assert deal.now_total == old_price - 500
    assert deal.now_seller_id == "ACHEAPER0SELLER" != old_seller
    assert deal.now_condition == 3
    assert sync.price_drops == 1 and sync.updated == 1
    calls, asins = product_calls(keepa)
    assert (calls - before[0], asins - before[1]) == (1, 1)  # one call, for that ASIN only
    changed = DealEvent.objects.filter(asin=deal.asin, kind="changed", field="now_price").get()
    assert (changed.old_value, changed.new_value) == (old_price, old_price - 500)


def test_a_price_rise_is_rechecked_by_the_planner_when_tokens_allow(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    # A deal deep enough in the query that a $1.50 rise keeps it listed.
    deal = (
        Deal.objects.exclude(now_total=None)
        .filter(delta_percent__gte=60, avg_price__gte=F("now_price") + 2500)
        .order_by("asin")
        .first()
    )
    for seller in keepa.market_offers(deal.asin):
        if seller != deal.now_seller_id:
            keepa.set_offer(deal.asin, seller, price=deal.now_price + 150, condition=2)
    keepa.post("/_sim/remove_offer", {"asin": deal.asin, "seller_id": deal.now_seller_id})
    next_cycle(keepa)
    before = product_calls(keepa)

    sync = ingest.run(trigger="test")

    deal.refresh_from_db()
    assert sync.status == SyncRun.Status.OK and sync.price_drops == 0
    # The copy that went is replaced at once; with tokens to spare, the planner re-checks the
    # row in the same run (one look-up, this ASIN only) and names the market's cheapest copy.
    calls, asins = product_calls(keepa)
    assert (calls - before[0], asins - before[1]) == (1, 1)
    assert deal.now_price == deal.deal_snapshot["current"][2]
    assert deal.now_total == deal.now_price and deal.buy_price_checked  # shipping 0
    assert deal.now_seller_id in keepa.market_offers(deal.asin)
    assert not deal.is_updating
    assert deal.all_in_cost > deal.now_price  # the economics follow the new, higher price
    assert DealEvent.objects.filter(asin=deal.asin, field="now_seller_id").exists()


def test_a_lower_price_waits_for_its_seller_when_tokens_are_short(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    deal = Deal.objects.filter(now_price__gt=2600).order_by("asin").first()
    keepa.set_offer(deal.asin, "AOTHER00SELLER", price=deal.now_price - 300, condition=2)
    next_cycle(keepa)
    # Above the reserve of 10: one /deal page (5), but not an offers look-up (up to 12).
    keepa.keys(key=SECRET, tokens=26, refill_rate=1)

    sync = ingest.run(trigger="test")

    deal.refresh_from_db()
    assert sync.status == SyncRun.Status.PARTIAL
    assert "wait for an offers look-up" in sync.note
    assert deal.now_price == deal.deal_snapshot["current"][2]  # the row shows the new price
    assert deal.enrich_priority == EnrichPriority.PRICE_CHANGED and deal.is_updating
    assert deal.now_seller_id != "AOTHER00SELLER"  # the seller catches up on a later run


def test_a_new_deal_is_inserted_at_once_and_enriched_with_its_seller(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    asin = keepa.post("/_sim/product", {"category": 283155, "deal": True})["asin"]
    next_cycle(keepa)

    sync = ingest.run(trigger="test")

    deal = Deal.objects.get(asin=asin)
    assert sync.inserted == 1
    assert deal.first_seen_utc == deal.last_seen_utc
    assert deal.now_seller_id and deal.now_total is not None and deal.enriched_at
    assert DealEvent.objects.filter(asin=asin, kind="entered").exists()


def test_a_second_trigger_while_a_run_holds_the_lock_does_nothing(keepa):
    assert JobLock.acquire(ingest.LOCK_NAME, "other-host:1:x", timedelta(minutes=5))
    sync = ingest.run(trigger="test")
    assert sync.status == SyncRun.Status.SKIPPED and sync.note == "already running"
    assert Deal.objects.count() == 0
    assert keepa.stats()["requests"].get("/deal", 0) == 0


def test_an_expired_lock_does_not_block_the_next_run(keepa):
    JobLock.acquire(ingest.LOCK_NAME, "other-host:1:x", timedelta(minutes=5))
    JobLock.objects.update(locked_until=F("locked_until") - timedelta(minutes=10))
    assert ingest.run(trigger="test").status == SyncRun.Status.OK


def test_a_lock_held_by_a_dead_process_on_this_machine_is_taken_over(keepa):
    import socket

    JobLock.acquire(ingest.LOCK_NAME, f"{socket.gethostname()}:999999:x", timedelta(minutes=5))
    assert ingest.run(trigger="test").status == SyncRun.Status.OK


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_triggers_make_one_run(keepa):
    barrier = threading.Barrier(2)
    results = []

    def trigger():
        barrier.wait()
        results.append(ingest.run(trigger="test", client=fast_client(keepa)).status)
        connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(results) == [SyncRun.Status.OK, SyncRun.Status.SKIPPED]


def test_a_bad_settings_file_fails_the_run_naming_the_field_and_changes_nothing(
    keepa, settings, tmp_path
):
    ingest.run(trigger="test")
    before = list(Deal.objects.order_by("asin").values_list("asin", "now_price", "last_seen_utc"))
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path, update_every_minutes="soon")
    next_cycle(keepa)
    requests_before = keepa.stats()["requests"]

    sync = ingest.run(trigger="test")

    assert sync.status == SyncRun.Status.FAILED
    assert "update_every_minutes" in sync.error
    assert keepa.stats()["requests"] == requests_before
    after = list(Deal.objects.order_by("asin").values_list("asin", "now_price", "last_seen_utc"))
    assert after == before


class FaultAfterFirstPage(KeepaClient):
    """Stage a fault in the simulator once the first /deal page has been read."""

    def __init__(self, simulator, fault: dict) -> None:
        super().__init__(SECRET, base_url=simulator.url, sleep=lambda s: None, max_token_wait_s=0)
        self.simulator, self.fault, self.calls = simulator, fault, 0

    def deals(self, selection, page=0):
        result = super().deals(selection, page)
        self.calls += 1
        if self.calls == 1:
            self.simulator.fault(**self.fault)
        return result


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500, "count": 10}, "ServerError"),
        ({"status": 503, "count": 10}, "ServerError"),
        ({"malformed": True, "count": 1}, "MalformedResponse"),
        ({"truncated": True, "count": 10}, "Keepa"),
        ({"status": 429, "count": 10}, "TokensExhausted"),
    ],
)
def test_a_keepa_failure_mid_run_keeps_what_was_done_and_hides_the_key(keepa, fault, error):
    sync = ingest.run(trigger="test", client=FaultAfterFirstPage(keepa, fault))

    assert sync.status == SyncRun.Status.PARTIAL
    assert error in sync.error
    assert SECRET not in sync.error and SECRET not in sync.summary()
    assert not sync.sweep_complete
    # The first page is in the database, every row whole.
    assert Deal.objects.count() == 150
    assert not Deal.objects.filter(title="").exists()
    assert not Deal.objects.filter(deal_snapshot={}).exists()
    # Once Keepa is well again, the next run carries on and completes the sweep.
    keepa.fault(clear=True)
    next_cycle(keepa)
    again = ingest.run(trigger="test", client=fast_client(keepa))
    assert again.status == SyncRun.Status.OK, again.summary()
    assert again.full_sweep and Deal.objects.count() > 150


def test_a_single_truncated_response_is_retried_and_the_run_completes(keepa):
    sync = ingest.run(
        trigger="test", client=FaultAfterFirstPage(keepa, {"truncated": True, "count": 1})
    )
    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert sync.sweep_complete and Deal.objects.count() == sync.deals_seen


def test_a_failure_before_anything_was_read_fails_the_run(keepa):
    keepa.fault(status=500, count=10)
    sync = ingest.run(trigger="test", client=fast_client(keepa))
    assert sync.status == SyncRun.Status.FAILED
    assert "ServerError" in sync.error and SECRET not in sync.error


def test_a_lapsed_key_fails_the_run_with_a_clear_reason(keepa):
    keepa.keys(key=SECRET, lapsed=True)
    sync = ingest.run(trigger="test", client=fast_client(keepa))
    assert sync.status == SyncRun.Status.FAILED
    assert "PaymentRequired" in sync.error and SECRET not in sync.error


def test_the_run_never_spends_below_the_reserve(keepa, settings, tmp_path):
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path, token_reserve=100)
    keepa.keys(key=SECRET, tokens=112, refill_rate=1)

    sync = ingest.run(trigger="test")

    assert sync.status == SyncRun.Status.PARTIAL
    assert "token budget" in sync.note
    assert sync.tokens_left >= 100
    assert sync.pages == 2  # 112 -> 107 -> 102: a third page would cross the reserve
    assert Deal.objects.count() == 300


def test_a_client_kept_between_runs_sees_the_refill(keepa, settings, tmp_path):
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path, token_reserve=100)
    client = fast_client(keepa)
    keepa.keys(key=SECRET, tokens=104, refill_rate=1)
    assert ingest.run(trigger="test", client=client).pages == 0  # below the reserve
    keepa.keys(key=SECRET, tokens=5000, refill_rate=1)  # Keepa refilled meanwhile
    next_cycle(keepa)
    assert ingest.run(trigger="test", client=client).pages > 0


def test_the_same_query_is_not_polled_again_inside_keepas_cache(keepa):
    ingest.run(trigger="test")
    deal_requests = keepa.stats()["requests"]["/deal"]
    sync = ingest.run(trigger="test")
    assert keepa.stats()["requests"]["/deal"] == deal_requests
    assert sync.pages == 0 and "read less than 2 minutes ago" in sync.note


def test_an_incremental_sweep_stops_at_the_watermark(keepa):
    first = ingest.run(trigger="test")
    next_cycle(keepa, minutes=5)
    second = ingest.run(trigger="test")
    assert not second.full_sweep
    assert second.pages - second.top_pages < first.pages


def test_a_full_sweep_too_big_for_the_budget_resumes_over_several_runs(keepa, settings, tmp_path):
    keepa.quiet(True)
    settings.DEALS_SETTINGS_FILE = write_settings(
        tmp_path, full_sweep_every_minutes=15, token_reserve=100
    )
    first = ingest.run(trigger="test", full=True)
    assert first.pages >= 3
    next_cycle(keepa, minutes=16)  # the next full sweep is due
    runs = []
    for _ in range(first.pages):
        # Two pages above the reserve a run: the changes since last time, then one more page.
        keepa.keys(key=SECRET, tokens=111, refill_rate=1)
        runs.append(ingest.run(trigger="test"))
        next_cycle(keepa, minutes=3)
        if runs[-1].sweep_complete:
            break

    assert runs[-1].sweep_complete and runs[-1].full_sweep, [r.summary() for r in runs]
    assert all(r.status == SyncRun.Status.PARTIAL for r in runs[:-1])
    assert all(r.pages == 2 for r in runs[:-1])
    assert "full sweep resumed at page 2" in runs[1].note
    assert len(runs) == first.pages - 1  # page 0 every run, and each other page once
    started = SyncRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("sweep_started_at")
    assert len(set(started)) == 1
    # The resumed sweep counts as one complete full sweep for the pruner.
    assert SyncRun.objects.last_complete_sweep(full=True).pk == runs[-1].pk


def test_a_full_sweep_comes_round_again_when_due(keepa):
    ingest.run(trigger="test")
    next_cycle(keepa, minutes=361)
    assert ingest.run(trigger="test").full_sweep


def test_a_page_of_deals_is_written_with_a_bounded_number_of_queries(keepa):
    client = fast_client(keepa)
    client.token_status()
    page = client.deals({**json.loads((ROOT / "settings.json").read_text())["deal_query"]})
    from deals.config import load_config

    sweep = ingest.Sweep(Run.detached(SyncRun.Kind.UPDATE, load_config(), client))
    with CaptureQueriesContext(connection) as few:
        sweep.write_page(page.deals[:10])
    with CaptureQueriesContext(connection) as many:
        sweep.write_page(page.deals[10:])
    with CaptureQueriesContext(connection) as again:
        sweep.write_page(page.deals)
    assert len(page.deals) == 150
    # A handful of statements a page, however many deals it holds: never one per deal.
    # (Django 5.2 caps a statement at 999 SQLite parameters, about 30 deal rows.)
    assert len(few) <= 8, [q["sql"][:60] for q in few]
    assert len(many) <= 12, [q["sql"][:60] for q in many]
    assert len(again) <= 12, [q["sql"][:60] for q in again]
