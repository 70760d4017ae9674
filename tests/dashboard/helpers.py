"""Deals and page readers shared by the dashboard's tests."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from django.test import Client
from django.utils import timezone

from deals.models import Deal, DealEvent


def show_every_column(client: Client) -> None:
    """What site.js writes when the reader ticks every column in the Columns menu (a column
    not chosen is drawn as an empty cell)."""
    from deals.dashboard import COLUMNS_COOKIE, table_columns

    client.cookies[COLUMNS_COOKIE] = "%2C".join(c.name for c in table_columns())


def make_deal(asin: str, *, entered: bool = False, **fields) -> Deal:
    now = timezone.now()
    values = {
        "title": f"Book {asin}",
        "price_type": 2,
        "now_price": 1000,
        "avg_price": 3000,
        "delta_percent": 50,
        "sales_rank": 10_000,
        "root_category": 283155,
        "first_seen_utc": now,
        "last_seen_utc": now,
        "changed_at": now,
        "price_changed_at": now - timedelta(hours=1),
    }
    deal = Deal.objects.create(asin=asin, **(values | fields))
    if entered:
        DealEvent.objects.create(
            asin=asin, kind=DealEvent.Kind.ENTERED, field="now_price", new_value=deal.now_price
        )
    return deal


def many_deals(count: int) -> list[Deal]:
    """`count` deals with distinct % below average (highest first = the default order)."""
    return [make_deal(f"B{i:09d}", delta_percent=1000 - i) for i in range(count)]


def shown_asins(response) -> list[str]:
    return re.findall(r'<tr id="deal-([A-Z0-9]+)"', response.content.decode())


def live_url(response) -> str:
    match = re.search(r'id="live-poller"[^>]*hx-get="([^"]+)"', response.content.decode())
    assert match, "the page has no live poller"
    return unescape(match.group(1))


def live(client: Client, url: str):
    return client.get(url, headers={"HX-Request": "true"})
