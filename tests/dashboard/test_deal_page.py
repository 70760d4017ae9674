"""The page of one deal: every column, its offers, its history and chart."""

from __future__ import annotations

import re

import pytest

from deals.columns import COLUMNS
from deals.models import DealEvent, Seller
from tests.dashboard.helpers import make_deal

pytestmark = pytest.mark.django_db


def test_the_deal_page_shows_every_column_offers_history_and_links(client):
    deal = make_deal(
        "0312850123",
        title="The Left Hand of Darkness",
        now_price=900,
        product_snapshot={
            "offers": [
                {
                    "sellerId": "A2SELLER",
                    "condition": 2,
                    "isFBA": False,
                    "price": 1250,
                    "shipping": 399,
                },
                {"sellerId": "A1BOOKS", "condition": 3, "isFBA": True, "price": 900, "shipping": 0},
            ]
        },
    )
    Seller.objects.create(seller_id="A1BOOKS", name="BookBarn")
    DealEvent.objects.create(
        asin=deal.asin, kind=DealEvent.Kind.ENTERED, field="now_price", new_value=1500
    )
    DealEvent.objects.create(
        asin=deal.asin,
        kind=DealEvent.Kind.CHANGED,
        field="now_price",
        old_value=1500,
        new_value=900,
    )

    DealEvent.objects.create(
        asin=deal.asin,
        kind=DealEvent.Kind.CHANGED,
        field="now_condition",
        old_value=2,
        new_value=3,
    )

    response = client.get("/deal/0312850123")

    html = response.content.decode()
    assert response.status_code == 200
    for column in COLUMNS:
        assert (column.label if column.name != "avg_price" else "90-day avg") in html
    assert "First seen utc" in html  # model fields without a column are listed too
    assert 'href="https://www.amazon.com/dp/0312850123"' in html
    assert 'href="https://keepa.com/#!product/1-0312850123"' in html
    assert '<svg class="chart' in html
    assert "BookBarn" in html and "A2SELLER" in html and "$16.49" in html  # 12.50 + 3.99
    assert html.index("BookBarn") < html.index("A2SELLER")  # cheapest offer first
    assert "entered</strong> the deals at $15.00" in html
    assert "Now: $15.00 → <strong>$9.00</strong>" in html
    assert "Condition: Like New → <strong>Very Good</strong>" in html


def test_the_deal_page_is_404_for_an_unknown_asin(client):
    assert client.get("/deal/NOSUCHASIN").status_code == 404


def test_the_deal_page_shows_keepas_unknown_prices_as_dashes_never_as_a_cent(client):
    make_deal(
        "0312850123",
        product_snapshot={
            "offers": [
                {"sellerId": "A3GONE", "condition": 4, "price": -1, "shipping": 0},
                {"sellerId": "A1BOOKS", "condition": 3, "price": 1250, "shipping": -1},
            ]
        },
    )

    html = client.get("/deal/0312850123").content.decode()

    rows = re.findall(r"<tr><td>.*?</tr>", html, re.S)
    assert [("A1BOOKS" in r, "A3GONE" in r) for r in rows] == [(True, False), (False, True)]
    known, gone = rows
    # Shipping unknown: the total is the price; no price: no total, listed last.
    assert re.findall(r'<td class="money">(?:<strong>)?([^<]*)<', known) == [
        "$12.50",
        "\u2013",
        "$12.50",
    ]
    assert re.findall(r'<td class="money">(?:<strong>)?([^<]*)<', gone) == [
        "\u2013",
        "$0.00",
        "\u2013",
    ]
    assert "\u2212$0.01" not in html
