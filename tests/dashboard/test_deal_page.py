"""The page of one deal: the buy box, the fees behind Profit, offers, history and chart."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from deals.deal_page import stored_label
from deals.models import Deal, DealEvent, DealStatus, Seller
from tests.dashboard.helpers import make_deal
from tests.deals_fixtures import write_settings

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
    for field in Deal._meta.concrete_fields:
        if field.name not in ("id", "deal_snapshot", "product_snapshot", "avg_price"):
            assert escape(stored_label(field.name)) in html
    assert "First stored here" in html  # model fields without a column are listed too
    assert "Keepa price type 2" in html and ">Used <" in html  # internals in words
    assert "Enrich priority" not in html
    assert '<details class="card internals">' in html  # folded away
    assert 'href="https://www.amazon.com/gp/offer-listing/0312850123/?condition=used"' in html
    assert "90-day avg" in html  # the Average column names its window
    assert 'href="https://www.amazon.com/dp/0312850123"' in html
    assert 'href="https://keepa.com/#!product/1-0312850123"' in html
    assert '<svg class="chart' in html
    assert "BookBarn" in html and "A2SELLER" in html and "$16.49" in html  # 12.50 + 3.99
    assert html.index("BookBarn") < html.index("A2SELLER")  # cheapest offer first
    assert "Entered the deals at $15.00" in html
    assert "Now price fell $15.00 → <strong>$9.00</strong>" in html
    assert "Condition now Very Good (was Like New)" in html


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
    assert re.findall(r'<td class="money(?: opt)?">(?:<strong>)?([^<]*)<', known) == [
        "$12.50",
        "\u2013",
        "$12.50",
    ]
    assert re.findall(r'<td class="money(?: opt)?">(?:<strong>)?([^<]*)<', gone) == [
        "\u2013",
        "$0.00",
        "\u2013",
    ]
    assert "\u2212$0.01" not in html


def fee_snapshot(fba_fee: int = 344, referral: int = 15) -> dict:
    return {"fbaFees": {"pickAndPackFee": fba_fee}, "referralFeePercentage": referral, "offers": []}


def test_the_buy_box_shows_the_checked_offer_and_a_buy_button_to_the_used_offers(client):
    make_deal(
        "0312850123",
        now_price=1400,
        now_total=1500,
        now_seller_id="A1BOOKS",
        now_seller_name="Granite State Media and More",
        now_condition=3,
        now_is_fba=True,
        enriched_at=timezone.now(),
        max_buy_total=1400,
    )

    html = client.get("/deal/0312850123").content.decode()

    box = html[html.index('class="card buy-box"') : html.index('class="card fee-box"')]
    assert "<strong>$15.00</strong>" in box and "✓ checked offer" in box
    assert "Granite State Media and More" in box  # never cut off
    assert "Very Good" in box and "yes (FBA)" in box
    assert "Above your max buy of $14.00" in box  # a cue in words, not colour alone
    assert (
        '<a class="button buy-button" href="https://www.amazon.com/gp/offer-listing/0312850123'
        '/?condition=used"' in box
    )


def test_an_unchecked_buy_price_is_the_estimate_and_says_so(client):
    make_deal("0312850123", now_price=1400, est_landed=1799, est_source="item+shipping")

    html = client.get("/deal/0312850123").content.decode()

    box = html[html.index('class="card buy-box"') : html.index('class="card fee-box"')]
    assert "<strong>$17.99</strong>" in box and ">estimate</abbr>" in box
    assert "not looked up yet" in box
    assert "No fee data yet" in html  # no fees until the first offers look-up


def test_the_fee_breakdown_adds_up_to_the_profit_with_your_costs(client, settings, tmp_path):
    """README's worked example: $15.00 delivered, average $40.00, FBA $3.44, referral 15 %."""
    settings.DEALS_SETTINGS_FILE = write_settings(
        tmp_path,
        seller_costs={
            "prep_fee_cents": 50,
            "inbound_shipping_cents": 40,
            "closing_fee_cents": 180,
            "sales_tax_percent": 8.25,
            "tax_exempt": False,
            "target_markup_percent": 50,
        },
    )
    make_deal(
        "0312850123",
        now_price=1500,
        now_total=1500,
        avg_price=4000,
        enriched_at=timezone.now(),
        product_snapshot=fee_snapshot(),
    )

    html = client.get("/deal/0312850123").content.decode()

    fees = html[html.index('class="card fee-box"') : html.index('id="price-history"')]
    lines = re.findall(
        r"<th>(?:\u2212 )?(.*?)</th><td class=\"money[^\"]*\">(?:<strong>)?([^<]*)<", fees
    )
    assert lines == [
        ("Expected sale price", "$40.00"),
        ("Referral fee", "$6.00"),
        ("Closing fee", "$1.80"),
        ("FBA pick-and-pack fee", "$3.44"),
        ("Amazon fees", "$11.24"),
        ("Buy price", "$15.00"),
        ("Sales tax", "$1.24"),
        ("Prep", "$0.50"),
        ("Inbound shipping", "$0.40"),
        ("All-in cost", "$17.14"),
        ("Profit", "$11.62"),
        ("ROI", "67.8 %"),
        ("Margin", "29.1 %"),
        ("Max buy", "$16.88"),
    ]
    assert "\u2212 Referral fee" in fees  # costs read as subtracted
    assert "15 % of the sale price" in fees and "8.25 % of the buy price" in fees


def test_a_roi_below_target_is_marked_in_words(client, settings, tmp_path):
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    make_deal(
        "0312850123",
        now_price=2500,
        now_total=2500,
        avg_price=4000,
        enriched_at=timezone.now(),
        product_snapshot=fee_snapshot(),
    )

    html = client.get("/deal/0312850123").content.decode()

    assert "▼ below your 50 % target" in html


def test_history_reads_as_sentences_and_groups_one_look_up(client):
    deal = make_deal("0312850123")
    at = timezone.now() - timedelta(minutes=5)
    changes = [
        ("now_total", 2439, 2191),
        ("now_seller_id", "A1OLD", "A2NEW"),
        ("now_seller_name", "Old Books", "Granite State Media"),
        ("now_is_fba", None, False),
    ]
    for field, old, new in changes:
        DealEvent.objects.create(
            asin=deal.asin,
            kind=DealEvent.Kind.CHANGED,
            field=field,
            old_value=old,
            new_value=new,
            at=at,
        )
    DealEvent.objects.create(
        asin=deal.asin,
        kind=DealEvent.Kind.CHANGED,
        field="now_is_fba",
        old_value=False,
        new_value=True,
        at=at + timedelta(minutes=1),
    )

    html = client.get("/deal/0312850123").content.decode()

    items = re.findall(r"<li class=\"changed\">(.*?)</li>", html, re.S)
    assert len(items) == 2  # one line per moment
    assert "Now is FBA" in items[0]
    assert (
        "Cheapest offer fell $24.39 → <strong>$21.91</strong> (other seller: Granite State Media)"
        in items[1]
    )
    assert "Not FBA" in items[1]
    assert "fba:" not in html.lower() and "\u2013 \u2192 no" not in html


def test_the_status_and_its_reason_are_shown(client):
    make_deal(
        "0312850123",
        status=DealStatus.LEFT,
        status_reason="sold out",
        status_at=timezone.now(),
    )

    html = client.get("/deal/0312850123").content.decode()

    assert "✕ Left the deals" in html and "sold out" in html


def test_a_rise_that_took_the_cheapest_copy_reads_as_one_line():
    from deals.deal_page import history_items

    at = timezone.now()
    events = [
        DealEvent(asin="X", kind="changed", field=field, old_value=old, new_value=new, at=at)
        for field, old, new in [
            ("now_price", 2000, 2300),
            ("now_total", 2191, None),
            ("now_seller_id", "A2NEW", ""),
            ("now_seller_name", "BookBarn", ""),
            ("now_condition", 3, None),
            ("now_is_fba", True, None),
        ]
    ]

    [item] = history_items(events)

    assert [str(s) for s in item["sentences"]] == [
        "Now price rose $20.00 → <strong>$23.00</strong>",
        "Cheapest offer gone (was $21.91)",
    ]


def test_the_first_offers_look_up_names_the_seller_without_calling_it_another():
    from deals.deal_page import history_items

    at = timezone.now()
    events = [
        DealEvent(asin="X", kind="changed", field=field, old_value=old, new_value=new, at=at)
        for field, old, new in [
            ("now_total", None, 2454),
            ("now_seller_id", None, "AMZVQ5SC1FNBU"),
            ("now_seller_name", None, "Blue Heron Media"),
        ]
    ]

    [item] = history_items(events)

    assert [str(s) for s in item["sentences"]] == [
        "Cheapest offer $24.54 (seller: Blue Heron Media)"
    ]


def test_a_price_that_never_moved_is_a_sentence_not_a_flat_chart(client):
    make_deal("0312850123", now_price=2317)

    html = client.get("/deal/0312850123").content.decode()
    seen = html[
        html.index("seen by this app") : html.index(
            'class="deal-grid"', html.index("seen by this app")
        )
    ]

    assert "<svg" not in seen
    assert "No change seen yet: $23.17 since it entered the deals." in seen
