"""A failed offers collection (`offersSuccessful: false`) is not "no offer": the deal keeps
what it showed and is looked up again within minutes (docs/keepa.md §5.3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from freezegun import freeze_time

from deals.config import load_config
from deals.enrich import OFFERS_RETRY_AFTER, Enricher
from deals.jobs import Run, merged_notes
from deals.models import Deal, EnrichPriority, SyncRun
from keepa_client import KeepaClient
from keepa_client.wire import datetime_to_keepa_minute
from tests.deals_fixtures import SECRET, write_settings

pytestmark = pytest.mark.django_db

BASE = "https://keepa.test"
ASIN = "0316769487"
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def envelope(consumed: int) -> dict:
    return {
        "timestamp": int(NOW.timestamp() * 1000),
        "tokensLeft": 1000,
        "refillIn": 30_000,
        "refillRate": 20,
        "tokenFlowReduction": 0.0,
        "tokensConsumed": consumed,
        "processingTimeInMs": 3,
    }


def product(asin: str, *, ok: bool) -> dict:
    minute = datetime_to_keepa_minute(NOW)
    offers = [
        {
            "offerId": 1,
            "sellerId": "ANEW0SELLER",
            "condition": 3,
            "isFBA": False,
            "isPrime": False,
            "isShippable": True,
            "lastSeen": minute,
            "offerCSV": [minute, 1800, 0],
        }
    ]
    return {
        "asin": asin,
        "title": "A used book",
        "offersSuccessful": ok,
        "offers": offers if ok else [],
        "liveOffersOrder": [0] if ok else [],
        "fbaFees": {"pickAndPackFee": 344},
    }


def answer(ok: bool):
    def callback(request):
        asins = parse_qs(urlparse(request.url).query)["asin"][0].split(",")
        # Keepa charges 1 token for a product whose offers it could not collect.
        body = {**envelope(len(asins) * (6 if ok else 1)), "products": []}
        body["products"] = [product(a, ok=ok) for a in asins]
        return 200, {}, json.dumps(body)

    return callback


def shown(deal: Deal) -> tuple:
    return (deal.now_total, deal.now_seller_id, deal.now_seller_name, deal.now_condition)


@pytest.fixture
def deal() -> Deal:
    before = NOW - timedelta(days=2)
    return Deal.objects.create(
        asin=ASIN,
        title="A used book",
        price_type=2,
        now_price=1500,
        now_total=2100,
        now_seller_id="AOLD0SELLER",
        now_seller_name="Old Books",
        now_condition=2,
        now_is_fba=False,
        avg_price=4000,
        first_seen_utc=before,
        last_seen_utc=NOW,
        changed_at=NOW,
        enriched_at=before,
        enrich_priority=EnrichPriority.PRICE_CHANGED,
        enrich_requested_at=NOW - timedelta(minutes=1),
        product_snapshot={"asin": ASIN, "fbaFees": {"pickAndPackFee": 344}},
    )


def enrich() -> SyncRun:
    client = KeepaClient(SECRET, base_url=BASE, sleep=lambda s: None)
    run = Run.detached(SyncRun.Kind.UPDATE, load_config(), client)
    client.token_status()
    Enricher(run).run()
    run.sync.note = "; ".join(merged_notes(run.notes))  # as a run records them
    return run.sync


@freeze_time(NOW)
def test_a_failed_offers_look_up_keeps_the_offer_and_is_retried_within_minutes(
    deal, settings, tmp_path
):
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    before = shown(deal)
    with responses.RequestsMock() as keepa:
        keepa.get(f"{BASE}/token", json=envelope(0))
        keepa.add_callback(responses.GET, f"{BASE}/product", callback=answer(ok=False))
        sync = enrich()
        product_calls = [c for c in keepa.calls if "/product" in c.request.url]

    deal.refresh_from_db()
    assert shown(deal) == before  # not recorded as "no offer"
    assert deal.enriched_at == NOW - timedelta(days=2)  # not counted as looked up
    assert deal.is_updating  # the row still says its seller look-up is pending
    assert NOW < deal.enrich_requested_at <= NOW + timedelta(minutes=10)
    assert len(product_calls) == 1  # not asked again at once within the same run
    assert "could not collect offers for 1 deal:" in sync.note

    # A few minutes later (well inside reenrich_after_hours) the next run asks again.
    later = NOW + OFFERS_RETRY_AFTER + timedelta(seconds=1)
    with freeze_time(later), responses.RequestsMock(assert_all_requests_are_fired=False) as keepa:
        keepa.get(f"{BASE}/token", json=envelope(0))
        keepa.add_callback(responses.GET, f"{BASE}/product", callback=answer(ok=True))
        keepa.get(f"{BASE}/seller", json={**envelope(1), "sellers": {}})
        enrich()
        assert any("/product" in c.request.url for c in keepa.calls)

    deal.refresh_from_db()
    assert (deal.now_total, deal.now_seller_id, deal.now_condition) == (1800, "ANEW0SELLER", 3)
    assert deal.enrich_priority == EnrichPriority.NONE and not deal.is_updating


@freeze_time(NOW)
def test_before_its_retry_time_a_failed_deal_is_not_asked_for(deal, settings, tmp_path):
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    Deal.objects.filter(pk=deal.pk).update(enrich_requested_at=NOW + timedelta(minutes=3))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as keepa:
        keepa.get(f"{BASE}/token", json=envelope(0))
        keepa.add_callback(responses.GET, f"{BASE}/product", callback=answer(ok=True))
        enrich()
        assert not [c for c in keepa.calls if "/product" in c.request.url]


def test_over_http_a_failed_look_up_is_retried_and_not_recorded_as_no_offer(keepa):
    from django.db.models import F

    from deals import ingest
    from tests.deals_fixtures import next_cycle

    keepa.quiet(True)
    ingest.run(trigger="test")
    deal = Deal.objects.exclude(now_total=None).filter(now_price__gt=2600).order_by("asin").first()
    staged = requests.post(f"{keepa.url}/_sim/faults", json={"offers_fail_next": 1}, timeout=30)
    if staged.status_code != 200:
        pytest.skip("the simulator has no offers_fail_next fault yet: " + staged.text[:200])
    before = shown(deal)
    keepa.set_offer(deal.asin, "ADROP0SELLER", price=deal.now_price - 300, condition=3)
    next_cycle(keepa)

    failed = ingest.run(trigger="test")

    deal.refresh_from_db()
    assert "could not collect offers for 1 deal:" in failed.note, failed.summary()
    assert shown(deal) == before and deal.is_updating
    # The retry time passes (the app's clock is the wall clock: move the request back).
    next_cycle(keepa, minutes=6)
    Deal.objects.filter(pk=deal.pk).update(
        enrich_requested_at=F("enrich_requested_at") - OFFERS_RETRY_AFTER
    )
    retried = ingest.run(trigger="test")
    deal.refresh_from_db()
    assert deal.now_seller_id == "ADROP0SELLER", retried.summary()
