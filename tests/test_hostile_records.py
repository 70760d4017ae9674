"""Hostile and broken records from Keepa: each costs itself, never its page, its run or a view.

Records are made hostile on their way from the simulator to the app by a rewriting proxy
(tests/keepa_proxy.py), so the real client parses them from real HTTP answers.
"""

from __future__ import annotations

import json
from datetime import timedelta
from html import escape

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection
from django.test import Client
from django.utils import timezone

from deals import bulk, ingest
from deals.models import Deal, DealEvent, SyncRun
from keepa_client.client import KeepaClient
from tests.deals_fixtures import SECRET, fast_client
from tests.keepa_proxy import HostileDeals, keepa_proxy

pytestmark = pytest.mark.django_db

# Each of these, stored, used to make every page listing it answer 500 (a "/" or markup breaks
# the deal link) or, on PostgreSQL, roll back its whole page (17 characters > varchar(16)).
HOSTILE_ASINS = ["ab/c", "<b>X</b>1", "B" * 40, "B0ÄBCDEFGH", "B0ABCDEFGHIJKLMNO"]


def storable(asins: list[str]) -> list[str]:
    """The ASINs an older version could have stored: SQLite keeps a value longer than the
    column, PostgreSQL refuses it, so there no such row can exist to be read."""
    if connection.vendor == "sqlite":
        return asins
    limit = Deal._meta.get_field("asin").max_length
    return [asin for asin in asins if len(asin) <= limit]


@pytest.fixture
def reader():
    client = Client()
    client.force_login(User.objects.create_user("reseller", password="pw-for-tests-1"))
    return client


def proxied_client(url: str) -> KeepaClient:
    return KeepaClient(SECRET, base_url=url, sleep=lambda s: None, max_token_wait_s=0)


def test_malformed_deals_are_skipped_and_named_and_the_rest_of_their_page_is_stored(keepa, reader):
    hostile = HostileDeals(HOSTILE_ASINS)
    with keepa_proxy(keepa.url, hostile) as proxy:
        sync = ingest.run(trigger="test", client=proxied_client(proxy.url))

    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert "5 malformed deals skipped: ASIN 'ab/c' not an ASIN (4 characters)" in sync.note
    assert "ASIN '<b>X</b>1' not an ASIN" in sync.note and "2 more" in sync.note
    stored = set(Deal.objects.values_list("asin", flat=True))
    good = [asin for asin in hostile.page if asin not in HOSTILE_ASINS]
    assert len(good) == 145 and set(good) <= stored  # the rest of the page is kept
    assert not stored & set(HOSTILE_ASINS)
    # 150 records, 5 dropped, is still a full page: the sweep read on to the real end.
    assert sync.pages >= 2 and sync.sweep_complete
    assert Deal.objects.count() == sync.inserted == sync.deals_seen
    # The NUL is gone from the title and from the stored copy of the deal.
    deal = Deal.objects.get(asin=hostile.nul_titled[0])
    assert deal.title == "Nul in the title"
    assert "\\u0000" not in json.dumps(deal.deal_snapshot)
    # What the reseller sees: the dashboard serves, and the run's summary (printed by
    # refresh_deals, the task's result) says what was skipped.
    assert reader.get("/").status_code == 200
    found = reader.get(f"/?q={deal.asin}").content.decode()
    assert "Nul in the title" in found
    assert "ok: " in sync.summary() and "5 malformed deals skipped" in sync.summary()


def test_a_malformed_product_is_skipped_and_a_nul_in_a_title_is_cleaned(keepa):
    seen: dict[str, str] = {}

    def rewrite(path: str, body: dict) -> dict:
        if path == "/product" and not seen:
            first, second = body["products"][:2]
            seen["malformed"], first["asin"] = first["asin"], "ab/c"
            seen["nul"] = second["asin"]
            second["title"] = "A\x00title"
        return body

    with keepa_proxy(keepa.url, rewrite) as proxy:
        sync = ingest.run(trigger="test", client=proxied_client(proxy.url))

    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert "1 malformed product skipped: ASIN 'ab/c' not an ASIN" in sync.note
    # The deal whose product came back malformed has no offer; it is looked up when stale.
    unanswered = Deal.objects.get(asin=seen["malformed"])
    assert unanswered.now_total is None and unanswered.product_snapshot is None
    cleaned = Deal.objects.get(asin=seen["nul"])
    assert cleaned.now_seller_id and cleaned.product_snapshot["title"] == "Atitle"
    assert sync.enriched == Deal.objects.exclude(product_snapshot=None).count()
    assert sync.enriched == sync.inserted - 1


def failing_on(method: str, model: type, call: int, monkeypatch) -> None:
    """Make the `call`-th non-empty bulk write (`insert_rows` or `update_rows`) of `model` raise,
    the way a database refusing a value does."""
    real = getattr(bulk, method)
    calls = [0]

    def write(target, rows, *args, **kwargs):
        if target is model and rows:
            calls[0] += 1
            if calls[0] == call:
                raise DatabaseError("staged: value too long for type character varying(16)")
        return real(target, rows, *args, **kwargs)

    monkeypatch.setattr(bulk, method, write)


def test_a_page_whose_write_fails_counts_for_nothing(keepa, monkeypatch):
    failing_on("insert_rows", Deal, call=2, monkeypatch=monkeypatch)  # the second page

    sync = ingest.run(trigger="test", client=fast_client(keepa))

    assert sync.status == SyncRun.Status.PARTIAL and "staged" in sync.error
    # The first page is stored and counted; the second rolled back and is not counted.
    assert Deal.objects.count() == 150
    assert sync.inserted == 150 and sync.updated == sync.unchanged == sync.price_drops == 0
    assert DealEvent.objects.filter(kind="entered").count() == 150
    # The next run resumes the sweep at the page that did not commit.
    assert not sync.sweep_complete and sync.next_page == 1


def test_an_offers_write_that_fails_counts_for_nothing(keepa, monkeypatch):
    failing_on("update_rows", Deal, call=2, monkeypatch=monkeypatch)  # the second look-up

    sync = ingest.run(trigger="test", client=fast_client(keepa))

    assert sync.status == SyncRun.Status.PARTIAL and "staged" in sync.error
    assert sync.enriched == Deal.objects.exclude(enriched_at=None).count() == 100


# -- rows stored before ASINs were checked ------------------------------------------------


def store_deal(asin: str, title: str) -> Deal:
    now = timezone.now()
    deal = Deal.objects.create(
        asin=asin,
        title=title,
        price_type=2,
        now_price=1500,
        avg_price=4000,
        delta_percent=62,
        first_seen_utc=now - timedelta(hours=1),
        last_seen_utc=now,
        changed_at=now,
    )
    DealEvent.objects.create(asin=asin, kind=DealEvent.Kind.ENTERED, at=now)
    return deal


def test_rows_with_malformed_asins_in_the_database_never_break_a_page(reader):
    store_deal("0439708184", "A good deal")
    for asin in storable(HOSTILE_ASINS):
        store_deal(asin, f"Stored by an older version: {asin}")
    # The live poll as the page would send it once these rows changed.
    live = "/live?cursor=0&opened=0&shown=" + ",".join(["0439708184", *HOSTILE_ASINS])

    for url in (
        "/",
        "/?sort=asin",
        "/?sort=-asin",
        "/?sort=title",
        "/?sort=-delta_percent&page=1",
        "/?q=ab",
        "/?q=%3Cb%3E",
        live,
        "/api/deals",
        "/api/deals?sort=asin",
        "/deals.csv",
        "/status",
    ):
        response = reader.get(url)
        assert response.status_code == 200, url
        body = (
            b"".join(response.streaming_content) if response.streaming else response.content
        ).decode()
        if url.startswith(("/?sort", "/live")) or url == "/":
            # Every row listed, the malformed ones as inert text (never as markup).
            assert escape("<b>X</b>1") in body and "<b>X</b>1" not in body, url
            assert "ab/c" in body and "0439708184" in body, url
    # A "/" in an ASIN no longer breaks its link: the deal page is reachable.
    page = reader.get("/deal/ab/c")
    assert page.status_code == 200 and "Stored by an older version: ab/c" in page.content.decode()


def test_enrichment_passes_over_stored_rows_it_cannot_ask_keepa_about(keepa):
    for asin in storable(HOSTILE_ASINS):
        store_deal(asin, "old row")

    sync = ingest.run(trigger="test", client=fast_client(keepa))

    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert not Deal.objects.filter(asin__in=HOSTILE_ASINS, enriched_at=None).exists()
    assert sync.enriched == Deal.objects.exclude(product_snapshot=None).count() == sync.inserted


def test_snapshots_read_back_exactly_as_stored_even_numbers_past_64_bits():
    # Snapshots are read with orjson, which would turn an integer past 64 bits into a float.
    snapshot = {
        "stats": {"avg90": [-1, -1, 1850]},
        "title": "Ünïcode “quotes” \\u2028",
        "huge": 2**70,
        "low": -(10**19),
        "unknown_root": 9223372036854775807,
        "ratio": 0.1,
    }
    Deal.objects.create(
        asin="B00SNAP001",
        title="t",
        price_type=2,
        first_seen_utc=timezone.now(),
        last_seen_utc=timezone.now(),
        changed_at=timezone.now(),
        product_snapshot=snapshot,
        deal_snapshot={"current": [-1, -1, 1800]},
        categories=[283155, 9223372036854775807],
    )

    deal = Deal.objects.get(asin="B00SNAP001")

    assert deal.product_snapshot == snapshot
    assert type(deal.product_snapshot["huge"]) is int and type(deal.product_snapshot["low"]) is int
    assert deal.deal_snapshot == {"current": [-1, -1, 1800]}
    assert deal.categories == [283155, 9223372036854775807]
