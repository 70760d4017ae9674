"""Decision data: binding, genre, condition, rank averages and drops, estimated sales, used
offers and their trend, the 1-year average and the seller's rating.

The rules are checked on worked examples and on real Keepa answers; the columns are checked
end to end from the simulator's answers through the upserter to /api/deals and the CSV.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from freezegun import freeze_time

from deals import decision, ingest
from deals.columns import BY_NAME, COLUMNS
from deals.config import load_config
from deals.enrich import Enricher
from deals.jobs import Run
from deals.models import Deal, EnrichPriority, Seller, SyncRun
from deals.snapshots import product_snapshot
from tests.deals_fixtures import SECRET, fast_client, write_settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keepa"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# The simulator keeps its own clock; only the app's clock is frozen.
SIM = ["keepa_simulator"]
USED_CONDITIONS = (2, 3, 4, 5)


def fixture(name: str) -> dict:
    (path,) = FIXTURES.glob(f"{name}*")
    return json.loads(path.read_text())


def at(hours: float):
    return freeze_time(NOW + timedelta(hours=hours), ignore=SIM)


# --- the rules, on worked examples ---------------------------------------------------------


@pytest.mark.parametrize(
    ("drops_30", "drops_90", "per_month"),
    [
        (6, 12, 5),  # README's example: (6 + 12 / 3) / 2 = 5
        (2, 3, 2),  # (2 + 1) / 2 = 1.5, rounded half up
        (10, 0, 5),  # a burst this month counts half against a quiet quarter
        (6, None, 6),  # only the month known
        (None, 12, 4),  # only the quarter known: 12 / 3
        (0, 0, 0),  # no drops: no sales seen
        (None, None, None),  # Keepa has no rank history: no estimate, not zero
    ],
)
def test_estimated_sales_per_month_from_rank_drops(drops_30, drops_90, per_month):
    assert decision.estimated_sales_per_month(drops_30, drops_90) == per_month


@pytest.mark.parametrize(
    ("now", "month_avg", "arrow"),
    [
        (4, 3, "↑"),  # one more offer than the month's average
        (21, 20, "→"),  # one more on twenty is under 10 %: about the same
        (22, 20, "↑"),
        (17, 20, "↓"),
        (3, 3, "→"),
        (0, 1, "↓"),
        (None, 3, ""),  # unknown: no arrow, never a made-up "→"
        (3, None, ""),
    ],
)
def test_used_offer_trend_against_the_30_day_average(now, month_avg, arrow):
    assert decision.offer_trend(now, month_avg) == arrow


def test_the_average_heading_names_the_window_of_the_querys_date_range():
    assert [decision.average_label(r) for r in range(4)] == [
        "1-day avg",
        "7-day avg",
        "30-day avg",
        "90-day avg",
    ]


def test_product_columns_read_a_real_product_answer():
    # FIX 7: a used paperback, Books > Subjects > Literature & Fiction > Contemporary.
    product = fixture("product_object_with_offers_055299068X")
    assert decision.binding(product) == "Paperback"
    assert decision.genre(product) == "Contemporary"
    assert decision.avg_365(product, 2) == 8582  # stats.avg365[USED]
    assert decision.sales_rank_avg365(product) == 4390882  # stats.avg365[SALES]
    # A product without a tree or stats has no value rather than a wrong one.
    assert decision.genre({"categoryTree": []}) == "" and decision.avg_365({}, 2) is None


def test_the_stored_snapshot_keeps_what_the_columns_read_and_stays_small():
    # The columns are computed from the snapshot, not the answer: it must keep their inputs.
    raw = fixture("product_object_with_offers_055299068X")
    snapshot = product_snapshot(raw)
    for read in (decision.binding, decision.genre, decision.sales_rank_avg365):
        assert read(snapshot) == read(raw)
    assert decision.avg_365(snapshot, 2) == decision.avg_365(raw, 2) == 8582
    # Of a 300 KB answer: under 3.5 KB of Keepa's history digest (tests/test_history.py) and
    # the descriptive fields, stats and live offers.
    assert len(json.dumps(snapshot)) < 6000


def test_deal_columns_read_a_real_deal_object():
    # FIX 3, first deal: salesRankDrops30/90 2 and 2; used offers 1 now, 3 on the month.
    first = fixture("deal_response_2025-09")["deals"]["dr"][0]
    assert decision.rank_drops(first, 30) == 2 and decision.rank_drops(first, 90) == 2
    assert decision.used_offer_count(first) == 1
    assert decision.used_offer_month_avg(first) == 3
    assert decision.offer_trend(1, 3) == "↓"
    assert decision.sales_rank_avg90(first) == first["avg"][3][3]
    # FIX 1 holds deals without rank history: -1 is no value, not "never sells".
    unknown = fixture("deal_response__timemery")["deals"]["dr"][1]
    assert unknown["salesRankDrops30"] == -1 and decision.rank_drops(unknown, 30) is None


# --- from the simulator's answers, through the upserter --------------------------------------


@pytest.fixture
def reader(db):
    client = Client()
    client.force_login(User.objects.create_user("reseller", password="s3cret-pass"))
    return client


def _stats(simulator, asin: str) -> dict:
    body = requests.get(
        f"{simulator.url}/product",
        params={"key": SECRET, "domain": 1, "asin": asin, "stats": 90, "history": 0},
        timeout=30,
    ).json()
    return body["products"][0]["stats"]


@pytest.mark.django_db
def test_every_column_is_filled_from_keepas_answers_and_served_by_the_api_and_csv(keepa, reader):
    keepa.quiet(True)
    sync = ingest.run(trigger="test", client=fast_client(keepa))
    assert sync.status == SyncRun.Status.OK, sync.summary()
    looked_up = list(
        Deal.objects.exclude(product_snapshot=None).exclude(now_seller_id="").order_by("asin")[:12]
    )
    assert len(looked_up) == 12

    for deal in looked_up:
        product = keepa.market.by_asin[deal.asin]
        seller = keepa.market.sellers[deal.now_seller_id]
        drops = [d if d >= 0 else None for d in product.sales_rank_drops]
        stats = _stats(keepa, deal.asin)
        live_used = [o for o in product.live_offers() if o.condition in USED_CONDITIONS]
        assert deal.binding == product.binding and deal.binding
        assert deal.genre == product.category_tree[-1][1] and deal.genre
        assert (deal.rank_drops_30, deal.rank_drops_90) == (drops[0], drops[1])
        assert deal.est_sales_month == decision.estimated_sales_per_month(drops[0], drops[1])
        assert deal.sales_rank_avg90 == deal.deal_snapshot["avg"][3][3]
        assert deal.sales_rank_avg365 == stats["avg365"][3]
        assert deal.avg_365 == stats["avg365"][2] and deal.avg_365 > 0
        assert deal.used_offer_count == len(live_used)
        assert deal.used_offer_trend in ("↑", "↓", "→")
        assert (deal.seller_rating_percent, deal.seller_rating_count) == (
            seller.rating,
            seller.rating_count,
        )
        assert deal.now_condition in USED_CONDITIONS

    # The API under the column names, the CSV under the labels.
    deal = looked_up[0]
    api = reader.get("/api/deals", {"q": deal.asin}).json()["results"][0]
    names = [
        "binding",
        "genre",
        "condition",
        "sales_rank_avg90",
        "sales_rank_avg365",
        "rank_drops_30",
        "rank_drops_90",
        "est_sales_month",
        "used_offer_count",
        "used_offer_trend",
        "avg_365",
        "seller_rating_percent",
        "seller_rating_count",
    ]
    assert api["condition"] == deal.now_condition
    for name in names:
        assert api[name] == getattr(deal, BY_NAME[name].field), name
    response = reader.get("/deals.csv", {"q": deal.asin})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    cells = dict(zip(rows[0], rows[1], strict=False))
    assert cells["Genre"] == deal.genre and cells["Binding"] == deal.binding
    assert cells["Condition"] in ("Like New", "Very Good", "Good", "Acceptable")
    assert cells["1-year avg"] == f"{deal.avg_365 / 100:.2f}"
    assert cells["Est. sales/mo"] == str(deal.est_sales_month)
    assert cells["Seller rating"] == str(deal.seller_rating_percent)
    assert cells["Offers 30 d"] == deal.used_offer_trend


def _api_asins(reader, **params) -> list[str]:
    body = reader.get("/api/deals", params).json()
    assert "errors" not in body, body
    return [r["asin"] for r in body["results"]]


def _row(asin: str, **fields) -> Deal:
    now = datetime.now(UTC)
    values = {"price_type": 2, "first_seen_utc": now, "last_seen_utc": now, "changed_at": now}
    return Deal.objects.create(asin=asin, **(values | fields))


@pytest.mark.django_db
def test_genre_binding_condition_sales_and_seller_filter_and_sort(reader):
    _row("B000000001", genre="Contemporary", binding="Mass Market Paperback", now_condition=2)
    _row("B000000002", genre="Literary Fiction", binding="Hardcover", now_condition=4)
    _row("B000000003", genre="Test Prep", binding="Paperback", now_condition=5)
    Deal.objects.filter(asin="B000000001").update(est_sales_month=9, seller_rating_percent=99)
    Deal.objects.filter(asin="B000000002").update(est_sales_month=2, seller_rating_percent=80)

    assert _api_asins(reader, genre="fiction") == ["B000000002"]  # part of the name, any case
    assert _api_asins(reader, binding="paperback", sort="asin") == ["B000000001", "B000000003"]
    assert _api_asins(reader, condition=4) == ["B000000002"]
    assert _api_asins(reader, est_sales_month_min=3) == ["B000000001"]
    assert _api_asins(reader, seller_rating_percent_min=90) == ["B000000001"]
    # Best condition first, and the unknown last either way.
    _row("B000000004")
    assert _api_asins(reader, sort="condition") == [f"B00000000{i}" for i in (1, 2, 3, 4)]
    assert _api_asins(reader, sort="-condition") == [f"B00000000{i}" for i in (3, 2, 1, 4)]
    assert _api_asins(reader, sort="-est_sales_month")[:2] == ["B000000001", "B000000002"]
    # The condition filter offers names, not numbers.
    html = reader.get("/").content.decode()
    assert '<option value="4">Good</option>' in html


@pytest.mark.django_db
def test_the_average_column_says_its_window_and_follows_the_querys_date_range(
    reader, settings, tmp_path
):
    _row("B000000001", avg_price=4000)
    assert ">90-day avg<" in reader.get("/").content.decode()  # the shipped query
    query = json.loads((FIXTURES.parents[2] / "settings.json").read_text())["deal_query"]
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path, deal_query={**query, "dateRange": 2})
    page = reader.get("/").content.decode()
    assert ">30-day avg<" in page and ">90-day avg<" not in page
    assert "30-day avg" in reader.get("/deal/B000000001").content.decode()
    header = next(
        csv.reader(io.StringIO(next(reader.get("/deals.csv").streaming_content).decode()))
    )
    assert "30-day avg" in header and "1-year avg" in header
    # An unreadable settings file does not take the page down: the plain heading stays.
    broken = tmp_path / "broken.json"
    broken.write_text('{"deal_query": ')
    settings.DEALS_SETTINGS_FILE = broken
    page = reader.get("/")
    assert page.status_code == 200 and ">Average<" in page.content.decode()


# --- seller ratings: fetched once, refreshed at most daily ----------------------------------


def _enrich(simulator, asins: list[str]) -> None:
    Deal.objects.filter(asin__in=asins).update(
        enrich_priority=EnrichPriority.PRICE_CHANGED, enrich_requested_at=NOW
    )
    client = fast_client(simulator)
    client.token_status()
    Enricher(Run.detached(SyncRun.Kind.UPDATE, load_config(), client)).run()


def _seller_calls(simulator) -> int:
    return simulator.stats()["requests"]["/seller"]


@pytest.mark.django_db(transaction=True)
def test_a_sellers_rating_is_fetched_once_and_refreshed_at_most_daily(keepa):
    keepa.quiet(True)
    with at(0):
        assert ingest.run(trigger="test", client=fast_client(keepa)).status == "ok"
    deal = (
        Deal.objects.exclude(now_seller_id="")
        .exclude(seller_rating_percent=None)
        .order_by("asin")
        .first()
    )
    seller_id = deal.now_seller_id
    first = keepa.market.sellers[seller_id].rating
    assert Seller.objects.get(seller_id=seller_id).rating_percent == first
    # Another deal of the same seller, looked up long ago.
    other = _row("B0OTHER001", now_seller_id=seller_id, seller_rating_percent=None)
    lowered = max(0, first - 12)
    keepa.post("/_sim/seller", {"seller_id": seller_id, "rating": lowered, "rating_count": 7})

    # Only this deal is due for a look-up (the others were looked up "just now").
    Deal.objects.exclude(asin=deal.asin).update(enriched_at=NOW + timedelta(hours=25))
    with at(23):  # less than a day: the stored rating stands, no /seller call
        calls = _seller_calls(keepa)
        _enrich(keepa, [deal.asin])
        assert _seller_calls(keepa) == calls
    deal.refresh_from_db()
    assert deal.seller_rating_percent == first

    with at(25):  # a day on: fetched again, once, for every deal of that seller
        _enrich(keepa, [deal.asin])
        assert _seller_calls(keepa) == calls + 1
    deal.refresh_from_db()
    other.refresh_from_db()
    assert (deal.seller_rating_percent, deal.seller_rating_count) == (lowered, 7)
    assert (other.seller_rating_percent, other.seller_rating_count) == (lowered, 7)
    assert Seller.objects.get(seller_id=seller_id).rating_fetched_at == NOW + timedelta(hours=25)


# --- the backfill: what old rows need, and what it costs ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_backfill_dry_run_counts_the_fetches_and_the_real_run_spends_exactly_that(keepa):
    keepa.quiet(True)
    assert ingest.run(trigger="test", client=fast_client(keepa)).status == "ok"
    columns = [c.name for c in COLUMNS if c.compute and c.name in _DECISION]
    rows = list(Deal.objects.exclude(product_snapshot=None).exclude(now_seller_id="")[:5])
    # Rows stored before these columns: the snapshot kept no year's averages, the seller no
    # rating, and the columns are empty.
    for deal in rows:
        snapshot = dict(deal.product_snapshot)
        snapshot["stats"] = {k: v for k, v in snapshot["stats"].items() if k != "avg365"}
        Deal.objects.filter(pk=deal.pk).update(
            product_snapshot=snapshot, **dict.fromkeys(("avg_365", "sales_rank_avg365"))
        )
    Seller.objects.filter(seller_id__in={d.now_seller_id for d in rows}).update(
        rating_fetched_at=None
    )
    Deal.objects.update(genre="", binding="", rank_drops_30=None, est_sales_month=None)
    total = Deal.objects.count()
    # What needs Keepa: those rows, any row never looked up, and each seller never rated.
    products = len(rows) + Deal.objects.filter(product_snapshot=None).count()
    rated = Seller.objects.exclude(rating_fetched_at=None).values_list("seller_id", flat=True)
    sellers = set(
        Deal.objects.exclude(now_seller_id="")
        .exclude(now_seller_id__in=list(rated))
        .values_list("now_seller_id", flat=True)
    )
    assert len(sellers) >= 1

    out = StringIO()
    call_command(
        "backfill_all_deals", "--dry-run", "--columns", ",".join(columns), stdout=out, stderr=out
    )
    text = out.getvalue()
    tokens = products + len(sellers)
    assert f"{total} rows checked" in text
    assert f"Keepa data needed for {tokens} tokens: {products} rows need a /product fetch" in text
    assert f"{len(sellers)} sellers a /seller fetch" in text
    assert not Deal.objects.exclude(genre="").exists()  # a dry run writes nothing

    before = keepa.stats()["tokens_consumed"]
    call_command("backfill_all_deals", "--columns", ",".join(columns), stdout=StringIO())
    after = keepa.stats()["tokens_consumed"]
    spent = sum(after.values()) - sum(before.values())
    assert spent == tokens  # 1 token a product without offers, 1 a seller
    for deal in Deal.objects.filter(pk__in=[d.pk for d in rows]):
        assert deal.avg_365 is not None and deal.sales_rank_avg365 is not None
        assert deal.genre and deal.binding and deal.seller_rating_percent is not None
    # Everything else came from the stored snapshots at no cost.
    assert not Deal.objects.exclude(product_snapshot=None).filter(genre="").exists()
    assert not Deal.objects.filter(
        rank_drops_30=None, deal_snapshot__salesRankDrops30__gte=0
    ).exists()


_DECISION = {
    "genre",
    "binding",
    "sales_rank_avg90",
    "sales_rank_avg365",
    "rank_drops_30",
    "rank_drops_90",
    "est_sales_month",
    "used_offer_count",
    "used_offer_trend",
    "avg_365",
    "seller_rating_percent",
    "seller_rating_count",
}
