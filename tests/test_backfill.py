from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
import responses
from django.core.management import call_command

from deals import backfill, economics, ingest
from deals.config import load_config
from deals.models import BackfillCheckpoint, Deal, SyncRun
from tests.deals_fixtures import fast_client, next_cycle

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
ECONOMICS = ["all_in_cost", "profit", "margin_percent", "roi_percent", "max_buy_total"]

# A /product answer's history digest (deals/history.py) in which Keepa had nothing to say.
NO_HISTORY = {"end": 0, "step": 1440, "type": 2, "price": [], "box": [], "rank": [], "months": {}}

pytestmark = pytest.mark.django_db


def make_deals(count: int, *, snapshot: bool = True) -> list[str]:
    rows = [
        Deal(
            asin=f"B{i:09d}",
            title=f"Book {i}",
            price_type=2,
            now_price=1000 + i,
            now_total=1100 + i if i % 3 else None,
            avg_price=4000 + 7 * i,
            product_snapshot=(
                {
                    "fbaFees": {"pickAndPackFee": 300 + i % 50},
                    "referralFeePercentage": 15.0,
                    "history": NO_HISTORY,
                    "binding": "Paperback",
                    "categoryTree": [{"catId": 283155, "name": "Books"}],
                    "stats": {"avg365": [-1, -1, 3000 + i, 250_000]},
                }
                if snapshot
                else None
            ),
            first_seen_utc=NOW,
            last_seen_utc=NOW,
            changed_at=NOW,
        )
        for i in range(count)
    ]
    Deal.objects.bulk_create(rows)
    return [r.asin for r in rows]


def expected(deal: Deal) -> dict:
    e = economics.for_deal(deal, load_config().seller_costs)
    return {name: getattr(e, name) if e else None for name in ECONOMICS}


def stored(deal: Deal) -> dict:
    return {name: getattr(deal, name) for name in ECONOMICS}


def test_a_new_column_is_filled_for_every_row_from_snapshots_without_a_keepa_call():
    make_deals(1234)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as keepa:
        sync = backfill.run(batch_size=500)
        assert len(keepa.calls) == 0  # nothing registered: any HTTP call would have failed
    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert sync.updated == 1234 and sync.tokens_spent == 0
    for deal in Deal.objects.all():
        assert stored(deal) == expected(deal)
    assert not Deal.objects.filter(profit__isnull=True).exists()


def test_the_landed_estimate_is_filled_from_the_stored_deal_objects_at_no_token_cost():
    asins = make_deals(30)
    # Rows stored before the estimate existed: their /deal objects hold what it needs.
    for i, asin in enumerate(asins):
        current = [-1] * 34
        current[2] = 1000 + i
        if i % 2:
            current[21] = 1000 + i + 350  # a Good copy, $3.50 shipping
        Deal.objects.filter(asin=asin).update(deal_snapshot={"asin": asin, "current": current})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as keepa:
        call_command("backfill_all_deals", "--columns", "est_landed,est_source", stdout=StringIO())
        assert len(keepa.calls) == 0
    sync = SyncRun.objects.get(kind=SyncRun.Kind.BACKFILL)
    assert sync.status == SyncRun.Status.OK and sync.tokens_spent == 0
    for i, deal in enumerate(Deal.objects.order_by("asin")):
        if i % 2:
            assert (deal.est_landed, deal.est_source) == (deal.now_price + 350, "landed")
        else:
            assert (deal.est_landed, deal.est_source) == (deal.now_price + 399, "item+shipping")


def test_only_missing_leaves_filled_rows_alone():
    make_deals(40)
    Deal.objects.filter(asin__lt="B000000010").update(profit=-1)  # "filled" by someone earlier
    sync = backfill.run(["profit"], only_missing=True)
    assert sync.deals_seen == 30
    assert Deal.objects.filter(profit=-1).count() == 10
    assert not Deal.objects.filter(profit__isnull=True).exists()


def test_a_dry_run_writes_nothing_and_estimates_the_tokens():
    make_deals(20)
    make_deals_without = [
        Deal.objects.filter(asin=a).update(product_snapshot=None)
        for a in ("B000000003", "B000000004")
    ]
    assert make_deals_without
    out = StringIO()
    call_command("backfill_all_deals", "--dry-run", stdout=out, stderr=StringIO())
    # Every row gets its Buy link and a List at (the deal's average, said so) even without
    # product data; the economics of the two rows without it wait for the fetch.
    assert "20 rows checked, 20 would change" in out.getvalue()
    assert "Keepa data needed for 2 tokens" in out.getvalue()
    assert not Deal.objects.filter(profit__isnull=False).exists()
    assert not SyncRun.objects.exists() and not BackfillCheckpoint.objects.exists()


def test_unknown_columns_are_refused_by_name():
    with pytest.raises(Exception, match="not a computed column: proft"):
        call_command("backfill_all_deals", "--columns", "proft")


def test_a_stopped_backfill_resumes_without_redoing_finished_chunks(monkeypatch):
    make_deals(1000)
    seen: list[str] = []
    real = backfill.recompute

    def counting(deals, columns, config):
        seen.extend(d.asin for d in deals)
        return real(deals, columns, config)

    monkeypatch.setattr(backfill, "recompute", counting)

    def stop_after_two_chunks(state):
        if state.rows_done >= 400:
            raise KeyboardInterrupt  # the operator's Ctrl-C, or the worker dying

    with pytest.raises(KeyboardInterrupt):
        backfill.run(batch_size=200, progress=stop_after_two_chunks)
    assert len(seen) == 400
    assert Deal.objects.filter(profit__isnull=False).count() == 400

    seen.clear()
    sync = backfill.run(batch_size=200)
    assert "resumed after B000000399" in sync.note
    assert len(seen) == 600 and min(seen) == "B000000400"
    assert not Deal.objects.filter(profit__isnull=True).exists()
    # Finished: the next backfill starts from the beginning again.
    assert backfill.run(batch_size=200).deals_seen == 1000


def test_rows_lacking_data_are_fetched_and_nothing_else(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    lacking = list(Deal.objects.order_by("asin").values_list("asin", flat=True)[:3])
    Deal.objects.update(**dict.fromkeys(ECONOMICS))
    Deal.objects.filter(asin__in=lacking).update(product_snapshot=None)
    before = keepa.stats()["products_requested"]

    sync = backfill.run(client=fast_client(keepa))

    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert keepa.stats()["products_requested"] - before == 3
    assert sync.tokens_spent == 3  # /product without offers: 1 token each
    for deal in Deal.objects.filter(asin__in=lacking):
        assert deal.product_snapshot["fbaFees"]["pickAndPackFee"] > 0
        assert deal.profit is not None and stored(deal) == expected(deal)


def test_rows_looked_up_before_history_was_kept_get_their_season_for_a_token_each(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    looked_up = Deal.objects.exclude(product_snapshot__isnull=True).order_by("asin")
    old = list(looked_up.values_list("asin", flat=True)[:4])
    assert len(old) == 4
    # As stored by a version that asked Keepa for no history: fees and offers, no digest.
    for deal in Deal.objects.filter(asin__in=old):
        deal.product_snapshot.pop("history")
        Deal.objects.filter(pk=deal.pk).update(product_snapshot=deal.product_snapshot, season="")
    offers_before = {
        d.asin: d.product_snapshot["offers"] for d in Deal.objects.filter(asin__in=old)
    }

    out = StringIO()
    call_command("backfill_all_deals", "--columns", "season", "--dry-run", stdout=out)
    assert "Keepa data needed for 4 tokens" in out.getvalue()
    assert not Deal.objects.filter(asin__in=old).exclude(season="").exists()

    sync = backfill.run(["season"], client=fast_client(keepa))

    assert sync.status == SyncRun.Status.OK and sync.tokens_spent == 4
    for deal in Deal.objects.filter(asin__in=old):
        assert deal.product_snapshot["history"]["months"]  # two years of ranks by month
        assert deal.season and deal.season != "not enough history"
        assert deal.product_snapshot["offers"] == offers_before[deal.asin]  # the look-up's kept


def test_a_backfill_and_an_upserter_run_interleaved_lose_no_update(keepa):
    keepa.quiet(True)
    ingest.run(trigger="test")
    Deal.objects.update(**dict.fromkeys(ECONOMICS))
    asins = list(Deal.objects.order_by("asin").values_list("asin", flat=True))
    early, late = asins[5], asins[-5]  # one in a finished chunk, one in a later chunk
    prices = {a: Deal.objects.get(asin=a).now_price for a in (early, late)}

    def upsert_midway(state):
        if state.rows_done == 100:
            for asin in (early, late):
                keepa.set_offer(asin, "AMIDWAY0SELLER", price=prices[asin] - 400, condition=2)
            next_cycle(keepa)
            assert ingest.run(trigger="test").status == SyncRun.Status.OK

    sync = backfill.run(batch_size=100, progress=upsert_midway)

    assert sync.status == SyncRun.Status.OK
    for asin in (early, late):
        deal = Deal.objects.get(asin=asin)
        assert deal.now_price == prices[asin] - 400  # the upserter's write survived
        assert deal.now_seller_id == "AMIDWAY0SELLER"
    for deal in Deal.objects.all():
        assert stored(deal) == expected(deal)  # and every number follows the current row


def test_a_checkpoint_key_for_many_columns_fits_its_column_and_names_only_that_set():
    from deals.backfill import checkpoint_key

    limit = BackfillCheckpoint._meta.get_field("key").max_length
    every = [f"column_number_{i}" for i in range(40)]
    key = checkpoint_key(every, only_missing=False)

    assert len(key) <= limit
    assert key == checkpoint_key(list(reversed(every)), only_missing=False)
    assert key != checkpoint_key(every[:-1], only_missing=False)
    assert key != checkpoint_key(every, only_missing=True)
    assert checkpoint_key(["a", "b"], only_missing=True) == "a,b|only_missing=True"
