"""Real history from day one: a deal's page and row draw Keepa's own price and rank history,
not only the changes the app has recorded since it first saw the deal."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from deals import ingest
from deals.history import CHART_DAYS
from deals.models import Deal, DealEvent
from tests.dashboard.helpers import make_deal
from tests.deals_fixtures import next_cycle
from tests.test_security import INLINE

pytestmark = pytest.mark.django_db

DATE = r"(\d{4}-\d{2}-\d{2})"
LABEL = re.compile(rf'<svg class="history-chart"[^>]*aria-label="[^"]* from {DATE} to {DATE}')


def _chart_span(html: str) -> tuple[datetime, datetime]:
    match = LABEL.search(html)
    assert match, "the deal page has no history chart"
    return tuple(datetime.fromisoformat(d) for d in match.groups())


def test_a_deal_first_seen_a_minute_ago_shows_months_of_price_and_rank_history(keepa, client):
    keepa.quiet(True)
    ingest.run(trigger="test")
    asin = keepa.post("/_sim/product", {"category": 283155, "deal": True})["asin"]
    next_cycle(keepa)
    ingest.run(trigger="test")  # the sweep finds it, the offers look-up brings its history
    deal = Deal.objects.get(asin=asin)
    # The app itself has seen one price: the one the deal entered at.
    assert DealEvent.objects.filter(asin=asin, field="now_price").count() == 1

    html = client.get(f"/deal/{asin}").content.decode()

    first, last = _chart_span(html)
    # Keepa's own days, reaching back far before the app ever saw the deal.
    assert (last - first).days >= CHART_DAYS - 1
    assert 'class="series price"' in html and 'class="series rank"' in html
    assert 'class="series box"' in html  # the used buy box (csv 32), from the offers look-up
    assert 'class="mark avg"' in html and 'class="mark buy"' in html
    assert "#" in html.split('class="history-chart"')[1].split("</svg>")[0]  # rank scale
    assert not INLINE.findall(html)
    # The stored digest, one value a day, ends at the price the sweep just read.
    digest = deal.product_snapshot["history"]
    assert len(digest["price"]) == CHART_DAYS + 1 and digest["price"][-1] == deal.now_price
    assert sum(v > 0 for v in digest["rank"]) > CHART_DAYS // 2


def test_the_rows_sparkline_comes_from_keepas_history_when_it_is_stored(client):
    now = timezone.now()
    end_minute = int(now.timestamp() // 60) - 21564000
    prices = [3000] * 70 + [2800] * 30 + [1200]
    make_deal(
        "0312850123",
        now_price=1200,
        product_snapshot={"history": {"end": end_minute, "step": 1440, "type": 2,
                                      "price": prices, "box": [], "rank": [], "months": {}}},
    )  # fmt: skip

    html = client.get("/").content.decode()

    spark = re.search(r'<svg class="spark[^>]*aria-label="([^"]+)"', html)
    assert spark, "no sparkline on the row"
    # 30 days back, from Keepa's history; no DealEvent exists for this deal at all.
    assert spark.group(1).startswith("Now price $28.00 → $12.00 since ")
    since = datetime.fromisoformat(spark.group(1).rsplit(" ", 1)[1]).date()
    assert since <= (now - timedelta(days=29)).date()


def test_before_the_offers_look_up_the_page_says_when_history_arrives(client):
    make_deal("0312850123")
    html = client.get("/deal/0312850123").content.decode()
    assert "history arrives with the offers look-up." in html
    assert 'class="history-chart"' not in html
